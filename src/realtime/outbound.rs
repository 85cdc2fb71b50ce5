//! The hand-off from a feed or room to a session actor: bounded, never
//! blocking the sender. A session's mailbox holds at most
//! `websocket.outbound_queue` frames; a client that lets it fill up is closed
//! (1008) rather than allowed to grow the server's memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use super::protocol::Frame;

/// Identifies one connected session within a feed or room.
pub type SessionId = u64;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

pub fn next_session_id() -> SessionId {
    NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a feed or room hands a session actor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum Outbound {
    /// Write this frame to the client.
    Frame(Frame),
    /// Write these frames, in order, in one go (a welcome, a replay of
    /// missed events, or broadcasts that coincided: one place in the queue
    /// and one write however many they are). Shared: a broadcast hands
    /// every session the same list.
    Frames(Arc<[Frame]>),
    /// The client did not keep up with its queue: close the connection.
    CloseTooSlow,
}

/// Offers a frame to a session. A session whose queue is full is told to
/// close; false means it is gone (full or closed) and must be forgotten.
pub fn offer(session: &Recipient<Outbound>, frame: &Frame) -> bool {
    match session.try_send(Outbound::Frame(frame.clone())) {
        Ok(()) => true,
        Err(SendError::Full(_)) => {
            session.do_send(Outbound::CloseTooSlow);
            false
        }
        Err(SendError::Closed(_)) => false,
    }
}

/// Offers several frames to a session as one item of its queue.
pub fn offer_all(session: &Recipient<Outbound>, frames: Vec<Frame>) -> bool {
    offer_shared(session, &frames.into())
}

/// Offers the same frames to a session as one item of its queue (a share
/// of one list, however many sessions get it).
pub fn offer_shared(session: &Recipient<Outbound>, frames: &Arc<[Frame]>) -> bool {
    match session.try_send(Outbound::Frames(frames.clone())) {
        Ok(()) => true,
        Err(SendError::Full(_)) => {
            session.do_send(Outbound::CloseTooSlow);
            false
        }
        Err(SendError::Closed(_)) => false,
    }
}
