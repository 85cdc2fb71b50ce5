//! `GET /health`: whether the server, its store and (with several
//! instances) Redis answer.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{success, Success};
use super::error::ErrorResponse;
use crate::state::AppState;
use crate::store::{ask_store, Ping};

/// The store in use and whether it answers; whether Redis does.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "embedded")]
    store: &'static str,
    reachable: bool,
    /// `null` without `REDIS_URL`; `"connected"`, or `"unreachable"` while
    /// the instance serves its own sessions alone (it reconnects by itself).
    #[schema(example = "connected")]
    redis: Option<&'static str>,
    /// While Redis is unreachable: why (e.g. a refused password).
    #[serde(rename = "redisProblem", skip_serializing_if = "Option::is_none")]
    redis_problem: Option<String>,
}

/// Whether the server and its store answer (503 with the same details when
/// the store does not). Redis being unreachable is reported but still 200:
/// the instance keeps serving its own sessions.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Success<Health>), (status = 503, body = ErrorResponse)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store_name;
    let redis = state
        .cluster
        .as_ref()
        .map(|link| if link.linked() { "connected" } else { "unreachable" });
    let redis_problem = state.cluster.as_ref().and_then(|link| link.problem());
    match ask_store(&state.store, Ping {}).await {
        Ok(()) => HttpResponse::Ok().json(success(Health {
            store,
            reachable: true,
            redis,
            redis_problem,
        })),
        Err(error) => {
            log::warn!("health check: store unreachable: {error}");
            let details = Health {
                store,
                reachable: false,
                redis,
                redis_problem,
            };
            HttpResponse::ServiceUnavailable()
                .json(ErrorResponse::new("the database is unavailable", &details))
        }
    }
}
