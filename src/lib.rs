//! A realtime e-commerce server on actix: REST catalog, realtime product
//! page and chat over WebSocket, MongoDB or an embedded store.

pub mod auth;
pub mod configuration;
pub mod domain;
pub mod realtime;
pub mod routes;
pub mod startup;
pub mod store;
