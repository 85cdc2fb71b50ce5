//! `ChatRoom`: owns the joined `/ws/chat` sessions; persists every message
//! through the store before broadcasting it; tells everyone who comes and
//! goes, coalesced.
//!
//! - Presence is per user, not per tab: a user joins with their first
//!   session and leaves with their last (however it ends).
//! - Join/leave notices are collected for `presence_window_ms` and sent as
//!   one shared `presence:diff` frame per session per window, so a storm of
//!   N joins costs O(N) frames per window instead of one per join.
//! - Saves run concurrently but messages are broadcast in the order they
//!   were posted (a reorder buffer keyed by a sequence number).
//! - The recent public history is kept in memory (loaded once from the
//!   store, then appended to), so a joiner's `history` costs no query and
//!   is one frame shared by every joiner until the next message.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;

use super::outbound::{offer, Outbound};
use super::protocol::Frame;
use super::session::SessionId;
use crate::configuration::ChatSettings;
use crate::domain::{ChatMessage, Email, NewMessage};
use crate::store::{MongoStore, RecentMessages, SaveMessage, StoreError};

pub struct ChatRoom {
    store: Addr<MongoStore>,
    settings: ChatSettings,
    members: HashMap<SessionId, Member>,
    /// Each online user's sessions (tabs).
    tabs: HashMap<Email, Vec<SessionId>>,
    presence: Presence,
    history: History,
    /// Posted messages waiting for their save, to be released in order.
    next_sequence: u64,
    next_to_release: u64,
    saved: BTreeMap<u64, Option<ChatMessage>>,
}

struct Member {
    user: Email,
    session: Recipient<Outbound>,
}

/// What the room last announced, and who changed since.
#[derive(Default)]
struct Presence {
    announced: HashSet<Email>,
    changed: HashSet<Email>,
    flush_scheduled: bool,
    /// The `presence` frame for joiners, valid until membership changes.
    snapshot: Option<Frame>,
}

/// The newest public messages, oldest first.
#[derive(Default)]
struct History {
    messages: VecDeque<ChatMessage>,
    loaded: bool,
    frame: Option<Frame>,
}

/// A session joins the room as `user`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub id: SessionId,
    pub user: Email,
    pub session: Recipient<Outbound>,
}

/// A session leaves the room (a `leave` event, a close, a timeout).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub id: SessionId,
}

/// Persists a message, then broadcasts it. Answers once it is stored.
#[derive(Message)]
#[rtype(result = "Result<ChatMessage, StoreError>")]
pub struct PostMessage {
    pub message: NewMessage,
}

#[derive(Serialize)]
struct PresenceSnapshot<'a> {
    users: Vec<&'a Email>,
    online: usize,
}

#[derive(Serialize)]
struct PresenceDiff<'a> {
    joined: &'a [&'a Email],
    left: &'a [&'a Email],
    online: usize,
}

impl ChatRoom {
    pub fn new(store: Addr<MongoStore>, settings: ChatSettings) -> Self {
        ChatRoom {
            store,
            settings,
            members: HashMap::new(),
            tabs: HashMap::new(),
            presence: Presence::default(),
            history: History::default(),
            next_sequence: 0,
            next_to_release: 0,
            saved: BTreeMap::new(),
        }
    }

    /// Loads the recent history, holding every other message to the room
    /// until it is in (so no joiner sees a history missing a message).
    fn load_history(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let read = self.store.send(RecentMessages {
            limit: self.settings.history_size,
            before: None,
        });
        ctx.wait(read.into_actor(self).map(|result, room, ctx| {
            match result {
                Ok(Ok(newest_first)) => {
                    room.history.messages = newest_first.into_iter().rev().collect();
                    room.history.loaded = true;
                    room.history.frame = None;
                }
                Ok(Err(error)) => log::warn!("chat history not loaded (will retry on next join): {error}"),
                Err(error) => log::warn!("chat history not loaded: {error}"),
            }
            then(room, ctx);
        }));
    }

    /// Adds a session, then sends it `history` and `presence`.
    fn admit(&mut self, join: Join, ctx: &mut Context<Self>) {
        let Join { id, user, session } = join;
        let sessions = self.tabs.entry(user.clone()).or_default();
        sessions.push(id);
        if sessions.len() == 1 {
            self.presence.snapshot = None;
            self.presence.changed.insert(user.clone());
        }
        self.members.insert(
            id,
            Member {
                user,
                session: session.clone(),
            },
        );
        let welcome = [self.history_frame(), self.presence_frame()];
        if !welcome.iter().all(|frame| offer(&session, frame)) {
            self.remove(id);
        }
        self.schedule_presence_flush(ctx);
    }

