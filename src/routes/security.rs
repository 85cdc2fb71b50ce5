//! Cross-site protections applied to every request, in one place:
//! - `refuse_foreign_origins`: a WebSocket upgrade, a login or registration,
//!   or a write that carries the session cookie, sent from a page of another
//!   origin (neither this server nor `server.allowed_origins`), gets 403.
//!   Requests without `Origin` (Postman, curl, servers) are not affected.
//! - `security_headers`: HTML gets a Content-Security-Policy (scripts and
//!   styles from this origin only, no framing); every response gets
//!   `nosniff` and `Referrer-Policy: same-origin`.
//! - `client_address`: the client's IP, believing `X-Forwarded-For` only from
//!   `server.trusted_proxies`.

use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};

use super::ApiError;
use crate::configuration::ServerSettings;
use crate::state::AppState;

/// The name of the session cookie (see `startup`).
pub const SESSION_COOKIE: &str = "ecommerce_session";

/// Where browsers report Content-Security-Policy violations.
pub const CSP_REPORT_PATH: &str = "/csp-report";

/// What pages may load: everything from this origin, images from anywhere
/// (product thumbnails may be external URLs), nothing inline, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: http: https:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'; report-uri /csp-report";

/// Swagger UI (`/api/docs/`, a third-party bundle) injects `<style>`
/// elements at run time; its pages alone allow inline styles. Scripts stay
/// 'self' everywhere.
const API_DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: http: https:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'; report-uri /csp-report";

/// Paths that change who is logged in: refused from foreign pages even
/// without a cookie (login CSRF).
const ACCOUNT_PATHS: &[&str] = &[
    "/login",
    "/register",
    "/logout",
    "/api/sessions/login",
    "/api/users",
];

pub async fn refuse_foreign_origins(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if needs_origin_check(&request) {
        if let Some(origin) = foreign_origin(request.request()) {
            return Err(ApiError::Forbidden(format!(
                "cross-site request refused: pages from {origin} may not do this \
                 (allow it in server.allowed_origins)"
            ))
            .into());
        }
    }
    next.call(request).await
}

/// WebSocket upgrades, Socket.IO (whose long-polling GETs open sessions
/// with the cookie's identity), account changes, and writes authenticated
/// by cookie.
fn needs_origin_check(request: &ServiceRequest) -> bool {
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade || request.path() == SOCKET_IO_PATH {
        return true;
    }
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    writes && (ACCOUNT_PATHS.contains(&request.path()) || request.cookie(SESSION_COOKIE).is_some())
}

/// The Engine.IO endpoint (its trailing slash removed by `normalize`).
const SOCKET_IO_PATH: &str = "/socket.io";

/// The request's `Origin` if it is present and not allowed.
fn foreign_origin(request: &HttpRequest) -> Option<String> {
    let origin = request.headers().get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("(not text)").trim_end_matches('/');
    let server = request
        .app_data::<web::Data<AppState>>()
        .map(|state| &state.settings.server);
    let allowed = same_host(request, origin) || server.is_some_and(|server| listed(server, origin));
    (!allowed).then(|| origin.to_owned())
}

/// The request's `Origin` when it is another site listed in
/// `server.allowed_origins` (for the CORS headers such a site needs).
pub fn listed_foreign_origin(request: &HttpRequest) -> Option<String> {
    let origin = request
        .headers()
        .get(header::ORIGIN)?
        .to_str()
        .ok()?
        .trim_end_matches('/');
    let server = &request.app_data::<web::Data<AppState>>()?.settings.server;
    (!same_host(request, origin) && listed(server, origin)).then(|| origin.to_owned())
}

/// Whether `origin` names the host the request was sent to (the `Host`
/// header, which a browser sets from the URL it opened).
fn same_host(request: &HttpRequest, origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

fn listed(server: &ServerSettings, origin: &str) -> bool {
    let base = server.base_url.trim_end_matches('/');
    (!base.is_empty() && base.eq_ignore_ascii_case(origin))
        || server
            .allowed_origins
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

pub async fn security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api_docs = request.path().starts_with("/api/docs/");
    let mut response = next.call(request).await?;
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if html {
        let policy = if api_docs {
            API_DOCS_POLICY
        } else {
            CONTENT_SECURITY_POLICY
        };
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    Ok(response)
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy,
/// the nearest address in `X-Forwarded-For` that is not itself a trusted
/// proxy.
pub fn client_address(request: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|hop| !trusted_proxies.contains(hop))
            .unwrap_or(peer),
    )
}
