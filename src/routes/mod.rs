//! HTTP: the JSON API, the Handlebars pages, WebSocket upgrades, health and
//! the OpenAPI description. The only layer that knows HTTP: errors from the
//! layers below become responses here (`error`).

pub mod api;
pub mod error;
pub mod extractors;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod security;
pub mod views;
pub mod ws;

pub use error::ApiError;
