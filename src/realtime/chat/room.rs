//! `ChatRoom`: owns the joined chat sessions (plain and Socket.IO alike);
//! persists every message through the store before broadcasting it; tells
//! everyone who comes and goes, coalesced (`presence`).
//!
//! - Saves run concurrently but messages are broadcast in the order they
//!   were posted (`posts`: a reorder buffer keyed by a sequence number).
//!   In a big room, messages stored together go out together: a stored
//!   message waits `chat.broadcast_window_ms` for others, and the public
//!   messages of one broadcast reach each session as one shared list,
//!   written in one go (one hand-off and one write per session, not one
//!   per message).
//! - Identity: a member is `verified` when its session is logged in as its
//!   e-mail. A direct message to an account reaches only verified sessions
//!   of that account; a reader (an anonymous visitor when anonymous chat is
//!   off) gets public messages and presence but is not listed and gets no
//!   direct messages.
//! - The room never waits on the store: the history loads in the background
//!   (`history`); while the store is down joiners are admitted with an
//!   `error` saying history is unavailable, and get it once it loads.
//! - Every message gets an offset in the `chat` stream; the newest are kept
//!   (`StreamLog`), and a joiner that says which offset it saw last
//!   (`since`) gets exactly the messages it missed that it may see (a
//!   direct message only if it would have reached it live), then
//!   `recovered`, instead of `history`.
//! - With several instances, a stored message goes out through the
//!   `ChatOutlet` and comes back as a `ChatDelivery`, so every instance
//!   broadcasts messages in one order; presence counts the users online on
//!   other instances too (`RemotePresence`). The room does not know the bus:
//!   it holds recipients.
//! - Topic routing: with a bus, the room has the `chat` stream read only
//!   while sessions are on it (`reading`). The first joiner waits until the
//!   bus reads it; the room then rebuilds its log from what Redis kept and
//!   reloads the history, since it may have missed messages meanwhile.

mod broadcast;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use prometheus::IntCounter;
use tokio::sync::oneshot;

use super::history::History;
use super::log::ChatLog;
use super::posts::{self, PostError, PostMessage, Posts};
use super::presence::Presence;
use super::room_error;
use crate::configuration::{ChatSettings, DeliverySettings};
use crate::domain::{ChatMessage, Email, Id};
use crate::realtime::events::{
    ChatDelivery, ChatOutlet, LocalPresence, PublishChat, ReloadHistory, RemotePresence, RoomStream, Stamped,
    StreamFollowed,
};
use crate::realtime::outbound::{offer_all, Outbound, SessionId};
use crate::realtime::reading::{ReadsStream, StreamReading};
use crate::realtime::stream::{CanResume, LocalClock, Offset};
use crate::store::{ask_store, FindUserByEmail, MongoStore, RecentMessages, SaveMessage};

pub struct ChatRoom {
    store: Addr<MongoStore>,
    /// Set when instances share one world.
    outlet: Option<ChatOutlet>,
    settings: ChatSettings,
    /// Counts message and presence broadcasts.
    messages_sent: IntCounter,
    presence_sent: IntCounter,
    members: HashMap<SessionId, Member>,
    presence: Presence,
    flush_scheduled: bool,
    history: History,
    /// Offsets when no bus gives them.
    clock: Arc<LocalClock>,
    /// The newest messages with their offsets, for joiners that resume.
    log: ChatLog,
    /// Joins waiting for the first history load.
    awaiting: Vec<Join>,
    /// Posted messages waiting for their save, to be released in order.
    posts: Posts,
    /// Stored messages (or, with a bus, delivered ones) waiting for the
    /// next broadcast, in order.
    unsent: Vec<(ChatDelivery, Offset)>,
    /// A broadcast of `unsent` is scheduled.
    broadcast_due: bool,
    /// Whether the bus reads the chat stream for this instance.
    reading: StreamReading<ChatRoom>,
}

struct Member {
    /// None for a reader.
    user: Option<Email>,
    /// Logged in as `user`.
    verified: bool,
    session: Recipient<Outbound>,
}

/// The room's mailbox is not capped. Sessions post with `send`, and once a
/// capped mailbox is full actix parks the sender and retries its later
/// sends in whatever order their futures are polled, which reorders one
/// session's messages. What flows in is bounded by the sessions' own rate
/// limits and queues instead.
const MAILBOX: usize = 1 << 40;

/// A session joins the room as `user` (`None`: as a reader).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub id: SessionId,
    pub user: Option<Email>,
    /// The session is logged in as `user`.
    pub verified: bool,
    pub session: Recipient<Outbound>,
    /// The offset of the last message the session saw: it resumes from
    /// there (missed messages, then `recovered`) instead of `history`.
    pub since: Option<String>,
    /// Told once the session is admitted (its welcome is in its queue).
    pub admitted: Option<oneshot::Sender<()>>,
}

/// A session leaves the room (a `leave` event, a close, a timeout).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub id: SessionId,
}

