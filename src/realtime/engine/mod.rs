//! Engine.IO v4, the transport layer under Socket.IO, as socket.io-client
//! 4.x speaks it: packets and long-polling payloads (`packet`), a
//! polling session's transport state: long-polling, the upgrade to a
//! WebSocket (`transport`), heartbeats (`heartbeat`), WebSocket frames and
//! the upgraded WebSocket's actor (`websocket`), the sessions by id (`registry`), and what it asks of the
//! session actor it carries (`messages`). It knows nothing of Socket.IO
//! packets, namespaces or rooms.

pub mod heartbeat;
pub mod messages;
pub mod packet;
pub mod registry;
pub mod transport;
pub mod websocket;

pub use heartbeat::Heartbeat;
pub use messages::{
    ClientPackets, EngineError, EngineHost, Poll, Probed, SocketWrite, TransportClosed, UseWebSocket,
};
pub use registry::EngineSessions;
pub use transport::Engine;
pub use websocket::{read_text, EngineSocket};
