//! The chat as one connection uses it, whatever its transport: the rules of
//! `join`, `message` and `leave`. Plain `/ws/chat` sessions and Socket.IO's
//! `/chat` namespace both drive a `ChatClient`; they differ only in how an
//! answer reaches the client. Every rule is checked here before the room is
//! asked, so an invalid event costs the room nothing:
//! - a logged-in session chats as its account's e-mail only;
//! - a visitor with an e-mail that belongs to no account (checked with the
//!   store), or, when `chat.allow_anonymous` is off, only reads;
//! - one identity per session until `leave`;
//! - messages within the limits per person and per address (`limits`),
//!   however many sessions they come from;
//! - a join may resume from an offset (`{"user", "since"}`, or `?since=`
//!   on the URL for the first join): the room then replays what was missed.

use std::net::IpAddr;
use std::sync::Arc;

use actix::prelude::*;
use futures_util::FutureExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::limits::ChatLimits;
use super::posts::PostMessage;
use super::room::{ChatRoom, Join, Leave};
use crate::configuration::ChatSettings;
use crate::domain::{Email, NewMessage, ValidationError};
use crate::realtime::endpoint::{Endpoint, Step};
use crate::realtime::outbound::{next_session_id, Outbound, SessionId};
use crate::realtime::reply::{Outcome, Refusal};
use crate::store::{ask_store, FindUserByEmail, MongoStore, StoreError};

/// The join-time refusal for an e-mail that belongs to an account.
const ACCOUNT_EMAIL: &str = "that e-mail belongs to an account: log in to chat as it";

/// What every chat endpoint of an HTTP worker shares: one `Arc`, so a
/// session holds a pointer, not its own addresses (each `Addr` clone is
/// two allocations).
pub struct ChatShared {
    pub room: Addr<ChatRoom>,
    pub store: Addr<MongoStore>,
    /// One for the whole app: the counts span sessions and workers.
    pub limits: Arc<ChatLimits>,
    pub max_message_chars: usize,
    pub allow_anonymous: bool,
}

impl ChatShared {
    pub fn new(
        room: Addr<ChatRoom>,
        store: Addr<MongoStore>,
        limits: Arc<ChatLimits>,
        settings: &ChatSettings,
    ) -> Arc<ChatShared> {
        Arc::new(ChatShared {
            room,
            store,
            limits,
            max_message_chars: settings.max_message_chars,
            allow_anonymous: settings.allow_anonymous,
        })
    }
}

pub struct ChatClient {
    id: SessionId,
    shared: Arc<ChatShared>,
    /// A logged-in user's e-mail: the only identity this session may join as.
    identity: Option<Email>,
    /// Joined as this user (`Some(None)`: as a reader, who may not post).
    joined: Option<Option<Email>>,
    /// The offset to resume from at the first join (from the URL).
    since: Option<String>,
    /// Where the client connects from (its messages count there).
    address: Option<IpAddr>,
}

/// What an event waited for.
pub enum ChatResume {
    /// A visitor's join: the store's word on the e-mail.
    Lookup(AccountLookup),
    /// A message: the cluster's count.
    Counted(CountedPost),
}

/// A message and the cluster's count of it.
pub struct CountedPost {
    message: NewMessage,
    verified: bool,
    within: Result<(), Refusal>,
}

/// What a visitor's `join` waited for: whether the store knows the e-mail
/// as an account's.
pub struct AccountLookup {
    email: Email,
    since: Option<String>,
    found: Result<bool, StoreError>,
}

impl ChatClient {
    /// `identity`: the e-mail of the logged-in user who opened the
    /// connection, if any.
    pub fn new(shared: Arc<ChatShared>, identity: Option<Email>) -> ChatClient {
        ChatClient {
            id: next_session_id(),
            shared,
            identity,
            joined: None,
            since: None,
            address: None,
        }
    }

    /// Where the client connects from: its messages count against that
    /// address's limit too.
    pub fn from_address(mut self, address: Option<IpAddr>) -> ChatClient {
        self.address = address;
        self
    }

