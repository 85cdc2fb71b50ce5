//! `GET /metrics` (Prometheus text), the middleware that counts HTTP
//! requests, and `POST /csp-report`, where browsers report
//! Content-Security-Policy violations.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let linked = state.cluster.as_ref().is_some_and(|link| link.linked());
    state.metrics.redis_connected.set(i64::from(linked));
    let followed = state.cluster.as_ref().map_or(0, |link| link.followed_carts());
    state
        .metrics
        .followed_cart_streams
        .set(i64::try_from(followed).unwrap_or(i64::MAX));
    let (chat, products) = state
        .cluster
        .as_ref()
        .map_or((false, false), |link| link.followed_rooms());
    for (stream, followed) in [("chat", chat), ("products", products)] {
        state
            .metrics
            .followed_streams
            .with_label_values(&[stream])
            .set(i64::from(followed));
    }
    state.socketio.forget_expired();
    let pending = state.session_limits.pending_handshakes();
    state
        .metrics
        .pending_handshakes
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
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

/// Counts every request by method, route pattern (never the raw path, so
/// ids do not explode the label set) and status, and times it.
pub async fn record_http(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let response = next.call(request).await?;
    let request = response.request();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let method = request.method().as_str();
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status();
        let seconds = started.elapsed().as_secs_f64();
        state
            .metrics
            .record_request(method, &route, status.as_str(), seconds);
    }
    Ok(response)
}
