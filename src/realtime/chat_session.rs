//! One `/ws/chat` connection: `join` with an e-mail, then `message` and
//! `leave`. Every rule is checked here before the room is asked, so an
//! invalid frame costs the room nothing and gets an `error` event.

use actix::prelude::*;
use actix_web_actors::ws::{self, WebsocketContext};
use bytestring::ByteString;

use super::chat_room::{ChatRoom, Join, Leave, PostMessage};
use super::outbound::Outbound;
use super::protocol::ClientEvent;
use super::session::{
    deliver, next_session_id, send_error, send_validation_error, Connection, Incoming, SessionId,
};
use crate::configuration::{ChatSettings, WebSocketSettings};
use crate::domain::{Email, NewMessage, ValidationError};

pub struct ChatSession {
    id: SessionId,
    connection: Connection,
    room: Addr<ChatRoom>,
    max_message_chars: usize,
    /// Who this session joined as; None until `join`, again after `leave`.
    user: Option<Email>,
    /// A logged-in user's e-mail: the only identity this session may join as.
    identity: Option<Email>,
}

impl ChatSession {
    pub fn new(
        websocket: &WebSocketSettings,
        chat: &ChatSettings,
        room: Addr<ChatRoom>,
        identity: Option<Email>,
    ) -> Self {
        ChatSession {
            id: next_session_id(),
            connection: Connection::new(websocket),
            room,
            max_message_chars: chat.max_message_chars,
            user: None,
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
            "leave" => match self.user.take() {
                Some(_) => self.room.do_send(Leave { id: self.id }),
                None => self.connection.reply_error(ctx, "not joined: nothing to leave"),
            },
            other => self.connection.reply_error(
                ctx,
                format!("unknown event {other:?}: /ws/chat accepts join, message and leave"),
            ),
        }
    }

    fn join(&mut self, data: &serde_json::Value, ctx: &mut WebsocketContext<Self>) {
        if let Some(user) = &self.user {
            let message = format!("already joined as {user}; send leave first");
            return self.connection.reply_error(ctx, message);
        }
        let requested = data.get("user").and_then(|u| u.as_str());
        let user = match (&self.identity, requested) {
            (Some(identity), None) => Ok(identity.clone()),
            (Some(identity), Some(raw)) => match Email::parse("user", raw) {
                Ok(email) if email == *identity => Ok(email),
                _ => Err(ValidationError::new(
                    "user",
                    format!("you are logged in: you chat as {identity}"),
                )),
            },
            (None, Some(raw)) => Email::parse("user", raw),
            (None, None) => Err(ValidationError::new("user", r#"join needs {"user": "<e-mail>"}"#)),
        };
        match user {
            Ok(user) => {
                self.user = Some(user.clone());
                self.room.do_send(Join {
                    id: self.id,
                    user,
                    session: ctx.address().recipient(),
                });
            }
            Err(error) => send_validation_error(ctx, &error),
        }
    }

    fn post(&mut self, data: &serde_json::Value, ctx: &mut WebsocketContext<Self>) {
        let Some(user) = self.user.clone() else {
            return self.connection.reply_error(
                ctx,
                "join first: send {\"event\":\"join\",\"data\":{\"user\":\"<e-mail>\"}}",
            );
        };
        let message = match NewMessage::parse(user, data, self.max_message_chars) {
            Ok(message) => message,
            Err(error) => return send_validation_error(ctx, &error),
        };
        // Success reaches this client through the room's broadcast; only a
        // failure is answered here.
        self.room
            .send(PostMessage { message })
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
        if self.user.is_some() {
            self.room.do_send(Leave { id: self.id });
        }
    }
}

impl Handler<Outbound> for ChatSession {
    type Result = ();

    fn handle(&mut self, item: Outbound, ctx: &mut Self::Context) {
        deliver(item, ctx);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ChatSession {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        if let Incoming::Text(text) = self.connection.receive(message, ctx) {
            self.handle_event(&text, ctx);
        }
    }
}
