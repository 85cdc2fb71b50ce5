//! Socket.IO: Engine.IO v4 + Socket.IO v5 as socket.io-client 4.x speaks
//! them, over long-polling and WebSocket (with the upgrade from one to the
//! other). A Socket.IO connection is one more kind of session actor in the
//! same `ProductFeed` and `ChatRoom`; namespaces `/products` and `/chat`
//! carry the plain sockets' events, `/` the course's `update_products`.

pub mod packet;
pub mod session;
pub mod websocket;

pub use session::{
    ClientPackets, EngineError, Poll, SocketIoDeps, SocketIoIdentity, SocketIoSession, SocketIoSessions,
};
pub use websocket::EngineSocket;
