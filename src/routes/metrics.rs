//! `GET /metrics` (Prometheus text) and `POST /csp-report`, where browsers
//! report Content-Security-Policy violations.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Counts and logs a violation report (its body is logged, truncated).
pub async fn csp_report(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    state.metrics.csp_violations.inc();
    let report = String::from_utf8_lossy(&body[..body.len().min(2048)]);
    log::warn!("Content-Security-Policy violation: {report}");
    HttpResponse::NoContent().finish()
}
