//! `GET /health`: whether the server and its store answer.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::routes::ask_store;
use crate::startup::AppState;
use crate::store::Ping;

/// Whether the server and its store answer.
#[utoipa::path(get, path = "/health", responses((status = 200, body = crate::routes::openapi::Health), (status = 503, body = crate::routes::openapi::ErrorResponse)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store_name;
    match ask_store(&state.store, Ping {}).await {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"status": "success", "payload": {"store": store, "reachable": true}})),
        Err(error) => {
            log::warn!("health check: store unreachable: {error}");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "error",
                "error": "the database is unavailable",
                "details": {"store": store, "reachable": false},
            }))
        }
    }
}
