//! Realtime: the rooms that own WebSocket sessions, the transports that
//! carry them, and the bus that joins several instances into one world.
//!
//! ```text
//!  transports (one actor per connection)       rooms (one actor each)           cluster
//!  websocket::WsSession ──┐ events, in order
//!                         ├──────────────────▶ chat::ChatRoom ────PublishChat──▶ bus::Bus ◀─▶ Redis
//!  socketio::SocketIoSession (on engine::)     products::ProductFeed ◀─deliver──┘
//!                         ◀── Outbound: one shared Frame per broadcast ──┘
//! ```
//!
//! Layers, each importing only those below it:
//! - transports: `websocket` (plain `/ws/*` sessions) and `socketio`
//!   (Socket.IO packets, namespaces, acks) on `engine` (Engine.IO: sids,
//!   polling and WebSocket transports, upgrade, heartbeats);
//! - `bus`: routing events between instances, and cluster presence, over
//!   the Redis link of `crate::cluster`;
//! - rooms: `chat` and `products`, each an actor owning its sessions plus
//!   the per-connection rules every transport drives (`endpoint::Endpoint`);
//! - `events`: the messages between the rooms and the bus (neither names
//!   the other), and `reading`: a room's side of topic routing (its
//!   stream read only while sessions are on it);
//! - the shared vocabulary: `protocol` (frames), `stream` (offsets and the
//!   events kept for clients that resume), `outbound` (the bounded
//!   hand-off to a session), `reply` (answers), `ordered` (events in
//!   arrival order), `session` (rate limits, context), `limits` (session
//!   slots).

pub mod bus;
pub mod chat;
pub mod endpoint;
pub mod engine;
pub mod events;
pub mod limits;
pub mod ordered;
pub mod outbound;
pub mod products;
pub mod protocol;
pub mod reading;
pub mod reply;
pub mod session;
pub mod socketio;
pub mod stream;
pub mod websocket;

pub use chat::ChatRoom;
pub use products::ProductFeed;
pub use websocket::{ChatSession, ProductSession};
