//! `SocketIoSession`: one Socket.IO client, whatever its transport. It owns
//! the Engine.IO state (heartbeats, the packets waiting for the next poll)
//! and the Socket.IO namespaces the client joined, and takes part in the
//! same feeds as the plain sockets: `ProductFeed` owns it for `/products`
//! (and `/` for `update_products`), `ChatRoom` for `/chat`. Their frames
//! arrive as `Outbound` and leave in their Socket.IO encoding, made once per
//! broadcast.
//!
//! Transports: long-polling (HTTP GETs take what is queued, POSTs bring
//! packets) and WebSocket (`EngineSocket`), to which a polling client
//! upgrades. Rate limits, the outbound bound and the session limits are the
//! plain sockets'.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use super::packet::{self, EnginePacket, SocketPacket, SocketPacketKind, RECORD_SEPARATOR};
use crate::auth::{authorize_cart, may_write_products, Accounts, AuthError};
use crate::configuration::Settings;
use crate::domain::{Email, NewMessage, NewProduct, User, ValidationError};
use crate::metrics::{CloseReason, WsMetrics};
use crate::realtime::chat_room::{ChatRoom, Join, Leave, PostMessage};
use crate::realtime::chat_session::{decide_join, JoinDecision, ACCOUNT_EMAIL};
use crate::realtime::limits::SessionSlot;
use crate::realtime::outbound::Outbound;
use crate::realtime::product_feed::{ProductFeed, Subscribe, SubscribeUpdates, Unsubscribe, WatchCart};
use crate::realtime::product_session::parse_target;
use crate::realtime::session::{next_session_id, RateDecision, RateLimiter, SessionContext, SessionId};
use crate::store::{ask_store, CreateProduct, DeleteProduct, FindUserByEmail, MongoStore, StoreError};

/// The live Socket.IO sessions by Engine.IO session id, for the HTTP
/// requests and upgrades that name one.
#[derive(Default)]
pub struct SocketIoSessions(Mutex<HashMap<String, Addr<SocketIoSession>>>);

impl SocketIoSessions {
    pub fn get(&self, sid: &str) -> Option<Addr<SocketIoSession>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sid)
            .cloned()
    }

    fn insert(&self, sid: String, session: Addr<SocketIoSession>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sid, session);
    }

    fn remove(&self, sid: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(sid);
    }
}

/// What every Socket.IO session is given.
#[derive(Clone)]
pub struct SocketIoDeps {
    /// Shared by every session (`[websocket]` and `[chat]` apply).
    pub settings: Arc<Settings>,
    pub store: Addr<MongoStore>,
    pub product_feed: Addr<ProductFeed>,
    pub chat_room: Addr<ChatRoom>,
    pub accounts: Arc<Accounts>,
    pub sessions: Arc<SocketIoSessions>,
    pub context: SessionContext,
}

/// Who opened the session (from the session cookie at the handshake).
pub struct SocketIoIdentity {
    pub viewer: Option<User>,
    /// The e-mail a logged-in user chats as.
    pub chat: Option<Email>,
}

pub struct SocketIoSession {
    sid: String,
    deps: SocketIoDeps,
    identity: SocketIoIdentity,
    transport: Transport,
    /// Packets waiting for the next poll (long-polling only).
    outbox: VecDeque<ByteString>,
    /// The feed subscriptions of the namespaces joined.
    products: Option<SessionId>,
    updates: Option<SessionId>,
    chat: Option<ChatNamespace>,
    limiter: RateLimiter,
    /// A ping is out and unanswered since then.
    ping_sent: Option<Instant>,
    metrics: WsMetrics,
    shutdown: watch::Receiver<bool>,
    close_reason: CloseReason,
    _slot: SessionSlot,
}

enum Transport {
    /// Long-polling: a GET waiting for packets, if any. Once a WebSocket
    /// has probed the session (`upgrading`), polls are answered at once
    /// with a noop, so the client can pause polling and finish upgrading.
    Polling {
        waiter: Option<oneshot::Sender<String>>,
        upgrading: bool,
    },
    WebSocket(Recipient<SocketWrite>),
}

