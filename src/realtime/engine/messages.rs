//! What the Engine.IO layer asks of the session actor it carries (the HTTP
//! endpoint and the WebSocket transport send these), and what the session
//! asks of its WebSocket transport. A session actor that takes them all is
//! an `EngineHost`; the engine layer knows nothing else about it.

use actix::prelude::*;
use actix_web_actors::ws::CloseCode;
use bytestring::ByteString;

/// A long-polling GET: answers with the packets queued (waiting for one if
/// none is).
#[derive(Message)]
#[rtype(result = "Result<String, EngineError>")]
pub struct Poll;

/// Packets a client sent (a POST body, or one WebSocket text frame).
#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct ClientPackets(pub String);

/// A WebSocket probed this session (`2probe`): the pending poll is answered
/// with a noop so the client can finish upgrading.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Probed;

/// The WebSocket takes over (`5` after a probe).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseWebSocket(pub Recipient<SocketWrite>);

/// The WebSocket transport ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TransportClosed;

/// What the WebSocket transport writes.
#[derive(Message)]
#[rtype(result = "()")]
pub enum SocketWrite {
    Packet(ByteString),
    /// Several packets as one item of the queue (a replay).
    Packets(Vec<ByteString>),
    /// Close the WebSocket: 1001 when the server goes away, 1008 for a
    /// client that fell behind, 1000 otherwise.
    Close(CloseCode),
}

/// Engine.IO errors answered to HTTP requests.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("a poll is already waiting for this session")]
    OverlappingPoll,
    #[error("{0}")]
    BadPacket(String),
}

/// A session actor the Engine.IO layer can carry.
pub trait EngineHost:
    Actor<Context = Context<Self>>
    + Handler<Poll>
    + Handler<ClientPackets>
    + Handler<Probed>
    + Handler<UseWebSocket>
    + Handler<TransportClosed>
{
}
