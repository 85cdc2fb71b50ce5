//! One `/ws/chat` connection: `join` with an e-mail, then `message` and
//! `leave`. Every rule is checked here before the room is asked, so an
//! invalid frame costs the room nothing and gets an `error` event:
//! a logged-in session chats as its account; an anonymous one with an
//! e-mail that belongs to no account (or only reads, when
//! `chat.allow_anonymous` is off).

use actix::prelude::*;
use actix_web_actors::ws::{self, WebsocketContext};
use bytestring::ByteString;

use super::chat_room::{ChatRoom, Join, Leave, PostMessage};
use super::limits::SessionSlot;
use super::outbound::Outbound;
use super::protocol::ClientEvent;
use super::session::{
    next_session_id, send_error, send_validation_error, Connection, Incoming, SessionContext, SessionId,
};
use crate::configuration::{ChatSettings, WebSocketSettings};
use crate::domain::{Email, NewMessage, ValidationError};
use crate::store::{ask_store, FindUserByEmail, MongoStore, StoreError};

pub struct ChatSession {
    id: SessionId,
    connection: Connection,
    room: Addr<ChatRoom>,
    store: Addr<MongoStore>,
    max_message_chars: usize,
    allow_anonymous: bool,
    membership: Membership,
    /// A logged-in user's e-mail: the only identity this session may join as.
    identity: Option<Email>,
}

/// Where the session stands with the room.
enum Membership {
    Out,
    /// An anonymous join waits for the store to say the e-mail is nobody's.
    Joining,
    /// Joined as this user (`None`: as a reader, who may not post).
    Member(Option<Email>),
}

/// The join-time refusal for an e-mail that belongs to an account.
pub(crate) const ACCOUNT_EMAIL: &str = "that e-mail belongs to an account: log in to chat as it";

/// What a `join` asks for, given who the connection is: the rule every
/// chat transport (plain socket, Socket.IO) follows.
pub(crate) enum JoinDecision {
    /// Join now as `user` (`None`: as a reader).
    Enter {
        user: Option<Email>,
        verified: bool,
    },
    /// An anonymous visitor: join once the store says the e-mail is nobody's.
    CheckAnonymous(Email),
    Refuse(ValidationError),
}

