//! Engine.IO v4, the transport layer under Socket.IO, as socket.io-client
//! 4.x speaks it: packets and long-polling payloads (`packet`), a
//! session's transport state: long-polling, the WebSocket, the upgrade from
//! one to the other, heartbeats (`transport`), the WebSocket transport actor
//! (`websocket`), the sessions by id (`registry`), and what it asks of the
//! session actor it carries (`messages`). It knows nothing of Socket.IO
//! packets, namespaces or rooms.

pub mod messages;
pub mod packet;
pub mod registry;
pub mod transport;
pub mod websocket;

pub use messages::{
    ClientPackets, EngineError, EngineHost, Poll, Probed, SocketWrite, TransportClosed, UseWebSocket,
};
pub use registry::EngineSessions;
pub use transport::Engine;
pub use websocket::EngineSocket;
