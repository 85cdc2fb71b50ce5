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
//! - Identity: a member is `verified` when its session is logged in as its
//!   e-mail. A direct message to an account reaches only verified sessions
//!   of that account; a reader (an anonymous visitor when anonymous chat is
//!   off) gets public messages and presence but is not listed and gets no
//!   direct messages.
//! - The recent public history is kept in memory (loaded once from the
//!   store, then appended to), so a joiner's `history` costs no query and
//!   is one frame shared by every joiner until the next message.
//! - The room never waits on the store: the history loads in the background
//!   (one load at a time); while the store is down joiners are admitted with
//!   an `error` saying history is unavailable, and get it once it loads.
//! - With several instances (a `Bus`), a stored message is published to the
//!   bus and delivered here when it comes back (`ChatDelivery`), so every
//!   instance broadcasts messages in one order; presence counts the users
//!   online on other instances too (`RemotePresence`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use prometheus::IntCounter;
use serde::{Deserialize, Serialize};

use super::bus::{Bus, LocalPresence, PublishChat};
use super::outbound::{offer, Outbound};
use super::protocol::Frame;
use super::session::SessionId;
use crate::configuration::ChatSettings;
use crate::domain::{ChatMessage, Email, Id, NewMessage};
use crate::store::{ask_store, FindUserByEmail, MongoStore, RecentMessages, SaveMessage, StoreError};

pub struct ChatRoom {
    store: Addr<MongoStore>,
    /// Set when instances share one world through Redis.
    bus: Option<Addr<Bus>>,
    settings: ChatSettings,
    /// Counts message and presence broadcasts.
    messages_sent: IntCounter,
    presence_sent: IntCounter,
    members: HashMap<SessionId, Member>,
    /// Each online user's sessions (tabs) on this instance.
    tabs: HashMap<Email, Vec<SessionId>>,
    /// Users online on other instances: how many instances list each.
    remote: HashMap<Email, u32>,
    /// How many of those are not online here (so the count of everyone
    /// online costs nothing to read).
    remote_only: usize,
    presence: Presence,
    history: History,
    /// Posted messages waiting for their save, to be released in order.
    next_sequence: u64,
    next_to_release: u64,
    saved: BTreeMap<u64, Option<ChatDelivery>>,
}

struct Member {
    /// None for a reader.
    user: Option<Email>,
    /// Logged in as `user`.
    verified: bool,
    session: Recipient<Outbound>,
}

/// A stored message and who may receive it: broadcast by the room (sent by
/// the bus when instances share one world).
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct ChatDelivery {
    message: ChatMessage,
    /// Whether the sender was logged in (their copy goes to their
    /// logged-in sessions only).
    sender_verified: bool,
    /// Whether the recipient of a direct message is an account (it goes to
    /// sessions logged in as it only).
    recipient_is_account: bool,
}

/// Users came online or went offline on another instance (each entry: one
/// instance more or fewer lists the user).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemotePresence {
    pub joined: Vec<Email>,
    pub left: Vec<Email>,
}

/// Reads the history again (another instance's messages may have been
/// missed while Redis was away).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadHistory;

/// What the room last announced, and who changed since.
#[derive(Default)]
struct Presence {
    announced: HashSet<Email>,
    changed: HashSet<Email>,
    /// Users whose sessions on this instance came or went since the last
    /// flush (for the bus).
    changed_here: HashSet<Email>,
    flush_scheduled: bool,
    /// The `presence` frame for joiners, valid until membership changes.
    snapshot: Option<Frame>,
}

/// The newest public messages, oldest first, and where loading them stands.
#[derive(Default)]
struct History {
    messages: VecDeque<ChatMessage>,
    loaded: bool,
    frame: Option<Frame>,
    /// A load is in flight (at most one).
    loading: bool,
    /// The last load failed: joiners are admitted without waiting.
    failed: bool,
    last_attempt: Option<Instant>,
    /// Joins waiting for the first load.
    awaiting: Vec<Join>,
    /// Members admitted without history, to be sent it once loaded.
    missing: HashSet<SessionId>,
}

