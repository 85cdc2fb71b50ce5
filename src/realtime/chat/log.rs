//! The chat stream's log: the newest messages with their offsets, and who
//! may see each, so a joiner that resumes from an offset gets exactly the
//! messages it missed that would have reached it live (a direct message
//! only its sender's and recipient's sessions), then `recovered`.

use super::{room_event, NAMESPACE};
use crate::configuration::DeliverySettings;
use crate::domain::{ChatMessage, Email};
use crate::realtime::events::{ChatDelivery, Stamped};
use crate::realtime::protocol::Frame;
use crate::realtime::stream::{Offset, Recovered, StreamLog};

pub struct ChatLog {
    log: StreamLog<LoggedMessage>,
    settings: DeliverySettings,
}

/// A broadcast message as kept for replay: its frame, and who may see it.
struct LoggedMessage {
    frame: Frame,
    sender: Email,
    to: Option<Email>,
    sender_verified: bool,
    recipient_is_account: bool,
}

impl LoggedMessage {
    fn new(frame: &Frame, message: &ChatMessage, sender_verified: bool, recipient_is_account: bool) -> Self {
        LoggedMessage {
            frame: frame.clone(),
            sender: message.user.clone(),
            to: message.to.clone(),
            sender_verified,
            recipient_is_account,
        }
    }

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

/// The `message` event of a broadcast message at `offset`.
pub fn message_frame(message: &ChatMessage, offset: &Offset) -> Frame {
    Frame::event_at("message", message, offset).in_namespace(NAMESPACE)
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
        ChatLog {
            log: StreamLog::configured(head, settings),
            settings: settings.clone(),
        }
    }

    pub fn head(&self) -> &Offset {
        self.log.head()
    }

    /// The stream is read (again) from `head` on: the log is what Redis
    /// kept before it (`kept`, oldest first; `complete`: since the stream
    /// began), whatever this instance saw before.
    pub fn restart(&mut self, head: Offset, kept: &[Stamped<ChatDelivery>], complete: bool) {
        let kept = kept
            .iter()
            .map(|Stamped { offset, event }| {
                let frame = message_frame(&event.message, offset);
                let logged = LoggedMessage::new(
                    &frame,
                    &event.message,
                    event.sender_verified,
                    event.recipient_is_account,
                );
                (offset.clone(), logged)
            })
            .collect();
        self.log = StreamLog::configured_from_kept(head, kept, complete, &self.settings);
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
        let logged = LoggedMessage::new(frame, message, sender_verified, recipient_is_account);
        self.log.push(offset, logged);
    }

    /// Whether every message after `since` is kept.
    pub fn can_resume(&mut self, since: &str) -> bool {
        self.log.since(since).is_ok()
    }

    /// The messages after `since` that a member joining as `user` may see,
    /// then `recovered` (or only `recovered: false` if they are not kept);
    /// and whether they were.
    pub fn replay(&mut self, since: &str, user: Option<&Email>, verified: bool) -> (Vec<Frame>, bool) {
        match self.log.since(since) {
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
