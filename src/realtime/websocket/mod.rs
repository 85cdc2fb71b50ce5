//! The plain WebSocket transport (`/ws/chat`, `/ws/products`): one session
//! actor per connection (`session`), on the shared connection mechanics
//! (`connection`).

pub mod connection;
pub mod session;

pub use session::{ChatSession, ProductSession, WsSession};