/// The room's mailbox is not capped. Sessions post with `send`, and once a
/// capped mailbox is full actix parks the sender and retries its later
/// sends in whatever order their futures are polled, which reorders one
/// session's messages. What flows in is bounded by the sessions' own rate
/// limits and queues instead.
const MAILBOX: usize = 1 << 40;

/// The Socket.IO namespace of the room's events.
pub const NAMESPACE: &str = "/chat";

fn room_event<T: Serialize>(event: &str, data: &T) -> Frame {
    Frame::event(event, data).in_namespace(NAMESPACE)
}

fn room_error(message: &str) -> Frame {
    Frame::error(message, None).in_namespace(NAMESPACE)
}

/// How often a failed history load is retried (on joins).
const HISTORY_RETRY: Duration = Duration::from_secs(1);

/// A session joins the room as `user` (`None`: as a reader).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub id: SessionId,
    pub user: Option<Email>,
    /// The session is logged in as `user`.
    pub verified: bool,
    pub session: Recipient<Outbound>,
}

/// A session leaves the room (a `leave` event, a close, a timeout).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub id: SessionId,
}

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
    pub fn new(
        store: Addr<MongoStore>,
        bus: Option<Addr<Bus>>,
        settings: ChatSettings,
        messages_sent: IntCounter,
        presence_sent: IntCounter,
    ) -> Self {
        ChatRoom {
            store,
            bus,
            settings,
            messages_sent,
            presence_sent,
            members: HashMap::new(),
            tabs: HashMap::new(),
            remote: HashMap::new(),
            remote_only: 0,
            presence: Presence::default(),
            history: History::default(),
            next_sequence: 0,
            next_to_release: 0,
            saved: BTreeMap::new(),
        }
    }

    /// Starts loading the recent history unless a load is in flight. The
    /// room never waits for it: joins, leaves, messages and presence keep
    /// moving; joiners get their `history` when it arrives.
    fn load_history(&mut self, ctx: &mut Context<Self>) {
        if self.history.loading {
            return;
        }
        self.history.loading = true;
        self.history.last_attempt = Some(Instant::now());
        let store = self.store.clone();
        let limit = self.settings.history_size;
        async move { ask_store(&store, RecentMessages { limit, before: None }).await }
            .into_actor(self)
            .map(|result, room, ctx| {
                room.history.loading = false;
                match result {
                    Ok(newest_first) => room.history_loaded(newest_first, ctx),
                    Err(error) => {
                        log::warn!("chat history not loaded (retried on a later join): {error}");
                        room.history.failed = true;
                        for join in std::mem::take(&mut room.history.awaiting) {
                            room.admit(join, ctx);
                        }
                    }
                }
            })
            .spawn(ctx);
    }

    /// The history is in: merge what was published meanwhile, then send it
    /// to everyone who has been waiting for it.
    fn history_loaded(&mut self, newest_first: Vec<ChatMessage>, ctx: &mut Context<Self>) {
        let published_meanwhile = std::mem::take(&mut self.history.messages);
        let mut messages: VecDeque<ChatMessage> = newest_first.into_iter().rev().collect();
        for message in published_meanwhile {
            if !messages.iter().any(|known| known.id == message.id) {
                messages.push_back(message);
            }
        }
        while messages.len() > self.settings.history_size as usize {
            messages.pop_front();
        }
        self.history.messages = messages;
        self.history.loaded = true;
        self.history.failed = false;
        self.history.frame = None;
        let frame = self.history_frame();
        // Members admitted while the store was down get it now.
        let missing: Vec<SessionId> = self.history.missing.drain().collect();
        self.send_to(&missing, &frame);
        let awaiting = std::mem::take(&mut self.history.awaiting);
        for join in awaiting {
            self.admit(join, ctx);
        }
    }

    /// Adds a session, then sends it `history` (or, while the store cannot
    /// give it, an `error` saying so; the history follows when it can) and
    /// `presence`.
    fn admit(&mut self, join: Join, ctx: &mut Context<Self>) {
        let Join {
            id,
            user,
            verified,
            session,
        } = join;
        if let Some(user) = &user {
            let sessions = self.tabs.entry(user.clone()).or_default();
            sessions.push(id);
            if sessions.len() == 1 {
                if self.remote.contains_key(user) {
                    self.remote_only = self.remote_only.saturating_sub(1);
                }
                self.presence.snapshot = None;
                self.presence.changed.insert(user.clone());
                self.presence.changed_here.insert(user.clone());
            }
        }
        self.members.insert(
            id,
            Member {
                user,
                verified,
                session: session.clone(),
            },
        );
        let first = if self.history.loaded {
            self.history_frame()
        } else {
            self.history.missing.insert(id);
            room_error(
                "the chat history is unavailable right now (the database cannot be reached); \
                 it will be sent as soon as it can be read",
            )
        };
        let welcome = [first, self.presence_frame()];
        if !welcome.iter().all(|frame| offer(&session, frame)) {
            self.remove(id);
        }
        self.schedule_presence_flush(ctx);
    }

    fn remove(&mut self, id: SessionId) {
        self.history.missing.remove(&id);
        self.history.awaiting.retain(|join| join.id != id);
        let Some(Member { user: Some(user), .. }) = self.members.remove(&id) else {
            return;
        };
        if let Some(sessions) = self.tabs.get_mut(&user) {
            sessions.retain(|session| *session != id);
            if sessions.is_empty() {
                self.tabs.remove(&user);
                if self.remote.contains_key(&user) {
                    self.remote_only += 1;
                }
                self.presence.snapshot = None;
                self.presence.changed_here.insert(user.clone());
                self.presence.changed.insert(user);
            }
        }
    }

    fn history_frame(&mut self) -> Frame {
        self.history
            .frame
            .get_or_insert_with(|| room_event("history", &self.history.messages))
            .clone()
    }

    /// Whether `user` is online here or on another instance.
    fn is_online(&self, user: &Email) -> bool {
        self.tabs.contains_key(user) || self.remote.contains_key(user)
    }

    /// Everyone online, here or on another instance, each once.
    fn online_users(&self) -> impl Iterator<Item = &Email> {
        let tabs = &self.tabs;
        tabs.keys()
            .chain(self.remote.keys().filter(move |user| !tabs.contains_key(*user)))
    }

    /// How many users are online, here or on another instance.
    fn online_count(&self) -> usize {
        self.tabs.len() + self.remote_only
    }

    /// The `presence` frame a joiner gets: everyone online, itself included
    /// (at most `presence_list_max` names; the count is exact).
    fn presence_frame(&mut self) -> Frame {
        if let Some(frame) = &self.presence.snapshot {
            return frame.clone();
        }
        let max = self.settings.presence_list_max;
        let mut users: Vec<&Email> = self.online_users().take(max).collect();
        users.sort();
        let online = self.online_count();
        let frame = room_event("presence", &PresenceSnapshot { users, online });
        self.presence.snapshot = Some(frame.clone());
        frame
    }

    fn schedule_presence_flush(&mut self, ctx: &mut Context<Self>) {
        if self.presence.changed.is_empty() || self.presence.flush_scheduled {
            return;
        }
        self.presence.flush_scheduled = true;
        let window = Duration::from_millis(self.settings.presence_window_ms);
        ctx.run_later(window, |room, _| room.flush_presence());
    }

    /// Sends one `presence:diff` for everything that changed in the window
    /// (and tells the other instances what changed here).
    fn flush_presence(&mut self) {
        self.presence.flush_scheduled = false;
        let changed_here = std::mem::take(&mut self.presence.changed_here);
        if let Some(bus) = &self.bus {
            if !changed_here.is_empty() {
                let changes = changed_here
                    .into_iter()
                    .map(|user| {
                        let online = self.tabs.contains_key(&user);
                        (user, online)
                    })
                    .collect();
                bus.do_send(LocalPresence(changes));
            }
        }
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for user in std::mem::take(&mut self.presence.changed) {
            let online = self.is_online(&user);
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
        let frame = room_event(
            "presence:diff",
            &PresenceDiff {
                joined: &joined,
                left: &left,
                online: self.online_count(),
            },
        );
        let everyone: Vec<SessionId> = self.members.keys().copied().collect();
        self.presence_sent.inc();
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

    /// The sessions of `user`; only those logged in as it when
    /// `verified_only`.
    fn tabs_of(&self, user: &Email, verified_only: bool) -> Vec<SessionId> {
        let tabs = self.tabs.get(user).map(Vec::as_slice).unwrap_or_default();
        tabs.iter()
            .copied()
            .filter(|id| !verified_only || self.members.get(id).is_some_and(|member| member.verified))
            .collect()
    }

    /// Broadcasts a stored message: public ones to everyone (and into the
    /// history), direct ones to the sender's and recipient's sessions only
    /// (logged-in ones, for accounts).
    fn publish(&mut self, saved: ChatDelivery) {
        let ChatDelivery {
            message,
            sender_verified,
            recipient_is_account,
        } = saved;
        let frame = room_event("message", &message);
        self.messages_sent.inc();
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
            if let Some(saved) = outcome {
                match &self.bus {
                    Some(bus) => bus.do_send(PublishChat(saved)),
                    None => self.publish(saved),
                }
            }
        }
    }
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.load_history(ctx);
    }
}