struct ChatNamespace {
    id: SessionId,
    membership: Membership,
}

enum Membership {
    Out,
    Joining,
    /// Joined as this user (`None`: as a reader, who may not post).
    Member(Option<Email>),
}

/// What the WebSocket transport writes.
#[derive(Message)]
#[rtype(result = "()")]
pub enum SocketWrite {
    Packet(ByteString),
    /// Close the WebSocket: 1001 when the server goes away, 1008 for a
    /// client that fell behind, 1000 otherwise.
    Close(actix_web_actors::ws::CloseCode),
}

/// A long-polling GET: answers with the packets queued (waiting for one if
/// none is).
#[derive(Message)]
#[rtype(result = "Result<String, EngineError>")]
pub struct Poll;

/// Packets a client sent (a POST body, or one WebSocket text frame).
#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct ClientPackets(pub String);

/// A WebSocket probed this session (`2probe`): the pending poll is answered
/// with a noop so the client can finish upgrading.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Probed;

/// The WebSocket takes over (`5` after a probe, or a direct WebSocket
/// connection, which is sent the open packet first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseWebSocket {
    pub socket: Recipient<SocketWrite>,
    pub send_open: bool,
}

/// The WebSocket transport ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TransportClosed;

/// Engine.IO errors answered to HTTP requests.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("a poll is already waiting for this session")]
    OverlappingPoll,
    #[error("{0}")]
    BadPacket(String),
}

/// Engine.IO packet types the server sends.
const PING: &str = "2";
const NOOP: &str = "6";
const CLOSE: &str = "1";

impl SocketIoSession {
    pub fn new(deps: SocketIoDeps, identity: SocketIoIdentity, slot: SessionSlot) -> Self {
        let limiter = RateLimiter::new(
            deps.settings.websocket.rate_per_second,
            deps.settings.websocket.rate_burst,
        );
        let metrics = deps.context.metrics.clone();
        let shutdown = deps.context.shutdown.clone();
        SocketIoSession {
            sid: random_id(),
            deps,
            identity,
            transport: Transport::Polling {
                waiter: None,
                upgrading: false,
            },
            outbox: VecDeque::new(),
            products: None,
            updates: None,
            chat: None,
            limiter,
            ping_sent: None,
            metrics,
            shutdown,
            close_reason: CloseReason::Client,
            _slot: slot,
        }
    }

    /// The Engine.IO open packet: the session id and the heartbeat and
    /// size settings the client must follow.
    pub fn open_packet(&self, upgrades: bool) -> String {
        let settings = &self.deps.settings.websocket;
        let ping_timeout = settings
            .client_timeout_ms
            .saturating_sub(settings.heartbeat_interval_ms);
        let open = json!({
            "sid": self.sid,
            "upgrades": if upgrades { vec!["websocket"] } else { Vec::new() },
            "pingInterval": settings.heartbeat_interval_ms,
            "pingTimeout": ping_timeout,
            "maxPayload": settings.max_frame_bytes,
        });
        format!("0{open}")
    }

    fn ping_timeout(&self) -> Duration {
        let settings = &self.deps.settings.websocket;
        Duration::from_millis(
            settings
                .client_timeout_ms
                .saturating_sub(settings.heartbeat_interval_ms)
                .max(1000),
        )
    }

    /// Sends one packet by the current transport. A client whose queue is
    /// full is closed, as on the plain sockets.
    fn send(&mut self, packet: ByteString, ctx: &mut Context<Self>) {
        match &mut self.transport {
            Transport::WebSocket(socket) => match socket.try_send(SocketWrite::Packet(packet)) {
                Ok(()) => self.metrics.frames_sent.inc(),
                Err(SendError::Full(_)) => self.close(CloseReason::SlowConsumer, ctx),
                Err(SendError::Closed(_)) => ctx.stop(),
            },
            Transport::Polling { waiter, .. } => {
                if self.outbox.len() >= self.deps.settings.websocket.outbound_queue {
                    return self.close(CloseReason::SlowConsumer, ctx);
                }
                self.outbox.push_back(packet);
                if let Some(waiter) = waiter.take() {
                    self.flush_to(waiter);
                }
            }
        }
    }

