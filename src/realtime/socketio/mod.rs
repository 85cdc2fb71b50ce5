//! Socket.IO v5 over the Engine.IO layer (`crate::realtime::engine`):
//! packets and acknowledgements (`packet`), the namespaces a client joins
//! and the room endpoints behind them (`namespaces`), CONNECT packets and
//! connection state recovery (`connect`, `recovery`), the session actor
//! that carries one client (`session`), on a polling transport that may
//! upgrade (`polling`) or on a WebSocket from the start (`direct`). A Socket.IO connection is one more kind of session in
//! the same `ProductFeed` and `ChatRoom`; namespaces `/products` and `/chat`
//! drive the plain sockets' endpoints, `/` gets the course's
//! `update_products`.

pub mod connect;
pub mod direct;
pub mod namespaces;
pub mod packet;
pub mod polling;
pub mod recovery;
pub mod session;

pub use direct::WebSocketSession;
pub use namespaces::{Rooms, SocketIoIdentity};
pub use polling::PollingSession;
pub use recovery::Recoveries;
pub use session::{SocketIoDeps, SocketIoSession, SocketIoSessions, Wire};