impl ChatRoom {
    pub fn new(
        store: Addr<MongoStore>,
        outlet: Option<ChatOutlet>,
        settings: ChatSettings,
        delivery: &DeliverySettings,
        clock: Arc<LocalClock>,
        messages_sent: IntCounter,
        presence_sent: IntCounter,
    ) -> Self {
        let reading = StreamReading::new(
            RoomStream::Chat,
            outlet
                .as_ref()
                .map(|outlet| (outlet.read.clone(), outlet.unfollow_after)),
        );
        ChatRoom {
            store,
            outlet,
            reading,
            log: ChatLog::new(clock.origin(), delivery),
            clock,
            presence: Presence::new(settings.presence_list_max),
            history: History::new(settings.history_size as usize),
            settings,
            messages_sent,
            presence_sent,
            members: HashMap::new(),
            flush_scheduled: false,
            awaiting: Vec::new(),
            posts: Posts::default(),
            unsent: Vec::new(),
            broadcast_due: false,
        }
    }

    /// Starts loading the recent history unless a load is in flight. The
    /// room never waits for it: joins, leaves, messages and presence keep
    /// moving; joiners get their `history` when it arrives.
    fn load_history(&mut self, ctx: &mut Context<Self>) {
        let Some(generation) = self.history.start_loading() else {
            return;
        };
        let store = self.store.clone();
        let limit = self.settings.history_size;
        async move { ask_store(&store, RecentMessages { limit, before: None }).await }
            .into_actor(self)
            .map(move |result, room, ctx| match result {
                // Read before the room reset its history: a newer load serves.
                _ if !room.history.is_current(generation) => {}
                Ok(newest_first) => {
                    let owed = room.history.loaded(newest_first);
                    let frame = room.history.frame(room.log.head());
                    room.send_to(&owed, &frame);
                    for join in std::mem::take(&mut room.awaiting) {
                        room.admit(join, ctx);
                    }
                }
                Err(error) => {
                    log::warn!("chat history not loaded (retried on a later join): {error}");
                    room.history.load_failed();
                    for join in std::mem::take(&mut room.awaiting) {
                        room.admit(join, ctx);
                    }
                }
            })
            .spawn(ctx);
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
            since,
            admitted,
        } = join;
        if let Some(user) = &user {
            self.presence.tab_opened(user, id);
        }
        let (mut welcome, resumed) = match since {
            Some(since) => self.log.replay(&since, user.as_ref(), verified),
            None => (Vec::new(), false),
        };
        self.members.insert(
            id,
            Member {
                user,
                verified,
                session: session.clone(),
            },
        );
        // A fresh joiner, or one whose offset is not kept, gets the history.
        if !resumed {
            let history = if self.history.is_loaded() {
                self.history.frame(self.log.head())
            } else {
                self.history.owe(id);
                room_error(
                    "the chat history is unavailable right now (the database cannot be reached); \
                     it will be sent as soon as it can be read",
                )
            };
            welcome.push(history);
        }
        welcome.push(self.presence.snapshot());
        if !offer_all(&session, welcome) {
            self.remove(id);
        }
        if let Some(admitted) = admitted {
            let _ = admitted.send(());
        }
        self.schedule_presence_flush(ctx);
    }

    fn remove(&mut self, id: SessionId) {
        self.history.forget(id);
        self.awaiting.retain(|join| join.id != id);
        if let Some(Member { user: Some(user), .. }) = self.members.remove(&id) {
            self.presence.tab_closed(&user, id);
        }
    }

    fn schedule_presence_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.presence.has_changes() || self.flush_scheduled {
            return;
        }
        self.flush_scheduled = true;
        let window = Duration::from_millis(self.settings.presence_window_ms);
        ctx.run_later(window, |room, _| room.flush_presence());
    }

    /// Sends one `presence:diff` for everything that changed in the window
    /// (and tells the other instances what changed here).
    fn flush_presence(&mut self) {
        self.flush_scheduled = false;
        let changed_here = self.presence.take_local_changes();
        if let Some(outlet) = &self.outlet {
            if !changed_here.is_empty() {
                outlet.presence.do_send(LocalPresence(changed_here));
            }
        }
        if let Some(frame) = self.presence.take_diff() {
            let everyone: Vec<SessionId> = self.members.keys().copied().collect();
            self.presence_sent.inc();
            self.send_to(&everyone, &frame);
        }
    }

    /// Releases saved messages in the order they were posted.
    fn release_in_order(&mut self, ctx: &mut Context<Self>) {
        while let Some(saved) = self.posts.next_released() {
            match &self.outlet {
                Some(outlet) => {
                    let id = saved.message.id;
                    outlet.messages.do_send(PublishChat(saved));
                    if !self.reading.is_read() {
                        // Not read back here (no session is on the chat):
                        // the sender need not wait for it.
                        self.posts.broadcast(id);
                    }
                }
                None => {
                    let offset = self.clock.tick();
                    self.queue_broadcast(saved, offset, ctx);
                }
            }
        }
    }

    fn join(&mut self, join: Join, ctx: &mut Context<Self>) {
        if self.history.is_loaded() {
            self.admit(join, ctx);
        } else if self.history.has_failed() {
            // The store is down: admit now, and try again now and then.
            self.admit(join, ctx);
            if self.history.retry_due() {
                self.load_history(ctx);
            }
        } else {
            self.awaiting.push(join);
            self.load_history(ctx);
        }
        self.check_idle(ctx);
    }

    fn leave(&mut self, id: SessionId, ctx: &mut Context<Self>) {
        self.remove(id);
        self.schedule_presence_flush(ctx);
        self.check_idle(ctx);
    }
}

