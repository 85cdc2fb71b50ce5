//! Socket.IO v5 over the Engine.IO layer (`crate::realtime::engine`):
//! packets (`packet`), the session actor that carries one client
//! (`session`), and its namespaces, events and acknowledgements
//! (`namespaces`). A Socket.IO connection is one more kind of session in
//! the same `ProductFeed` and `ChatRoom`; namespaces `/products` and `/chat`
//! drive the plain sockets' endpoints, `/` gets the course's
//! `update_products`.

pub mod namespaces;
pub mod packet;
pub mod session;

pub use session::{SocketIoDeps, SocketIoIdentity, SocketIoSession, SocketIoSessions};
