//! The chat stream's log: the newest messages with their offsets, and who
//! may see each, so a joiner that resumes from an offset gets exactly the
//! messages it missed that would have reached it live (a direct message
//! only its sender's and recipient's sessions), then `recovered`.

use super::room_event;
use crate::configuration::DeliverySettings;
use crate::domain::{ChatMessage, Email};
use crate::realtime::protocol::Frame;
use crate::realtime::stream::{Offset, Recovered, StreamLog};

pub struct ChatLog(StreamLog<LoggedMessage>);

/// A broadcast message as kept for replay: its frame, and who may see it.
struct LoggedMessage {
    frame: Frame,
    sender: Email,
    to: Option<Email>,
    sender_verified: bool,
    recipient_is_account: bool,
}

impl LoggedMessage {
    /// Whether a member would have received it live: public messages
    /// everyone; a direct one its sender's and recipient's sessions (only
    /// the logged-in ones, for accounts); readers no direct message.
    fn visible_to(&self, user: Option<&Email>, verified: bool) -> bool {
        let Some(to) = &self.to else { return true };
        let Some(user) = user else { return false };
        (*user == self.sender && (verified || !self.sender_verified))
            || (user == to && (verified || !self.recipient_is_account))
    }
}

/// The `recovered` event of the chat stream.
fn recovered(recovered: bool, count: usize, reason: Option<&'static str>) -> Frame {
    room_event(
        "recovered",
        &Recovered {
            stream: "chat",
            recovered,
            count,
            reason,
        },
    )
}

impl ChatLog {
    pub fn new(head: Offset, settings: &DeliverySettings) -> ChatLog {
        ChatLog(StreamLog::configured(head, settings))
    }

    pub fn head(&self) -> &Offset {
        self.0.head()
    }

    /// The stream's offsets now come from elsewhere (Redis).
    pub fn restart_at(&mut self, head: Offset) {
        self.0.restart_at(head);
    }

    /// Keeps a broadcast message (its shared frame) for replay.
    pub fn record(
        &mut self,
        offset: Offset,
        frame: &Frame,
        message: &ChatMessage,
        sender_verified: bool,
        recipient_is_account: bool,
    ) {
        self.0.push(
            offset,
            LoggedMessage {
                frame: frame.clone(),
                sender: message.user.clone(),
                to: message.to.clone(),
                sender_verified,
                recipient_is_account,
            },
        );
    }

    /// Whether every message after `since` is kept.
    pub fn can_resume(&mut self, since: &str) -> bool {
        self.0.since(since).is_ok()
    }

    /// The messages after `since` that a member joining as `user` may see,
    /// then `recovered` (or only `recovered: false` if they are not kept);
    /// and whether they were.
    pub fn replay(&mut self, since: &str, user: Option<&Email>, verified: bool) -> (Vec<Frame>, bool) {
        match self.0.since(since) {
            Ok(missed) => {
                let mut frames: Vec<Frame> = missed
                    .filter(|(_, message)| message.visible_to(user, verified))
                    .map(|(_, message)| message.frame.clone())
                    .collect();
                let count = frames.len();
                frames.push(recovered(true, count, None));
                (frames, true)
            }
            Err(why) => (vec![recovered(false, 0, Some(why.reason()))], false),
        }
    }
}
