//! `/api/users` (register; list and delete for admins) and `/api/sessions`
//! (login, logout, who am I) for API clients such as Postman.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::success;
use crate::auth;
use crate::domain::{parse_id, NewUser, Role};
use crate::routes::{ask_store, ApiError};
use crate::startup::AppState;
use crate::store::{DeleteUser, ListUsers};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").get(list).post(register))
        .service(web::resource("/users/{uid}").delete(delete))
        .service(web::resource("/sessions/login").post(login))
        .service(web::resource("/sessions/logout").post(logout))
        .service(web::resource("/sessions/current").get(current));
}

async fn list(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&session, &state.store).await?;
    let users = ask_store(&state.store, ListUsers {}).await?;
    Ok(HttpResponse::Ok().json(success(users)))
}

async fn register(state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let new_user = NewUser::parse(&body)?;
    let user = auth::register(&state.store, &state.accounts, new_user, Role::User).await?;
    Ok(HttpResponse::Created().json(success(user)))
}

async fn delete(
    state: web::Data<AppState>,
    session: Session,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&session, &state.store).await?;
    let id = parse_id("uid", &uid)?;
    ask_store(&state.store, DeleteUser { id }).await?;
    Ok(HttpResponse::Ok().json(success(serde_json::json!({ "_id": id.to_hex() }))))
}

#[derive(Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    credentials: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let address = request.peer_addr().map(|peer| peer.ip());
    let user = auth::authenticate(
        &state.store,
        &state.login_limiter,
        &credentials.email,
        &credentials.password,
        address,
    )
    .await?;
    auth::log_in(&session, &user)?;
    Ok(HttpResponse::Ok().json(success(user)))
}

async fn logout(session: Session) -> HttpResponse {
    auth::log_out(&session);
    HttpResponse::Ok().json(success(Value::Null))
}

async fn current(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, ApiError> {
    let user = auth::require_user(&session, &state.store).await?;
    Ok(HttpResponse::Ok().json(success(user)))
}