    fn send_text(&mut self, packet: String, ctx: &mut Context<Self>) {
        self.send(ByteString::from(packet), ctx);
    }

    /// Answers a waiting poll with everything queued.
    fn flush_to(&mut self, waiter: oneshot::Sender<String>) {
        self.metrics.frames_sent.inc_by(self.outbox.len() as u64);
        let mut body = String::new();
        for (index, packet) in self.outbox.drain(..).enumerate() {
            if index > 0 {
                body.push(RECORD_SEPARATOR);
            }
            body.push_str(&packet);
        }
        let _ = waiter.send(body);
    }

    fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.close_reason = reason;
        if let Transport::WebSocket(socket) = &self.transport {
            let code = match reason {
                CloseReason::Shutdown => actix_web_actors::ws::CloseCode::Away,
                CloseReason::SlowConsumer => actix_web_actors::ws::CloseCode::Policy,
                _ => actix_web_actors::ws::CloseCode::Normal,
            };
            socket.do_send(SocketWrite::Close(code));
        }
        ctx.stop();
    }

    /// Every heartbeat interval: a ping, which must be answered within the
    /// ping timeout.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.ping_sent.is_some() {
            return; // the last ping is still unanswered; its timer decides
        }
        self.ping_sent = Some(Instant::now());
        self.send_text(PING.to_owned(), ctx);
        let timeout = self.ping_timeout();
        ctx.run_later(timeout, move |session, ctx| {
            if session.ping_sent.is_some_and(|sent| sent.elapsed() >= timeout) {
                log::debug!("socket.io client {} timed out", session.sid);
                session.close(CloseReason::Timeout, ctx);
            }
        });
    }

    fn receive(&mut self, text: &str, ctx: &mut Context<Self>) -> Result<(), EngineError> {
        match EnginePacket::parse(text).map_err(EngineError::BadPacket)? {
            EnginePacket::Pong(_) => self.ping_sent = None,
            EnginePacket::Ping(data) => self.send_text(format!("3{data}"), ctx),
            EnginePacket::Close => self.close(CloseReason::Client, ctx),
            EnginePacket::Upgrade | EnginePacket::Noop => {}
            EnginePacket::Message(message) => {
                let packet = SocketPacket::parse(message).map_err(EngineError::BadPacket)?;
                self.on_packet(packet, ctx);
            }
        }
        Ok(())
    }

    fn on_packet(&mut self, packet: SocketPacket<'_>, ctx: &mut Context<Self>) {
        let namespace = packet.namespace;
        // Every packet counts against the rate limit, as every frame does
        // on the plain sockets; only an event's refusal is worth a reply.
        match self.limiter.check() {
            RateDecision::Allow => {}
            RateDecision::RejectAndWarn if packet.kind == SocketPacketKind::Event => {
                let limit = self.deps.settings.websocket.rate_per_second;
                let refusal = Refusal::new(format!(
                    "rate limit exceeded ({limit} events/s): events are being dropped"
                ));
                return self.answer(namespace, packet.ack, Err(refusal), ctx);
            }
            RateDecision::RejectAndWarn | RateDecision::Reject => return,
        }
        match packet.kind {
            SocketPacketKind::Connect => self.connect(namespace, ctx),
            SocketPacketKind::Disconnect => self.disconnect(namespace),
            SocketPacketKind::Ack => {} // the server asks for no acks
            SocketPacketKind::Event => {
                let mut arguments = match packet.data {
                    Some(Value::Array(arguments)) => arguments.into_iter(),
                    _ => Vec::new().into_iter(),
                };
                let Some(Value::String(name)) = arguments.next() else {
                    let refusal = Refusal::new("an event is [\"<name>\", <data>]");
                    return self.answer(namespace, packet.ack, Err(refusal), ctx);
                };
                let data = arguments.next().unwrap_or(Value::Null);
                self.on_event(namespace.to_owned(), packet.ack, &name, data, ctx);
            }
        }
    }

    fn connect(&mut self, namespace: &str, ctx: &mut Context<Self>) {
        let recipient = ctx.address().recipient();
        match namespace {
            "/" if self.updates.is_none() => {
                let id = next_session_id();
                self.updates = Some(id);
                self.deps.product_feed.do_send(SubscribeUpdates {
                    id,
                    session: recipient,
                });
            }
            "/products" if self.products.is_none() => {
                let id = next_session_id();
                self.products = Some(id);
                // Connected first, then the snapshot (it comes through the
                // mailbox, after this).
                self.send_text(packet::connected(namespace, &random_id()), ctx);
                self.deps.product_feed.do_send(Subscribe {
                    id,
                    session: recipient,
                });
                return;
            }
            "/chat" if self.chat.is_none() => {
                self.chat = Some(ChatNamespace {
                    id: next_session_id(),
                    membership: Membership::Out,
                });
            }
            "/" | "/products" | "/chat" => {} // already connected: say so again
            _ => return self.send_text(packet::connect_error(namespace, "Invalid namespace"), ctx),
        }
        self.send_text(packet::connected(namespace, &random_id()), ctx);
    }

    fn disconnect(&mut self, namespace: &str) {
        let feed = &self.deps.product_feed;
        match namespace {
            "/" => {
                if let Some(id) = self.updates.take() {
                    feed.do_send(Unsubscribe { id });
                }
            }
            "/products" => {
                if let Some(id) = self.products.take() {
                    feed.do_send(Unsubscribe { id });
                }
            }
            "/chat" => {
                if let Some(ChatNamespace {
                    id,
                    membership: Membership::Member(_),
                }) = self.chat.take()
                {
                    self.deps.chat_room.do_send(Leave { id });
                }
            }
            _ => {}
        }
    }

    /// Answers an event: with its acknowledgement if the client asked for
    /// one (`{status, payload}` or `{status, error, field}`), else a refusal
    /// as an `error` event, as the plain sockets do.
    fn answer(
        &mut self,
        namespace: &str,
        ack: Option<u64>,
        outcome: Result<Value, Refusal>,
        ctx: &mut Context<Self>,
    ) {
        let reply = match (ack, outcome) {
            (Some(id), Ok(payload)) => {
                packet::ack(namespace, id, &json!({"status": "success", "payload": payload}))
            }
            (Some(id), Err(refusal)) => packet::ack(namespace, id, &refusal.ack()),
            (None, Ok(_)) => return,
            (None, Err(refusal)) => packet::event(namespace, "error", &refusal.event()),
        };
        self.send_text(reply, ctx);
    }

    fn on_event(
        &mut self,
        namespace: String,
        ack: Option<u64>,
        name: &str,
        data: Value,
        ctx: &mut Context<Self>,
    ) {
        match (namespace.as_str(), name) {
            ("/products", _) if self.products.is_none() => self.answer(
                &namespace,
                ack,
                Err(Refusal::new("connect to /products first")),
                ctx,
            ),
            ("/chat", _) if self.chat.is_none() => {
                self.answer(&namespace, ack, Err(Refusal::new("connect to /chat first")), ctx)
            }
            ("/products", "product:create" | "product:delete") => {
                if let Err(refusal) = may_write_products(&self.deps.accounts, self.identity.viewer.as_ref()) {
                    return self.answer(&namespace, ack, Err(refusal.into()), ctx);
                }
                if name == "product:create" {
                    match NewProduct::parse(&data) {
                        Ok(product) => {
                            let store = self.deps.store.clone();
                            let create =
                                async move { Ok(json!(ask_store(&store, CreateProduct { product }).await?)) };
                            self.answer_later(namespace, ack, create, ctx);
                        }
                        Err(error) => self.answer(&namespace, ack, Err(error.into()), ctx),
                    }
                } else {
                    match parse_target(&data) {
                        Ok(id) => {
                            let store = self.deps.store.clone();
                            let delete = async move {
                                ask_store(&store, DeleteProduct { id }).await?;
                                Ok(json!({ "_id": id.to_hex() }))
                            };
                            self.answer_later(namespace, ack, delete, ctx);
                        }
                        Err(error) => self.answer(&namespace, ack, Err(error.into()), ctx),
                    }
                }
            }
            ("/products", "cart:watch") => match parse_target(&data) {
                Ok(cart) => {
                    let (store, accounts) = (self.deps.store.clone(), self.deps.accounts.clone());
                    let (viewer, feed) = (self.identity.viewer.clone(), self.deps.product_feed.clone());
                    let id = self.products.unwrap_or_default();
                    let watch = async move {
                        authorize_cart(&store, &accounts, viewer.as_ref(), cart).await?;
                        feed.do_send(WatchCart { id, cart });
                        Ok(json!({ "_id": cart.to_hex() }))
                    };
                    self.answer_later(namespace, ack, watch, ctx);
                }
                Err(error) => self.answer(&namespace, ack, Err(error.into()), ctx),
            },
            ("/chat", "join") => self.join(namespace, ack, &data, ctx),
            ("/chat", "message") => self.post(namespace, ack, &data, ctx),
            ("/chat", "leave") => {
                let outcome = match self
                    .chat
                    .as_mut()
                    .map(|chat| std::mem::replace(&mut chat.membership, Membership::Out))
                {
                    Some(Membership::Member(_)) => {
                        let id = self.chat.as_ref().map(|chat| chat.id).unwrap_or_default();
                        self.deps.chat_room.do_send(Leave { id });
                        Ok(Value::Null)
                    }
                    _ => Err(Refusal::new("not joined: nothing to leave")),
                };
                self.answer(&namespace, ack, outcome, ctx);
            }
            (namespace_name, other) => {
                let accepted = match namespace_name {
                    "/products" => "product:create, product:delete and cart:watch",
                    "/chat" => "join, message and leave",
                    _ => "no events (it only sends update_products)",
                };
                let refusal = Refusal::new(format!(
                    "unknown event {other:?}: {namespace_name} accepts {accepted}"
                ));
                self.answer(&namespace, ack, Err(refusal), ctx);
            }
        }
    }

    /// Runs `work` and answers with its outcome when it is done.
    fn answer_later<F>(&self, namespace: String, ack: Option<u64>, work: F, ctx: &mut Context<Self>)
    where
        F: std::future::Future<Output = Result<Value, Refusal>> + 'static,
    {
        work.into_actor(self)
            .map(move |outcome, session, ctx| session.answer(&namespace, ack, outcome, ctx))
            .spawn(ctx);
    }

    fn join(&mut self, namespace: String, ack: Option<u64>, data: &Value, ctx: &mut Context<Self>) {
        let Some(chat) = &self.chat else { return };
        if !matches!(chat.membership, Membership::Out) {
            return self.answer(
                &namespace,
                ack,
                Err(Refusal::new("already joined; send leave first")),
                ctx,
            );
        }
        let allow_anonymous = self.deps.settings.chat.allow_anonymous;
        match decide_join(self.identity.chat.as_ref(), allow_anonymous, data) {
            JoinDecision::Enter { user, verified } => self.enter(namespace, ack, user, verified, ctx),
            JoinDecision::Refuse(error) => self.answer(&namespace, ack, Err(error.into()), ctx),
            JoinDecision::CheckAnonymous(email) => {
                self.set_membership(Membership::Joining);
                let (store, lookup) = (self.deps.store.clone(), email.clone());
                async move { ask_store(&store, FindUserByEmail { email: lookup }).await }
                    .into_actor(self)
                    .map(move |found, session, ctx| {
                        let joining = session
                            .chat
                            .as_ref()
                            .is_some_and(|chat| matches!(chat.membership, Membership::Joining));
                        if !joining {
                            return; // left meanwhile
                        }
                        session.set_membership(Membership::Out);
                        match found {
                            // The store is down: let the visitor in to
                            // read; each message is checked again.
                            Ok(None) | Err(StoreError::Unavailable(_)) => {
                                session.enter(namespace, ack, Some(email), false, ctx)
                            }
                            Ok(Some(_)) => {
                                let refusal = ValidationError::new("user", ACCOUNT_EMAIL).into();
                                session.answer(&namespace, ack, Err(refusal), ctx);
                            }
                            Err(error) => {
                                let refusal =
                                    Refusal::new(format!("join failed: {}", error.client_message()));
                                session.answer(&namespace, ack, Err(refusal), ctx);
                            }
                        }
                    })
                    .spawn(ctx);
            }
        }
    }

    fn set_membership(&mut self, membership: Membership) {
        if let Some(chat) = &mut self.chat {
            chat.membership = membership;
        }
    }

    fn enter(
        &mut self,
        namespace: String,
        ack: Option<u64>,
        user: Option<Email>,
        verified: bool,
        ctx: &mut Context<Self>,
    ) {
        let Some(chat) = &mut self.chat else { return };
        chat.membership = Membership::Member(user.clone());
        let id = chat.id;
        // Acknowledged first; `history` and `presence` follow.
        self.answer(&namespace, ack, Ok(json!({ "user": user })), ctx);
        self.deps.chat_room.do_send(Join {
            id,
            user,
            verified,
            session: ctx.address().recipient(),
        });
    }

    fn post(&mut self, namespace: String, ack: Option<u64>, data: &Value, ctx: &mut Context<Self>) {
        let user = match self.chat.as_ref().map(|chat| &chat.membership) {
            Some(Membership::Member(Some(user))) => user.clone(),
            Some(Membership::Member(None)) => {
                let refusal = Refusal::new("log in to chat: visitors may only read here");
                return self.answer(&namespace, ack, Err(refusal), ctx);
            }
            _ => return self.answer(&namespace, ack, Err(Refusal::new("join first")), ctx),
        };
        let message = match NewMessage::parse(user, data, self.deps.settings.chat.max_message_chars) {
            Ok(message) => message,
            Err(error) => return self.answer(&namespace, ack, Err(error.into()), ctx),
        };
        let verified = self.identity.chat.is_some();
        let room = self.deps.chat_room.clone();
        let post = async move {
            match room.send(PostMessage { message, verified }).await {
                Ok(Ok(stored)) => Ok(json!(stored)),
                Ok(Err(error)) => Err(Refusal::new(format!(
                    "message not sent: {}",
                    error.client_message()
                ))),
                Err(_) => Err(Refusal::new("message not sent: the chat is unavailable")),
            }
        };
        self.answer_later(namespace, ack, post, ctx);
    }
}

