//! Forgiving page paths, as users type them: a trailing slash is accepted
//! on every path, and page paths match case-insensitively
//! (`/realTimeProducts` is `/realtimeproducts`, the course's own spelling).
//! The path is rewritten before routing; asset and upload names, API
//! paths and ids keep their case.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::middleware::Next;

/// The first path segments of the pages (matched case-insensitively).
const PAGES: &[&str] = &[
    "realtimeproducts",
    "chat",
    "products",
    "carts",
    "login",
    "register",
    "logout",
    "profile",
];

/// Paths whose trailing slash is part of them (Swagger UI's relative links).
const KEEP_SLASH: &[&str] = &["/api/docs/"];

pub async fn normalize_path(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(path) = normalized(request.path()) {
        let uri = request.uri();
        let rewritten = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        if let Ok(path_and_query) = rewritten.parse::<PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                request.head_mut().uri = uri.clone();
                request.match_info_mut().get_mut().update(&uri);
            }
        }
    }
    next.call(request).await
}

/// The path to route by, when it differs from `path`.
fn normalized(path: &str) -> Option<String> {
    let trimmed = if path.len() > 1 && path.ends_with('/') && !KEEP_SLASH.contains(&path) {
        &path[..path.trim_end_matches('/').len().max(1)]
    } else {
        path
    };
    let first = trimmed
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let miscased_page = first.bytes().any(|b| b.is_ascii_uppercase())
        && PAGES.iter().any(|page| page.eq_ignore_ascii_case(first));
    match (miscased_page, trimmed.len() != path.len()) {
        (false, false) => None, // the usual case: nothing rewritten, nothing allocated
        (false, true) => Some(trimmed.to_owned()),
        (true, _) => Some(trimmed.replacen(first, &first.to_ascii_lowercase(), 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn pages_are_case_insensitive_and_slashes_optional() {
        assert_eq!(
            normalized("/realTimeProducts").as_deref(),
            Some("/realtimeproducts")
        );
        assert_eq!(
            normalized("/realtimeproducts/").as_deref(),
            Some("/realtimeproducts")
        );
        assert_eq!(normalized("/Products/65F0A/").as_deref(), Some("/products/65F0A"));
        assert_eq!(normalized("/api/products/").as_deref(), Some("/api/products"));
        assert_eq!(normalized("/chat"), None);
        assert_eq!(normalized("/"), None);
        assert_eq!(normalized("/api/docs/"), None);
        assert_eq!(normalized("/uploads/AbC.png"), None);
        assert_eq!(normalized("/assets/js/Chat.js"), None);
    }
}