impl ReadsStream for ChatRoom {
    fn reading(&mut self) -> &mut StreamReading<Self> {
        &mut self.reading
    }

    fn is_idle(&self) -> bool {
        self.members.is_empty() && self.awaiting.is_empty()
    }

    fn stopped_reading(&mut self) {
        // Nothing comes back here now to answer them.
        self.posts.answer_all();
    }
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        // With a bus, the history loads when the chat stream is first read.
        if self.reading.is_read() {
            self.load_history(ctx);
        }
    }
}

impl Handler<Join> for ChatRoom {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Context<Self>) {
        if !self.reading.is_read() {
            return self.reading.hold(move |room, ctx| room.join(join, ctx));
        }
        self.join(join, ctx);
    }
}

impl Handler<Leave> for ChatRoom {
    type Result = ();

    fn handle(&mut self, Leave { id }: Leave, ctx: &mut Context<Self>) {
        if self.reading.is_starting() {
            // After the join it may follow.
            return self.reading.hold(move |room, ctx| room.leave(id, ctx));
        }
        self.leave(id, ctx);
    }
}

impl Handler<PostMessage> for ChatRoom {
    type Result = ResponseActFuture<Self, Result<ChatMessage, PostError>>;

    fn handle(&mut self, post: PostMessage, _: &mut Context<Self>) -> Self::Result {
        let sequence = self.posts.take_sequence();
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
        let stored = work.into_actor(self).map(move |result, room, ctx| {
            let saved = result
                .as_ref()
                .ok()
                .map(|(message, recipient_is_account)| ChatDelivery {
                    message: message.clone(),
                    sender_verified: verified,
                    recipient_is_account: *recipient_is_account,
                });
            // The sender is answered after its own copy went out: through
            // the bus, when it comes back; here, after the broadcast it
            // shares with the messages posted together with it.
            let echo = saved
                .as_ref()
                .map(|saved| room.posts.await_broadcast(saved.message.id));
            room.posts.saved(sequence, saved);
            room.release_in_order(ctx);
            (result.map(|(message, _)| message), echo)
        });
        Box::pin(stored.then(|(result, echo), room, _| {
            async move {
                if let Some(echo) = echo {
                    let _ = tokio::time::timeout(posts::ECHO_WAIT, echo).await;
                }
                result
            }
            .into_actor(room)
        }))
    }
}

impl Handler<Stamped<ChatDelivery>> for ChatRoom {
    type Result = ();

    fn handle(&mut self, delivery: Stamped<ChatDelivery>, ctx: &mut Context<Self>) {
        self.queue_broadcast(delivery.event, delivery.offset, ctx);
    }
}

impl Handler<RemotePresence> for ChatRoom {
    type Result = ();

    fn handle(&mut self, change: RemotePresence, ctx: &mut Context<Self>) {
        self.presence.remote_changed(change.joined, change.left);
        self.schedule_presence_flush(ctx);
    }
}

impl Handler<CanResume> for ChatRoom {
    type Result = Response<bool>;

    fn handle(&mut self, CanResume(since): CanResume, _: &mut Context<Self>) -> Response<bool> {
        self.when_read(move |room| room.log.can_resume(&since))
    }
}

impl Handler<StreamFollowed<ChatDelivery>> for ChatRoom {
    type Result = ();

    fn handle(&mut self, followed: StreamFollowed<ChatDelivery>, ctx: &mut Context<Self>) {
        // What the last reading delivered goes first (to nobody here now),
        // so the log starts again from `kept` alone.
        self.broadcast_unsent();
        let StreamFollowed { head, kept, complete } = followed;
        self.log.restart(head, &kept, complete);
        for Stamped { event, .. } in &kept {
            // Own messages that reached Redis before the reading started.
            self.posts.broadcast(event.message.id);
        }
        // Messages may have been stored elsewhere while nobody here read.
        self.history.reset();
        self.load_history(ctx);
        for held in self.reading.started() {
            held(self, ctx);
        }
        self.check_idle(ctx);
    }
}

impl Handler<ReloadHistory> for ChatRoom {
    type Result = ();

    fn handle(&mut self, _: ReloadHistory, ctx: &mut Context<Self>) {
        self.load_history(ctx);
    }
}