    /// Who the connection joined as (`Some(None)`: as a reader), if it did.
    pub fn joined(&self) -> Option<Option<Email>> {
        self.joined.clone()
    }

    /// Resumes from `since` at the first join (`/ws/chat?since=`).
    pub fn resuming_from(mut self, since: Option<String>) -> ChatClient {
        self.since = since;
        self
    }

    /// A logged-in user joins as their own e-mail only; a visitor with any
    /// valid e-mail (checked against the accounts), or as a reader when
    /// anonymous chat is off.
    fn join(&mut self, data: &Value, session: impl FnOnce() -> Recipient<Outbound>) -> Step<ChatResume> {
        match &self.joined {
            Some(Some(user)) => {
                return Step::Done(Err(Refusal::new(format!(
                    "already joined as {user}; send leave first"
                ))))
            }
            Some(None) => return Step::Done(Err(Refusal::new("already joined; send leave first"))),
            None => {}
        }
        let requested = data.get("user").and_then(|u| u.as_str());
        let since = match data.get("since") {
            None | Some(Value::Null) => self.since.take(),
            Some(Value::String(since)) => Some(since.clone()),
            Some(_) => {
                let error = ValidationError::new("since", "an offset is a string, as the server sent it");
                return Step::Done(Err(error.into()));
            }
        };
        match (&self.identity, requested) {
            (Some(identity), None) => self.enter(Some(identity.clone()), true, since, session),
            (Some(identity), Some(raw)) => match Email::parse("user", raw) {
                Ok(email) if email == *identity => self.enter(Some(email), true, since, session),
                _ => Step::Done(Err(ValidationError::new(
                    "user",
                    format!("you are logged in: you chat as {identity}"),
                )
                .into())),
            },
            // Anonymous chat is off: join to read only.
            (None, _) if !self.shared.allow_anonymous => self.enter(None, false, since, session),
            (None, Some(raw)) => match Email::parse("user", raw) {
                Ok(email) => {
                    let store = self.shared.store.clone();
                    Step::Wait(
                        async move {
                            let found = ask_store(&store, FindUserByEmail { email: email.clone() })
                                .await
                                .map(|user| user.is_some());
                            ChatResume::Lookup(AccountLookup { email, since, found })
                        }
                        .boxed_local(),
                    )
                }
                Err(error) => Step::Done(Err(error.into())),
            },
            (None, None) => Step::Done(Err(ValidationError::new(
                "user",
                r#"join needs {"user": "<e-mail>"}"#,
            )
            .into())),
        }
    }

    /// Joins the room. The answer (a Socket.IO ack) goes out once the room
    /// has admitted the session, so after the `history` and `presence` it
    /// sent (as socket.io handlers run: the frames a handler emits, then
    /// its ack). Later events need not wait: the room takes them in order.
    fn enter(
        &mut self,
        user: Option<Email>,
        verified: bool,
        since: Option<String>,
        session: impl FnOnce() -> Recipient<Outbound>,
    ) -> Step<ChatResume> {
        self.joined = Some(user.clone());
        let payload = json!({ "user": user });
        let (admitted, welcomed) = oneshot::channel();
        self.shared.room.do_send(Join {
            id: self.id,
            user,
            verified,
            session: session(),
            since,
            admitted: Some(admitted),
        });
        Step::Answer(
            async move {
                // Gone only if the session went first; the join stands.
                let _ = welcomed.await;
                Ok(payload)
            }
            .boxed_local(),
        )
    }

    fn leave(&mut self) -> Outcome {
        match self.joined.take() {
            Some(_) => {
                self.shared.room.do_send(Leave { id: self.id });
                Ok(Value::Null)
            }
            None => Err(Refusal::new("not joined: nothing to leave")),
        }
    }