/// Why an event was refused: what the client is told.
pub struct Refusal {
    error: String,
    field: Option<String>,
}

impl Refusal {
    fn new(error: impl Into<String>) -> Refusal {
        Refusal {
            error: error.into(),
            field: None,
        }
    }

    fn ack(&self) -> Value {
        json!({"status": "error", "error": self.error, "field": self.field})
    }

    fn event(&self) -> Value {
        match &self.field {
            Some(field) => json!({"error": self.error, "field": field}),
            None => json!({"error": self.error}),
        }
    }
}

impl From<ValidationError> for Refusal {
    fn from(error: ValidationError) -> Refusal {
        Refusal {
            error: error.message,
            field: Some(error.field),
        }
    }
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Refusal {
        Refusal::new(error.client_message())
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Refusal {
        Refusal::new(error.client_message())
    }
}

/// A random id for sessions and sockets (not guessable: a session id
/// gives access to its queued packets).
fn random_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

impl Actor for SocketIoSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.metrics.sessions.inc();
        ctx.set_mailbox_capacity(self.deps.settings.websocket.outbound_queue);
        self.deps.sessions.insert(self.sid.clone(), ctx.address());
        ctx.run_interval(
            self.deps.settings.websocket.heartbeat_interval(),
            |session, ctx| session.heartbeat(ctx),
        );
        let mut shutdown = self.shutdown.clone();
        let going_away = async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        };
        ctx.spawn(
            going_away
                .into_actor(self)
                .map(|_, session, ctx| session.close(CloseReason::Shutdown, ctx)),
        );
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.metrics.sessions.dec();
        self.metrics.closed(self.close_reason);
        self.deps.sessions.remove(&self.sid);
        for namespace in ["/", "/products", "/chat"] {
            self.disconnect(namespace);
        }
        match std::mem::replace(
            &mut self.transport,
            Transport::Polling {
                waiter: None,
                upgrading: false,
            },
        ) {
            // A waiting poll learns the session is closed.
            Transport::Polling {
                waiter: Some(waiter), ..
            } => {
                let _ = waiter.send(CLOSE.to_owned());
            }
            Transport::WebSocket(socket) => {
                socket.do_send(SocketWrite::Close(actix_web_actors::ws::CloseCode::Normal))
            }
            Transport::Polling { waiter: None, .. } => {}
        }
    }
}

