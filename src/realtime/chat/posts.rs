//! Messages posted to the room: the message that asks for it
//! (`PostMessage`) and its refusals, and the bookkeeping that keeps their
//! broadcasts in posting order and answers each sender after its own copy
//! went out.
//!
//! - Saves run concurrently, but each post takes a sequence number when it
//!   arrives and stored messages are released in that order (a reorder
//!   buffer).
//! - Through the bus a stored message is broadcast here only when it comes
//!   back; its sender's answer waits for that (at most `ECHO_WAIT`), so the
//!   answer follows the sender's own copy, as socket.io handlers do.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::domain::{ChatMessage, Email, Id, NewMessage};
use crate::realtime::events::ChatDelivery;
use crate::store::StoreError;

/// Persists a message, then broadcasts it. Answers once it is stored.
/// `verified`: the sender is logged in as the message's `user`.
#[derive(Message)]
#[rtype(result = "Result<ChatMessage, PostError>")]
pub struct PostMessage {
    pub message: NewMessage,
    pub verified: bool,
}

/// Why a message was not posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// An anonymous sender used an account's e-mail.
    #[error("{0} belongs to an account: log in to post as it")]
    AccountEmail(Email),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PostError {
    /// What the sender may be told (no store detail).
    pub fn client_message(&self) -> String {
        match self {
            PostError::Store(error) => error.client_message(),
            other => other.to_string(),
        }
    }
}

/// How long a sender waits at most for its message to come back through
/// the bus before it is answered anyway (past `redis.local_delivery_after_ms`
/// it is delivered here regardless).
pub const ECHO_WAIT: Duration = Duration::from_secs(15);

/// The posts on their way to their broadcast.
#[derive(Default)]
pub struct Posts {
    next_sequence: u64,
    next_to_release: u64,
    /// Saved (or failed: `None`) posts not released yet, by sequence.
    saved: BTreeMap<u64, Option<ChatDelivery>>,
    /// Senders waiting for their message's broadcast here.
    awaiting_broadcast: HashMap<Id, oneshot::Sender<()>>,
}

impl Posts {
    /// The sequence number of a post that just arrived.
    pub fn take_sequence(&mut self) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        sequence
    }

    /// Post `sequence` was stored (or not).
    pub fn saved(&mut self, sequence: u64, saved: Option<ChatDelivery>) {
        self.saved.insert(sequence, saved);
    }

    /// The next stored message whose turn it is, if it has come.
    pub fn next_released(&mut self) -> Option<ChatDelivery> {
        loop {
            let outcome = self.saved.remove(&self.next_to_release)?;
            self.next_to_release += 1;
            if let Some(saved) = outcome {
                return Some(saved);
            }
        }
    }

    /// Resolves once the message `id` is broadcast here.
    pub fn await_broadcast(&mut self, id: Id) -> oneshot::Receiver<()> {
        if self.awaiting_broadcast.len() >= 1024 {
            // Answers that stopped waiting (timed out, or their session went).
            self.awaiting_broadcast.retain(|_, sender| !sender.is_closed());
        }
        let (sender, receiver) = oneshot::channel();
        self.awaiting_broadcast.insert(id, sender);
        receiver
    }

    /// Answers every sender still waiting (their messages will not come
    /// back here).
    pub fn answer_all(&mut self) {
        for (_, sender) in self.awaiting_broadcast.drain() {
            let _ = sender.send(());
        }
    }

    /// The message `id` was broadcast here.
    pub fn broadcast(&mut self, id: Id) {
        if let Some(sender) = self.awaiting_broadcast.remove(&id) {
            let _ = sender.send(());
        }
    }
}
