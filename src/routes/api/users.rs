//! `/api/users` (register; list and delete for admins) and `/api/sessions`
//! (login, logout, who am I) for API clients such as Postman.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{success, Deleted, Success};
use crate::auth;
use crate::domain::{parse_id, NewUser, Role, User};
use crate::routes::error::ErrorResponse;
use crate::routes::extractors::{Admin, SignedIn};
use crate::routes::security::client_address;
use crate::routes::ApiError;
use crate::state::AppState;
use crate::store::{ask_store, DeleteUser, ListUsers};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").get(list).post(register))
        .service(web::resource("/users/{uid}").delete(delete))
        .service(web::resource("/sessions/login").post(login))
        .service(web::resource("/sessions/logout").post(logout))
        .service(web::resource("/sessions/current").get(current));
}

/// Every user (admin).
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = Success<Vec<User>>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn list(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let users = ask_store(&state.store, ListUsers {}).await?;
    Ok(HttpResponse::Ok().json(success(users)))
}

/// Registers a user (role `user`) with a cart of their own.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = Success<User>), (status = 400, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 429, body = ErrorResponse, description = "Too many registrations from this address"), (status = 503, body = ErrorResponse, description = "Password hashing at capacity")))]
async fn register(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let address = client_address(&request, &state.settings.server.trusted_proxies);
    state.login_limiter.check_registration(address).await?;
    let new_user = NewUser::parse(&body)?;
    let user = auth::register(&state.store, &state.accounts, new_user, Role::User).await?;
    Ok(HttpResponse::Created().json(success(user)))
}

/// Deletes a user (admin).
#[utoipa::path(delete, path = "/api/users/{uid}", tag = "users", params(("uid" = String, Path)),
    responses((status = 200, body = Success<Deleted>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete(
    state: web::Data<AppState>,
    _admin: Admin,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("uid", &uid)?;
    ask_store(&state.store, DeleteUser { id }).await?;
    Ok(HttpResponse::Ok().json(success(Deleted { id: id.to_hex() })))
}

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Checks the credentials and sets the `ecommerce_session` cookie.
#[utoipa::path(post, path = "/api/sessions/login", tag = "users", request_body = Credentials,
    responses((status = 200, body = Success<User>), (status = 401, body = ErrorResponse), (status = 429, body = ErrorResponse)))]
async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    credentials: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let address = client_address(&request, &state.settings.server.trusted_proxies);
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

/// Ends the session; the cookie stops working.
#[utoipa::path(post, path = "/api/sessions/logout", tag = "users", responses((status = 200)))]
async fn logout(session: Session) -> HttpResponse {
    auth::log_out(&session);
    HttpResponse::Ok().json(success(Value::Null))
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/sessions/current", tag = "users",
    responses((status = 200, body = Success<User>), (status = 401, body = ErrorResponse)))]
async fn current(SignedIn(user): SignedIn) -> HttpResponse {
    HttpResponse::Ok().json(success(user))
}