/// A logged-in user joins as their own e-mail only; a visitor with any
/// valid e-mail (checked against the accounts), or as a reader when
/// anonymous chat is off.
pub(crate) fn decide_join(
    identity: Option<&Email>,
    allow_anonymous: bool,
    data: &serde_json::Value,
) -> JoinDecision {
    let requested = data.get("user").and_then(|u| u.as_str());
    match (identity, requested) {
        (Some(identity), None) => JoinDecision::Enter {
            user: Some(identity.clone()),
            verified: true,
        },
        (Some(identity), Some(raw)) => match Email::parse("user", raw) {
            Ok(email) if email == *identity => JoinDecision::Enter {
                user: Some(email),
                verified: true,
            },
            _ => JoinDecision::Refuse(ValidationError::new(
                "user",
                format!("you are logged in: you chat as {identity}"),
            )),
        },
        // Anonymous chat is off: join to read only.
        (None, _) if !allow_anonymous => JoinDecision::Enter {
            user: None,
            verified: false,
        },
        (None, Some(raw)) => match Email::parse("user", raw) {
            Ok(email) => JoinDecision::CheckAnonymous(email),
            Err(error) => JoinDecision::Refuse(error),
        },
        (None, None) => {
            JoinDecision::Refuse(ValidationError::new("user", r#"join needs {"user": "<e-mail>"}"#))
        }
    }
}

impl ChatSession {
    pub fn new(
        websocket: &WebSocketSettings,
        chat: &ChatSettings,
        room: Addr<ChatRoom>,
        store: Addr<MongoStore>,
        identity: Option<Email>,
        context: SessionContext,
        slot: SessionSlot,
    ) -> Self {
        ChatSession {
            id: next_session_id(),
            connection: Connection::new(websocket, context, slot),
            room,
            store,
            max_message_chars: chat.max_message_chars,
            allow_anonymous: chat.allow_anonymous,
            membership: Membership::Out,
            identity,
        }
    }

    fn handle_event(&mut self, text: &ByteString, ctx: &mut WebsocketContext<Self>) {
        let event = match ClientEvent::parse(text) {
            Ok(event) => event,
            Err(message) => return self.connection.reply_error(ctx, message),
        };
        match event.event.as_str() {
            "join" => self.join(&event.data, ctx),
            "message" => self.post(&event.data, ctx),
            "leave" => match std::mem::replace(&mut self.membership, Membership::Out) {
                Membership::Member(_) => self.room.do_send(Leave { id: self.id }),
                Membership::Joining | Membership::Out => {
                    self.connection.reply_error(ctx, "not joined: nothing to leave")
                }
            },
            other => self.connection.reply_error(
                ctx,
                format!("unknown event {other:?}: /ws/chat accepts join, message and leave"),
            ),
        }
    }

    fn join(&mut self, data: &serde_json::Value, ctx: &mut WebsocketContext<Self>) {
        match &self.membership {
            Membership::Member(Some(user)) => {
                let message = format!("already joined as {user}; send leave first");
                return self.connection.reply_error(ctx, message);
            }
            Membership::Member(None) | Membership::Joining => {
                return self
                    .connection
                    .reply_error(ctx, "already joined; send leave first")
            }
            Membership::Out => {}
        }
        match decide_join(self.identity.as_ref(), self.allow_anonymous, data) {
            JoinDecision::Enter { user, verified } => self.enter(user, verified, ctx),
            JoinDecision::CheckAnonymous(email) => self.join_anonymously(email, ctx),
            JoinDecision::Refuse(error) => send_validation_error(ctx, &error),
        }
    }

    /// An anonymous visitor may use an e-mail that belongs to no account.
    fn join_anonymously(&mut self, email: Email, ctx: &mut WebsocketContext<Self>) {
        self.membership = Membership::Joining;
        let (store, lookup) = (self.store.clone(), email.clone());
        async move { ask_store(&store, FindUserByEmail { email: lookup }).await }
            .into_actor(self)
            .map(|found, session, ctx| {
                if !matches!(session.membership, Membership::Joining) {
                    return; // left meanwhile
                }
                session.membership = Membership::Out;
                match found {
                    Ok(None) => session.enter(Some(email), false, ctx),
                    // The store is down: let the visitor in (to read and
                    // see presence); each message is checked again when
                    // posted, and none can be stored until the store is back.
                    Err(StoreError::Unavailable(_)) => session.enter(Some(email), false, ctx),
                    Ok(Some(_)) => send_validation_error(ctx, &ValidationError::new("user", ACCOUNT_EMAIL)),
                    Err(error) => send_error(ctx, format!("join failed: {}", error.client_message()), None),
                }
            })
            .spawn(ctx);
    }

    fn enter(&mut self, user: Option<Email>, verified: bool, ctx: &mut WebsocketContext<Self>) {
        self.membership = Membership::Member(user.clone());
        self.room.do_send(Join {
            id: self.id,
            user,
            verified,
            session: ctx.address().recipient(),
        });
    }

    fn post(&mut self, data: &serde_json::Value, ctx: &mut WebsocketContext<Self>) {
        let user = match &self.membership {
            Membership::Member(Some(user)) => user.clone(),
            Membership::Member(None) => {
                return self
                    .connection
                    .reply_error(ctx, "log in to chat: visitors may only read here")
            }
            Membership::Joining | Membership::Out => {
                return self.connection.reply_error(
                    ctx,
                    "join first: send {\"event\":\"join\",\"data\":{\"user\":\"<e-mail>\"}}",
                )
            }
        };
        let message = match NewMessage::parse(user, data, self.max_message_chars) {
            Ok(message) => message,
            Err(error) => return send_validation_error(ctx, &error),
        };
        // Success reaches this client through the room's broadcast; only a
        // failure is answered here.
        let verified = self.identity.is_some();
        self.room
            .send(PostMessage { message, verified })
            .into_actor(self)
            .map(|result, _, ctx| {
                let error = match result {
                    Ok(Ok(_)) => return,
                    Ok(Err(error)) => format!("message not sent: {}", error.client_message()),
                    Err(_) => "message not sent: the chat is unavailable".to_owned(),
                };
                send_error(ctx, error, None);
            })
            .spawn(ctx);
    }
}

impl AsMut<Connection> for ChatSession {
    fn as_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

impl Actor for ChatSession {
    type Context = WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connection.start(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.connection.stopped();
        if let Membership::Member(_) = self.membership {
            self.room.do_send(Leave { id: self.id });
        }
    }
}

impl Handler<Outbound> for ChatSession {
    type Result = ();

    fn handle(&mut self, item: Outbound, ctx: &mut Self::Context) {
        self.connection.deliver(item, ctx);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ChatSession {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        if let Incoming::Text(text) = self.connection.receive(message, ctx) {
            self.handle_event(&text, ctx);
        }
    }
}
