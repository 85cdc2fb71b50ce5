//! A connection's client events, handled strictly in arrival order.
//!
//! Most events are answered at once. A few must finish before the next
//! one may start (a visitor's `join` waits for the store to say the e-mail
//! is nobody's; a product write waits for the store), so that a `message`
//! sent right behind a `join` finds the session joined instead of being
//! refused for a race inside the server. Events arriving meanwhile wait
//! here, bounded: a client cannot make the server hold more than
//! `MAX_WAITING` events or `MAX_WAITING_BYTES` of them.

use std::collections::VecDeque;

/// Events held behind an unfinished one, at most.
pub const MAX_WAITING: usize = 64;
/// Bytes of events held behind an unfinished one, at most.
pub const MAX_WAITING_BYTES: usize = 256 * 1024;

/// The queue of one connection (or one Socket.IO session, all namespaces).
#[derive(Debug)]
pub struct InOrder<E> {
    /// An event is running that later ones must wait for.
    held: bool,
    waiting: VecDeque<(E, usize)>,
    waiting_bytes: usize,
}

/// The queue is full: the event is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many events waiting behind an unfinished one (at most {MAX_WAITING}, {} KiB); this one was dropped",
            MAX_WAITING_BYTES / 1024
        )
    }
}

impl<E> Default for InOrder<E> {
    fn default() -> Self {
        InOrder {
            held: false,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
        }
    }
}

impl<E> InOrder<E> {
    /// An event of `size` bytes arrived: `Ok(Some(event))` when it may run
    /// now, `Ok(None)` when it waits behind an unfinished one.
    pub fn arrive(&mut self, event: E, size: usize) -> Result<Option<E>, Overflow> {
        if !self.held {
            return Ok(Some(event));
        }
        if self.waiting.len() >= MAX_WAITING || self.waiting_bytes + size > MAX_WAITING_BYTES {
            return Err(Overflow);
        }
        self.waiting_bytes += size;
        self.waiting.push_back((event, size));
        Ok(None)
    }

    /// The event just started must finish before the next one runs.
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// The event that held the queue finished.
    pub fn finish(&mut self) {
        self.held = false;
    }

    /// The next waiting event, unless one still holds the queue. Run it,
    /// and ask again until this says none.
    pub fn next_ready(&mut self) -> Option<E> {
        if self.held {
            return None;
        }
        let (event, size) = self.waiting.pop_front()?;
        self.waiting_bytes -= size;
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_wait_behind_a_held_one_and_come_out_in_order() {
        let mut queue = InOrder::default();
        assert_eq!(queue.arrive("join", 4), Ok(Some("join")));
        queue.hold();
        assert_eq!(queue.arrive("message", 7), Ok(None));
        assert_eq!(queue.arrive("leave", 5), Ok(None));
        assert_eq!(queue.next_ready(), None, "held");
        queue.finish();
        assert_eq!(queue.next_ready(), Some("message"));
        queue.hold();
        assert_eq!(queue.next_ready(), None, "held by the message");
        queue.finish();
        assert_eq!(queue.next_ready(), Some("leave"));
        assert_eq!(queue.next_ready(), None);
        // Not held any more: the next event runs at once.
        assert_eq!(queue.arrive("again", 5), Ok(Some("again")));
    }

    #[test]
    fn the_queue_is_bounded_by_count_and_bytes() {
        let mut queue = InOrder::default();
        queue.hold();
        for _ in 0..MAX_WAITING {
            assert_eq!(queue.arrive((), 1), Ok(None));
        }
        assert_eq!(queue.arrive((), 1), Err(Overflow));
        let mut queue = InOrder::default();
        queue.hold();
        assert_eq!(queue.arrive((), MAX_WAITING_BYTES), Ok(None));
        assert_eq!(queue.arrive((), 1), Err(Overflow));
    }
}
