//! A realtime e-commerce server on actix: REST catalog, carts, realtime
//! product page and chat over WebSocket, MongoDB or an embedded store.
//!
//! Layers point one way: `routes` (HTTP) -> `auth`, `realtime` -> `store`
//! -> `domain`. `startup` wires them together around `state::AppState`;
//! `cluster` is the Redis link that several instances share.

pub mod auth;
pub mod cluster;
pub mod configuration;
pub mod domain;
pub mod metrics;
pub mod realtime;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod templates;