    /// Posts a message; the room stores it, then broadcasts it (in posting
    /// order, so later events need not wait for the save).
    fn post(&mut self, data: &Value) -> Step<ChatResume> {
        let user = match &self.joined {
            Some(Some(user)) => user.clone(),
            Some(None) => {
                return Step::Done(Err(Refusal::new("log in to chat: visitors may only read here")))
            }
            None => {
                return Step::Done(Err(Refusal::new(
                    "join first: send {\"event\":\"join\",\"data\":{\"user\":\"<e-mail>\"}}",
                )))
            }
        };
        let message = match NewMessage::parse(user, data, self.shared.max_message_chars) {
            Ok(message) => message,
            Err(error) => return Step::Done(Err(error.into())),
        };
        let verified = self.identity.is_some();
        let limits = &self.shared.limits;
        if let Err(refusal) = limits.check_here(&message.user, self.address) {
            return Step::Done(Err(refusal));
        }
        if !limits.counts_in_cluster() {
            return self.send_post(message, verified);
        }
        // Later events wait for the count, so messages keep their order.
        let count = limits
            .clone()
            .check_in_cluster(message.user.clone(), self.address);
        Step::Wait(
            async move {
                let within = count.await;
                ChatResume::Counted(CountedPost {
                    message,
                    verified,
                    within,
                })
            }
            .boxed_local(),
        )
    }

    /// Hands a message within the limits to the room; the answer comes
    /// once it is stored and broadcast.
    fn send_post(&mut self, message: NewMessage, verified: bool) -> Step<ChatResume> {
        let post = self.shared.room.send(PostMessage { message, verified });
        Step::Answer(
            async move {
                match post.await {
                    Ok(Ok(stored)) => Ok(json!(stored)),
                    Ok(Err(error)) => Err(Refusal::new(format!(
                        "message not sent: {}",
                        error.client_message()
                    ))),
                    Err(_) => Err(Refusal::new("message not sent: the chat is unavailable")),
                }
            }
            .boxed_local(),
        )
    }
}

impl Endpoint for ChatClient {
    type Resume = ChatResume;

    /// Nothing until `join`.
    fn open(&mut self, _: Recipient<Outbound>) {}

    fn on_event(
        &mut self,
        event: &str,
        data: &Value,
        session: impl FnOnce() -> Recipient<Outbound>,
    ) -> Step<ChatResume> {
        match event {
            "join" => self.join(data, session),
            "message" => self.post(data),
            "leave" => Step::Done(self.leave()),
            other => Step::Done(Err(Refusal::unknown_event(format!(
                "unknown event {other:?}: the chat accepts join, message and leave"
            )))),
        }
    }

    /// A visitor's join once the store has answered, or a message once the
    /// cluster has counted it.
    fn resume(
        &mut self,
        resume: ChatResume,
        session: impl FnOnce() -> Recipient<Outbound>,
    ) -> Step<ChatResume> {
        let lookup = match resume {
            ChatResume::Lookup(lookup) => lookup,
            ChatResume::Counted(CountedPost {
                message,
                verified,
                within,
            }) => {
                return match within {
                    Ok(()) => self.send_post(message, verified),
                    Err(refusal) => Step::Done(Err(refusal)),
                }
            }
        };
        match lookup.found {
            Ok(false) => self.enter(Some(lookup.email), false, lookup.since, session),
            // The store is down: let the visitor in (to read and see
            // presence); each message is checked again when posted, and
            // none can be stored until the store is back.
            Err(StoreError::Unavailable(_)) => self.enter(Some(lookup.email), false, lookup.since, session),
            Ok(true) => Step::Done(Err(ValidationError::new("user", ACCOUNT_EMAIL).into())),
            Err(error) => Step::Done(Err(Refusal::new(format!(
                "join failed: {}",
                error.client_message()
            )))),
        }
    }

    /// The connection ended (or left the namespace): leaves the room.
    fn close(&mut self) {
        if self.joined.take().is_some() {
            self.shared.room.do_send(Leave { id: self.id });
        }
    }
}
