//! `Heartbeat`: Engine.IO's liveness check, whatever the transport. The
//! server sends a ping every interval, one at a time; a client that leaves
//! one unanswered for the ping timeout is gone.

use std::time::{Duration, Instant};

use super::packet::PING;

#[derive(Default)]
pub struct Heartbeat {
    /// A ping is out and unanswered since then.
    ping_sent: Option<Instant>,
}

impl Heartbeat {
    /// Starts a heartbeat: the ping to send, unless the last one is still
    /// unanswered (its timer decides).
    pub fn ping(&mut self) -> Option<&'static str> {
        if self.ping_sent.is_some() {
            return None;
        }
        self.ping_sent = Some(Instant::now());
        Some(PING)
    }

    /// The client answered the ping.
    pub fn ponged(&mut self) {
        self.ping_sent = None;
    }

    /// Whether the ping out has gone unanswered for `timeout`.
    pub fn expired(&self, timeout: Duration) -> bool {
        self.ping_sent.is_some_and(|sent| sent.elapsed() >= timeout)
    }
}
