//! `GET /health`: whether the server and its store answer.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{success, Success};
use super::error::ErrorResponse;
use crate::state::AppState;
use crate::store::{ask_store, Ping};

/// The store in use and whether it answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "embedded")]
    store: &'static str,
    reachable: bool,
}

/// Whether the server and its store answer (503 with the same details when
/// the store does not).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Success<Health>), (status = 503, body = ErrorResponse)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store_name;
    match ask_store(&state.store, Ping {}).await {
        Ok(()) => HttpResponse::Ok().json(success(Health {
            store,
            reachable: true,
        })),
        Err(error) => {
            log::warn!("health check: store unreachable: {error}");
            let details = Health {
                store,
                reachable: false,
            };
            HttpResponse::ServiceUnavailable()
                .json(ErrorResponse::new("the database is unavailable", &details))
        }
    }
}