impl Handler<Join> for ChatRoom {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Context<Self>) {
        if self.history.loaded {
            self.admit(join, ctx);
        } else if self.history.failed {
            // The store is down: admit now, and try again now and then.
            self.admit(join, ctx);
            let due = self
                .history
                .last_attempt
                .is_none_or(|at| at.elapsed() >= HISTORY_RETRY);
            if due {
                self.load_history(ctx);
            }
        } else {
            self.history.awaiting.push(join);
            self.load_history(ctx);
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
    type Result = ResponseActFuture<Self, Result<ChatMessage, PostError>>;

    fn handle(&mut self, post: PostMessage, _: &mut Context<Self>) -> Self::Result {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let PostMessage { message, verified } = post;
        // The id is taken now, in posting order, whatever order the checks
        // and saves below finish in.
        let message = message.into_message(Id::new(), crate::domain::now());
        let store = self.store.clone();
        let work = async move {
            // An anonymous sender's e-mail must still be nobody's account
            // (one may have been registered since it joined).
            if !verified
                && ask_store(
                    &store,
                    FindUserByEmail {
                        email: message.user.clone(),
                    },
                )
                .await?
                .is_some()
            {
                return Err(PostError::AccountEmail(message.user));
            }
            // Who may receive a direct message depends on whether its
            // recipient is an account; unknown (store down) counts as one.
            let recipient_is_account = match &message.to {
                None => false,
                Some(to) => ask_store(&store, FindUserByEmail { email: to.clone() })
                    .await
                    .map_or(true, |found| found.is_some()),
            };
            let saved = ask_store(&store, SaveMessage { message }).await?;
            Ok((saved, recipient_is_account))
        };
        Box::pin(work.into_actor(self).map(move |result, room, _| {
            let saved = result
                .as_ref()
                .ok()
                .map(|(message, recipient_is_account)| ChatDelivery {
                    message: message.clone(),
                    sender_verified: verified,
                    recipient_is_account: *recipient_is_account,
                });
            room.saved.insert(sequence, saved);
            room.release_in_order();
            result.map(|(message, _)| message)
        }))
    }
}

impl Handler<ChatDelivery> for ChatRoom {
    type Result = ();

    fn handle(&mut self, delivery: ChatDelivery, _: &mut Context<Self>) {
        self.publish(delivery);
    }
}

impl Handler<RemotePresence> for ChatRoom {
    type Result = ();

    fn handle(&mut self, change: RemotePresence, ctx: &mut Context<Self>) {
        for user in change.joined {
            let instances = self.remote.entry(user.clone()).or_default();
            *instances += 1;
            if *instances == 1 && !self.tabs.contains_key(&user) {
                self.remote_only += 1;
            }
            self.presence.changed.insert(user);
        }
        for user in change.left {
            if let Some(instances) = self.remote.get_mut(&user) {
                *instances -= 1;
                if *instances == 0 {
                    self.remote.remove(&user);
                    if !self.tabs.contains_key(&user) {
                        self.remote_only = self.remote_only.saturating_sub(1);
                    }
                }
            }
            self.presence.changed.insert(user);
        }
        self.presence.snapshot = None;
        self.schedule_presence_flush(ctx);
    }
}

impl Handler<ReloadHistory> for ChatRoom {
    type Result = ();

    fn handle(&mut self, _: ReloadHistory, ctx: &mut Context<Self>) {
        self.load_history(ctx);
    }
}
