//! Realtime: the feed and room actors that own WebSocket sessions, the
//! session actors, the wire protocol they share, and the Redis bus that
//! joins several instances into one world.

pub mod bus;
pub mod chat_room;
pub mod chat_session;
pub mod limits;
pub mod outbound;
pub mod product_feed;
pub mod product_session;
pub mod protocol;
pub mod session;
pub mod socketio;

pub use chat_room::ChatRoom;
pub use chat_session::ChatSession;
pub use product_feed::ProductFeed;
pub use product_session::ProductSession;