    fn remove(&mut self, id: SessionId) {
        let Some(member) = self.members.remove(&id) else {
            return;
        };
        if let Some(sessions) = self.tabs.get_mut(&member.user) {
            sessions.retain(|session| *session != id);
            if sessions.is_empty() {
                self.tabs.remove(&member.user);
                self.presence.snapshot = None;
                self.presence.changed.insert(member.user);
            }
        }
    }

    fn history_frame(&mut self) -> Frame {
        self.history
            .frame
            .get_or_insert_with(|| Frame::event("history", &self.history.messages))
            .clone()
    }

    /// The `presence` frame a joiner gets: everyone online, itself included.
    fn presence_frame(&mut self) -> Frame {
        let max = self.settings.presence_list_max;
        let tabs = &self.tabs;
        self.presence
            .snapshot
            .get_or_insert_with(|| {
                let mut users: Vec<&Email> = tabs.keys().take(max).collect();
                users.sort();
                Frame::event(
                    "presence",
                    &PresenceSnapshot {
                        users,
                        online: tabs.len(),
                    },
                )
            })
            .clone()
    }

    fn schedule_presence_flush(&mut self, ctx: &mut Context<Self>) {
        if self.presence.changed.is_empty() || self.presence.flush_scheduled {
            return;
        }
        self.presence.flush_scheduled = true;
        let window = Duration::from_millis(self.settings.presence_window_ms);
        ctx.run_later(window, |room, _| room.flush_presence());
    }

    /// Sends one `presence:diff` for everything that changed in the window.
    fn flush_presence(&mut self) {
        self.presence.flush_scheduled = false;
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for user in std::mem::take(&mut self.presence.changed) {
            let online = self.tabs.contains_key(&user);
            if online && self.presence.announced.insert(user.clone()) {
                joined.push(user);
            } else if !online && self.presence.announced.remove(&user) {
                left.push(user);
            }
        }
        if joined.is_empty() && left.is_empty() {
            return; // e.g. a reload: left and came back within the window
        }
        joined.sort();
        left.sort();
        let max = self.settings.presence_list_max;
        let joined: Vec<&Email> = joined.iter().take(max).collect();
        let left: Vec<&Email> = left.iter().take(max).collect();
        let frame = Frame::event(
            "presence:diff",
            &PresenceDiff {
                joined: &joined,
                left: &left,
                online: self.tabs.len(),
            },
        );
        let everyone: Vec<SessionId> = self.members.keys().copied().collect();
        self.send_to(&everyone, &frame);
    }

    /// Hands `frame` to each session; drops those that cannot keep up.
    fn send_to(&mut self, sessions: &[SessionId], frame: &Frame) {
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

    /// Broadcasts a stored message: public ones to everyone (and into the
    /// history), direct ones to the sender's and recipient's sessions only.
    fn publish(&mut self, message: ChatMessage) {
        let frame = Frame::event("message", &message);
        let recipients: Vec<SessionId> = match &message.to {
            None => self.members.keys().copied().collect(),
            Some(to) => [&message.user, to]
                .into_iter()
                .collect::<HashSet<_>>()
                .into_iter()
                .filter_map(|user| self.tabs.get(user))
                .flatten()
                .copied()
                .collect(),
        };
        if message.to.is_none() {
            self.history.messages.push_back(message);
            while self.history.messages.len() > self.settings.history_size as usize {
                self.history.messages.pop_front();
            }
            self.history.frame = None;
        }
        self.send_to(&recipients, &frame);
    }

    /// Releases saved messages in the order they were posted.
    fn release_in_order(&mut self) {
        while let Some(outcome) = self.saved.remove(&self.next_to_release) {
            self.next_to_release += 1;
            if let Some(message) = outcome {
                self.publish(message);
            }
        }
    }
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.load_history(ctx, |_, _| {});
    }
}

impl Handler<Join> for ChatRoom {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Context<Self>) {
        if self.history.loaded {
            self.admit(join, ctx);
        } else {
            self.load_history(ctx, move |room, ctx| room.admit(join, ctx));
        }
    }
}

impl Handler<Leave> for ChatRoom {
    type Result = ();

    fn handle(&mut self, leave: Leave, ctx: &mut Context<Self>) {
        self.remove(leave.id);
        self.schedule_presence_flush(ctx);
    }
}

impl Handler<PostMessage> for ChatRoom {
    type Result = ResponseActFuture<Self, Result<ChatMessage, StoreError>>;

    fn handle(&mut self, post: PostMessage, _: &mut Context<Self>) -> Self::Result {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let save = self.store.send(SaveMessage {
            message: post.message,
        });
        Box::pin(save.into_actor(self).map(move |result, room, _| {
            let result = result.unwrap_or_else(|_| Err(StoreError::Unavailable("store stopped".to_owned())));
            room.saved.insert(sequence, result.as_ref().ok().cloned());
            room.release_in_order();
            result
        }))
    }
}