impl Handler<Outbound> for SocketIoSession {
    type Result = ();

    fn handle(&mut self, item: Outbound, ctx: &mut Context<Self>) {
        match item {
            Outbound::Frame(frame) => self.send(frame.socketio_packet(), ctx),
            Outbound::CloseTooSlow => self.close(CloseReason::SlowConsumer, ctx),
        }
    }
}

impl Handler<Poll> for SocketIoSession {
    type Result = ResponseFuture<Result<String, EngineError>>;

    fn handle(&mut self, _: Poll, ctx: &mut Context<Self>) -> Self::Result {
        let Transport::Polling { waiter, upgrading } = &mut self.transport else {
            // Upgraded: a late poll gets a noop.
            return Box::pin(async { Ok(NOOP.to_owned()) });
        };
        if *upgrading && self.outbox.is_empty() {
            return Box::pin(async { Ok(NOOP.to_owned()) });
        }
        if waiter.is_some() {
            self.close(CloseReason::ProtocolError, ctx);
            return Box::pin(async { Err(EngineError::OverlappingPoll) });
        }
        let (sender, receiver) = oneshot::channel();
        if self.outbox.is_empty() {
            *waiter = Some(sender);
        } else {
            self.flush_to(sender);
        }
        Box::pin(async move { Ok(receiver.await.unwrap_or_else(|_| CLOSE.to_owned())) })
    }
}

