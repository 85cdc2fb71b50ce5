//! Realtime: the feed and room actors that own WebSocket sessions, the
//! session actors, and the wire protocol they share.

pub mod product_feed;
pub mod product_session;
pub mod protocol;
pub mod session;

pub use product_feed::ProductFeed;
pub use product_session::ProductSession;
