//! The hand-off from a feed or room to a session: bounded, never blocking
//! the sender. Each session has an `Outbox` the rooms push frames into; the
//! session drains it whenever it is woken. At most
//! `websocket.outbound_queue` items wait in it; a client that lets it fill
//! up is closed (1008) rather than allowed to grow the server's memory.
//!
//! Why not the actor's mailbox: a mailbox hand-off allocates an envelope
//! and a queue node per message, made by the room's thread and freed by the
//! session's, and wakes the session once per frame. An outbox is a queue
//! behind a lock only its room and its session take: a frame costs no
//! allocation, and a session woken once takes everything that arrived
//! meanwhile (and writes it in one go).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use futures_util::Stream;

use super::protocol::Frame;

/// Identifies one connected session within a feed or room.
pub type SessionId = u64;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

pub fn next_session_id() -> SessionId {
    NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a feed or room hands a session.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Write this frame to the client.
    Frame(Frame),
    /// Write these frames, in order, in one go (a welcome, or a replay of
    /// missed events: one place in the queue however many they are).
    Frames(Vec<Frame>),
}

/// A session's queue, as the rooms hold it: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Outbox(Arc<Queue>);

/// The session's end of its outbox.
pub struct OutboxReader(Arc<Queue>);

struct Queue {
    state: Mutex<State>,
    /// The session, to wake when the queue stops being empty.
    reader: AtomicWaker,
    capacity: usize,
}

#[derive(Default)]
struct State {
    items: VecDeque<Outbound>,
    /// The session ended: nothing more is taken.
    closed: bool,
    /// A push found the queue full: the session must close.
    too_slow: bool,
}

/// What a session finds in its outbox.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Everything queued was taken (possibly nothing).
    Taken,
    /// The client did not keep up with its queue: close the connection.
    TooSlow,
}

impl Outbox {
    /// A new outbox holding at most `capacity` items, and its reader.
    pub fn new(capacity: usize) -> (Outbox, OutboxReader) {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            reader: AtomicWaker::new(),
            capacity: capacity.max(1),
        });
        (Outbox(queue.clone()), OutboxReader(queue))
    }

    /// Queues an item; false when the session is gone (closed, or it just
    /// fell behind and is being closed) and must be forgotten.
    fn push(&self, item: Outbound) -> bool {
        let mut state = self.0.lock();
        if state.closed || state.too_slow {
            return false;
        }
        if state.items.len() >= self.0.capacity {
            state.too_slow = true;
            state.items.clear();
            drop(state);
            self.0.reader.wake();
            return false;
        }
        let was_empty = state.items.is_empty();
        state.items.push_back(item);
        drop(state);
        // A session already woken takes this one with the others.
        if was_empty {
            self.0.reader.wake();
        }
        true
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl OutboxReader {
    /// Moves everything queued into `into` (in order, after what it holds),
    /// or says the client fell behind.
    pub fn drain(&self, into: &mut VecDeque<Outbound>) -> Drained {
        let mut state = self.0.lock();
        if state.too_slow {
            return Drained::TooSlow;
        }
        if into.is_empty() {
            // Swap buffers: no copy, and both keep their capacity.
            std::mem::swap(into, &mut state.items);
        } else {
            into.extend(state.items.drain(..));
        }
        Drained::Taken
    }

    /// The session ended: what is queued is dropped, later pushes refused.
    pub fn close(&self) {
        let mut state = self.0.lock();
        state.closed = true;
        state.items = VecDeque::new();
    }

    /// A stream that yields each time the outbox has something for the
    /// session (added to the session's context).
    pub fn ready(&self) -> OutboxReady {
        OutboxReady(self.0.clone())
    }
}

/// Yields `Ready` when the outbox holds items (or the client fell behind);
/// ends when the outbox is closed.
pub struct OutboxReady(Arc<Queue>);

/// The outbox has something: drain it.
pub struct Ready;

impl Stream for OutboxReady {
    type Item = Ready;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Ready>> {
        self.0.reader.register(cx.waker());
        let state = self.0.lock();
        if state.closed {
            Poll::Ready(None)
        } else if state.too_slow || !state.items.is_empty() {
            Poll::Ready(Some(Ready))
        } else {
            Poll::Pending
        }
    }
}

/// Offers a frame to a session. False means it is gone (closed, or too
/// slow and now closing) and must be forgotten.
pub fn offer(session: &Outbox, frame: &Frame) -> bool {
    session.push(Outbound::Frame(frame.clone()))
}

/// Offers several frames to a session as one item of its queue.
pub fn offer_all(session: &Outbox, frames: Vec<Frame>) -> bool {
    session.push(Outbound::Frames(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u32) -> Frame {
        Frame::event("n", &n)
    }

    #[test]
    fn frames_come_out_in_order_and_a_full_outbox_closes_the_session() {
        let (outbox, reader) = Outbox::new(3);
        assert!(offer(&outbox, &frame(1)));
        assert!(offer_all(&outbox, vec![frame(2), frame(3)]));
        let mut taken = VecDeque::new();
        assert_eq!(reader.drain(&mut taken), Drained::Taken);
        assert_eq!(taken.len(), 2);
        taken.clear();
        for n in 0..3 {
            assert!(offer(&outbox, &frame(n)));
        }
        assert!(!offer(&outbox, &frame(9)), "the fourth does not fit");
        assert!(!offer(&outbox, &frame(10)), "nor anything after");
        assert_eq!(reader.drain(&mut taken), Drained::TooSlow);
        reader.close();
        assert!(!offer(&outbox, &frame(11)));
    }
}