impl Handler<ClientPackets> for SocketIoSession {
    type Result = Result<(), EngineError>;

    fn handle(&mut self, ClientPackets(body): ClientPackets, ctx: &mut Context<Self>) -> Self::Result {
        for text in body.split(RECORD_SEPARATOR) {
            if let Err(error) = self.receive(text, ctx) {
                log::debug!("socket.io client {} sent a bad packet: {error}", self.sid);
                self.close(CloseReason::ProtocolError, ctx);
                return Err(error);
            }
        }
        Ok(())
    }
}

impl Handler<Probed> for SocketIoSession {
    type Result = ();

    fn handle(&mut self, _: Probed, _: &mut Context<Self>) {
        if let Transport::Polling { waiter, upgrading } = &mut self.transport {
            *upgrading = true;
            if let Some(waiter) = waiter.take() {
                let _ = waiter.send(NOOP.to_owned());
            }
        }
    }
}

impl Handler<UseWebSocket> for SocketIoSession {
    type Result = ();

    fn handle(&mut self, upgrade: UseWebSocket, ctx: &mut Context<Self>) {
        let previous = std::mem::replace(&mut self.transport, Transport::WebSocket(upgrade.socket));
        if let Transport::Polling {
            waiter: Some(waiter), ..
        } = previous
        {
            let _ = waiter.send(NOOP.to_owned());
        }
        if upgrade.send_open {
            let open = self.open_packet(false);
            self.send_text(open, ctx);
        }
        // What was queued for the next poll goes by the WebSocket now.
        for packet in std::mem::take(&mut self.outbox) {
            self.send(packet, ctx);
        }
    }
}

impl Handler<TransportClosed> for SocketIoSession {
    type Result = ();

    fn handle(&mut self, _: TransportClosed, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
