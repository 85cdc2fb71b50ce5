//! The newest public chat messages, kept in memory so a joiner's `history`
//! costs no query and is one frame shared by every joiner until the next
//! message; and where loading them from the store stands (the room never
//! waits for it).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::NAMESPACE;
use crate::domain::ChatMessage;
use crate::realtime::outbound::SessionId;
use crate::realtime::protocol::Frame;
use crate::realtime::stream::Offset;

/// How often a failed load is retried (on joins).
const RETRY: Duration = Duration::from_secs(1);

pub struct History {
    /// At most this many messages are kept.
    size: usize,
    /// Oldest first.
    messages: VecDeque<ChatMessage>,
    loaded: bool,
    frame: Option<Frame>,
    /// A load is in flight (at most one).
    loading: bool,
    /// The last load failed: joiners are admitted without waiting.
    failed: bool,
    last_attempt: Option<Instant>,
    /// Members admitted without history, to be sent it once loaded.
    missing: HashSet<SessionId>,
    /// Bumped by `reset`: a load started before answers for nothing.
    generation: u64,
}

impl History {
    pub fn new(size: usize) -> History {
        History {
            size,
            messages: VecDeque::new(),
            loaded: false,
            frame: None,
            loading: false,
            failed: false,
            last_attempt: None,
            missing: HashSet::new(),
            generation: 0,
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// A load may start now (none in flight): its generation.
    pub fn start_loading(&mut self) -> Option<u64> {
        if self.loading {
            return None;
        }
        self.loading = true;
        self.last_attempt = Some(Instant::now());
        Some(self.generation)
    }

    /// A failed load is retried at most once a second.
    pub fn retry_due(&self) -> bool {
        self.last_attempt.is_none_or(|at| at.elapsed() >= RETRY)
    }

    /// Whether a load of `generation` still counts.
    pub fn is_current(&self, generation: u64) -> bool {
        generation == self.generation
    }

    pub fn load_failed(&mut self) {
        self.loading = false;
        self.failed = true;
    }

    /// What was kept may be stale (the chat stream was not read for a
    /// while): nothing is kept until the next load, and a load in flight
    /// no longer counts.
    pub fn reset(&mut self) {
        self.generation += 1;
        self.messages.clear();
        self.loaded = false;
        self.loading = false;
        self.failed = false;
        self.frame = None;
    }

    /// The store's newest messages are in: merged with what was published
    /// meanwhile. Returns the members admitted without history, who are
    /// owed it now.
    pub fn loaded(&mut self, newest_first: Vec<ChatMessage>) -> Vec<SessionId> {
        self.loading = false;
        let published_meanwhile = std::mem::take(&mut self.messages);
        let mut messages: VecDeque<ChatMessage> = newest_first.into_iter().rev().collect();
        for message in published_meanwhile {
            if !messages.iter().any(|known| known.id == message.id) {
                messages.push_back(message);
            }
        }
        while messages.len() > self.size {
            messages.pop_front();
        }
        self.messages = messages;
        self.loaded = true;
        self.failed = false;
        self.frame = None;
        self.missing.drain().collect()
    }

    /// A public message was broadcast: it joins the history.
    pub fn push(&mut self, message: ChatMessage) {
        self.messages.push_back(message);
        while self.messages.len() > self.size {
            self.messages.pop_front();
        }
        self.frame = None;
    }

    /// The `history` frame, made once per change. `head`: the chat
    /// stream's offset now, from which a client that has this history
    /// resumes.
    pub fn frame(&mut self, head: &Offset) -> Frame {
        self.frame
            .get_or_insert_with(|| Frame::event_at("history", &self.messages, head).in_namespace(NAMESPACE))
            .clone()
    }

    /// The stream moved on: the next `history` frame carries the new head.
    pub fn head_moved(&mut self) {
        self.frame = None;
    }

    /// A member was admitted before the history could be read.
    pub fn owe(&mut self, id: SessionId) {
        self.missing.insert(id);
    }

    pub fn forget(&mut self, id: SessionId) {
        self.missing.remove(&id);
    }
}
