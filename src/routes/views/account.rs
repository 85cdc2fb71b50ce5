//! Account pages: `/login`, `/register`, `/logout`, `/profile`. The forms
//! post back to the same paths; errors re-render the form with a message.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::json;

use super::{redirect, respond, signed_in, HtmlPages};
use crate::auth;
use crate::domain::{NewUser, Role};
use crate::routes::extractors::PageViewer;
use crate::routes::security::client_address;
use crate::routes::ApiError;
use crate::state::AppState;

/// Where to go after logging in: only a path on this site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") => path,
        _ => "/products",
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    age: String,
    #[serde(default)]
    password: String,
}

pub async fn login_form(
    state: web::Data<AppState>,
    PageViewer(viewer): PageViewer,
    query: web::Query<NextParam>,
) -> HttpResponse {
    if viewer.is_some() {
        return redirect(safe_next(query.next.as_deref()));
    }
    state
        .views
        .page(None, "login", "Log in", json!({ "next": query.next }))
}

pub async fn login_submit(
    request: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let address = client_address(&request, &state.settings.server.trusted_proxies);
    let attempt = auth::authenticate(
        &state.store,
        &state.login_limiter,
        &form.email,
        &form.password,
        address,
    )
    .await;
    match attempt.and_then(|user| auth::log_in(&session, &user)) {
        Ok(()) => redirect(safe_next(form.next.as_deref())),
        Err(error) => {
            let error = ApiError::from(error);
            let data = json!({ "error": error.client_message(), "email": form.email, "next": form.next });
            state
                .views
                .page_with_status(error.status_code(), None, "login", "Log in", data)
        }
    }
}

pub async fn register_form(state: web::Data<AppState>, PageViewer(viewer): PageViewer) -> HttpResponse {
    state
        .views
        .page(viewer.as_ref(), "register", "Register", json!({}))
}

pub async fn register_submit(
    request: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<RegisterForm>,
) -> HttpResponse {
    let body = json!({
        "first_name": form.first_name,
        "last_name": form.last_name,
        "email": form.email,
        "age": form.age,
        "password": form.password,
    });
    let address = client_address(&request, &state.settings.server.trusted_proxies);
    let registered = async {
        state.login_limiter.check_registration(address).await?;
        let new_user = NewUser::parse(&body)?;
        let user = auth::register(&state.store, &state.accounts, new_user, Role::User).await?;
        auth::log_in(&session, &user)?;
        Ok::<_, ApiError>(())
    };
    match registered.await {
        Ok(()) => redirect("/products"),
        Err(error) => {
            let status = error.status_code();
            let mut data = body;
            data["password"] = json!(null);
            data["error"] = json!(error.client_message());
            state
                .views
                .page_with_status(status, None, "register", "Register", data)
        }
    }
}

/// `GET /logout`: asks to confirm with a button (a link alone must not log
/// anyone out: a cross-site link could).
pub async fn logout_form(state: web::Data<AppState>, PageViewer(viewer): PageViewer) -> HttpResponse {
    if viewer.is_none() {
        return redirect("/login");
    }
    state.views.page(viewer.as_ref(), "logout", "Log out", json!({}))
}

/// `POST /logout`: ends the session.
pub async fn logout(session: Session) -> HttpResponse {
    auth::log_out(&session);
    redirect("/login")
}

/// `/profile`: the logged-in user's details.
pub async fn profile(
    request: HttpRequest,
    state: web::Data<AppState>,
    PageViewer(viewer): PageViewer,
) -> HttpResponse {
    let page = async {
        let user = signed_in(viewer.clone(), &request)?;
        Ok(state
            .views
            .page(Some(&user), "profile", "Profile", json!({ "user": user })))
    };
    respond(&state, viewer.as_ref(), page.await)
}
