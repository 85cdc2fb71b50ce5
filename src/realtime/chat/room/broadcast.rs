//! How a stored message reaches the room's sessions: public ones everyone,
//! direct ones only their sender's and recipient's sessions; in a big room
//! in batches (`chat.broadcast_window_ms`), the public messages of one
//! batch as one shared list per session, written in one go.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::ChatRoom;
use crate::domain::Email;
use crate::realtime::chat::log::message_frame;
use crate::realtime::events::ChatDelivery;
use crate::realtime::outbound::{offer, offer_shared, SessionId};
use crate::realtime::protocol::Frame;
use crate::realtime::stream::Offset;

/// Messages in one broadcast at most: past this many waiting, they go out
/// without waiting for the window's end.
const BROADCAST_MAX: usize = 256;

impl ChatRoom {
    /// Hands `frame` to each session; drops those that cannot keep up.
    pub(super) fn send_to(&mut self, sessions: &[SessionId], frame: &Frame) {
        let too_slow: Vec<SessionId> = sessions
            .iter()
            .filter(|id| {
                self.members
                    .get(id)
                    .is_some_and(|member| !offer(&member.session, frame))
            })
            .copied()
            .collect();
        for id in too_slow {
            self.remove(id);
        }
    }

    /// The sessions of `user`; only those logged in as it when
    /// `verified_only`.
    fn tabs_of(&self, user: &Email, verified_only: bool) -> Vec<SessionId> {
        self.presence
            .tabs_of(user)
            .iter()
            .copied()
            .filter(|id| !verified_only || self.members.get(id).is_some_and(|member| member.verified))
            .collect()
    }

    /// Broadcasts a stored message: public ones to everyone (and into the
    /// history), direct ones to the sender's and recipient's sessions only
    /// (logged-in ones, for accounts).
    pub(super) fn publish(&mut self, saved: ChatDelivery, offset: Offset) {
        let frame = self.record(&saved, offset);
        let ChatDelivery {
            message,
            sender_verified,
            recipient_is_account,
        } = saved;
        let message_id = message.id;
        let recipients: Vec<SessionId> = match &message.to {
            None => self.members.keys().copied().collect(),
            Some(to) => {
                let mut sessions = self.tabs_of(&message.user, sender_verified);
                if *to != message.user {
                    sessions.extend(self.tabs_of(to, recipient_is_account));
                }
                sessions
            }
        };
        self.send_to(&recipients, &frame);
        self.posts.broadcast(message_id);
    }

    /// Keeps a message being broadcast (in the log, and public ones in the
    /// history); its frame.
    fn record(&mut self, saved: &ChatDelivery, offset: Offset) -> Frame {
        let message = &saved.message;
        let frame = message_frame(message, &offset);
        self.log.record(
            offset,
            &frame,
            message,
            saved.sender_verified,
            saved.recipient_is_account,
        );
        self.history.head_moved();
        if message.to.is_none() {
            self.history.push(message.clone());
        }
        self.messages_sent.inc();
        frame
    }

    /// Broadcasts the messages waiting, in order. Public ones in a row
    /// reach each session as one item of its queue, written in one go: one
    /// hand-off and one write per session for all of them. A direct
    /// message goes on its own to its few sessions, between them.
    pub(super) fn broadcast_unsent(&mut self) {
        let mut unsent = std::mem::take(&mut self.unsent).into_iter().peekable();
        while let Some((saved, offset)) = unsent.next() {
            let public_follows = unsent.peek().is_some_and(|(next, _)| next.message.to.is_none());
            if saved.message.to.is_some() || !public_follows {
                self.publish(saved, offset);
                continue;
            }
            let mut run = vec![(saved, offset)];
            while let Some(next) = unsent.next_if(|(next, _)| next.message.to.is_none()) {
                run.push(next);
            }
            self.publish_together(run);
        }
    }

    /// Broadcasts public messages to everyone as one shared list.
    fn publish_together(&mut self, messages: Vec<(ChatDelivery, Offset)>) {
        let frames: Arc<[Frame]> = messages
            .iter()
            .map(|(saved, offset)| self.record(saved, offset.clone()))
            .collect();
        log::debug!("chat: {} messages in one broadcast", frames.len());
        let too_slow: Vec<SessionId> = self
            .members
            .iter()
            .filter(|(_, member)| !offer_shared(&member.session, &frames))
            .map(|(id, _)| *id)
            .collect();
        for id in too_slow {
            self.remove(id);
        }
        for (saved, _) in messages {
            self.posts.broadcast(saved.message.id);
        }
    }

    /// Queues a stored message for the next broadcast: at the end of the
    /// window that its first message opened (at once without a window).
    pub(super) fn queue_broadcast(&mut self, saved: ChatDelivery, offset: Offset, ctx: &mut Context<Self>) {
        self.unsent.push((saved, offset));
        let window = Duration::from_millis(self.settings.broadcast_window_ms);
        let small = self.members.len() < self.settings.broadcast_window_from_sessions;
        if window.is_zero() || small || self.unsent.len() >= BROADCAST_MAX {
            return self.broadcast_unsent();
        }
        if !self.broadcast_due {
            self.broadcast_due = true;
            ctx.run_later(window, |room, _| {
                room.broadcast_due = false;
                room.broadcast_unsent();
            });
        }
    }
}
