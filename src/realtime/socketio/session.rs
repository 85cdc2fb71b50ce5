//! `SocketIoSession`: one Socket.IO client, whatever its transport. It
//! carries an Engine.IO session (`Engine`: polling or WebSocket, the
//! upgrade, heartbeats) and the Socket.IO namespaces the client joined
//! (`namespaces`), and takes part in the same rooms as the plain sockets:
//! `ProductFeed` owns it for `/products` (and `/` for `update_products`),
//! `ChatRoom` for `/chat`. Their frames arrive as `Outbound` and leave in
//! their Socket.IO encoding, made once per broadcast. Rate limits, the
//! outbound bound and the session limits are the plain sockets'.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws::CloseCode;
use bytestring::ByteString;

use super::namespaces::{Namespaces, Packet};
use crate::auth::Accounts;
use crate::configuration::Settings;
use crate::domain::{Email, User};
use crate::metrics::CloseReason;
use crate::realtime::chat::ChatRoom;
use crate::realtime::engine::packet::{self as engine_packet, EnginePacket, CLOSE};
use crate::realtime::engine::transport::{PollAnswer, Sent};
use crate::realtime::engine::{
    ClientPackets, Engine, EngineError, EngineHost, EngineSessions, Poll, Probed, TransportClosed,
    UseWebSocket,
};
use crate::realtime::limits::SessionSlot;
use crate::realtime::ordered::InOrder;
use crate::realtime::outbound::Outbound;
use crate::realtime::products::ProductFeed;
use crate::realtime::session::{RateLimiter, SessionContext};
use crate::store::MongoStore;

/// The live Socket.IO sessions, by Engine.IO session id.
pub type SocketIoSessions = EngineSessions<SocketIoSession>;

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
    pub(super) deps: SocketIoDeps,
    pub(super) identity: SocketIoIdentity,
    engine: Engine,
    pub(super) namespaces: Namespaces,
    /// Packets are handled strictly in arrival order.
    pub(super) order: InOrder<Packet>,
    pub(super) limiter: RateLimiter,
    close_reason: CloseReason,
    _slot: SessionSlot,
}

impl SocketIoSession {
    pub fn new(deps: SocketIoDeps, identity: SocketIoIdentity, slot: SessionSlot) -> Self {
        let settings = &deps.settings.websocket;
        let limiter = RateLimiter::new(settings.rate_per_second, settings.rate_burst);
        let engine = Engine::new(
            engine_packet_sid(),
            settings.outbound_queue,
            deps.context.metrics.frames_sent.clone(),
        );
        SocketIoSession {
            deps,
            identity,
            engine,
            namespaces: Namespaces::default(),
            order: InOrder::default(),
            limiter,
            close_reason: CloseReason::Client,
            _slot: slot,
        }
    }

    /// The Engine.IO open packet of this session.
    pub fn open_packet(&self, upgrades: bool) -> String {
        engine_packet::open(self.engine.sid(), upgrades, &self.deps.settings.websocket)
    }

    fn ping_timeout(&self) -> Duration {
        Duration::from_millis(engine_packet::ping_timeout_ms(&self.deps.settings.websocket).max(1000))
    }

    /// Sends one packet by the current transport. A client whose queue is
    /// full is closed, as on the plain sockets.
    pub(super) fn send(&mut self, packet: ByteString, ctx: &mut Context<Self>) {
        match self.engine.send(packet) {
            Sent::Ok => {}
            Sent::TooSlow => self.close(CloseReason::SlowConsumer, ctx),
            Sent::Closed => ctx.stop(),
        }
    }

    pub(super) fn send_text(&mut self, packet: String, ctx: &mut Context<Self>) {
        self.send(ByteString::from(packet), ctx);
    }

    pub(super) fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.close_reason = reason;
        self.engine.close(match reason {
            CloseReason::Shutdown => CloseCode::Away,
            CloseReason::SlowConsumer => CloseCode::Policy,
            _ => CloseCode::Normal,
        });
        ctx.stop();
    }

    /// Every heartbeat interval: a ping, which must be answered within the
    /// ping timeout.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let Some(ping) = self.engine.ping() else {
            return; // the last ping is still unanswered; its timer decides
        };
        self.send_text(ping.to_owned(), ctx);
        let timeout = self.ping_timeout();
        ctx.run_later(timeout, move |session, ctx| {
            if session.engine.ping_expired(timeout) {
                log::debug!("socket.io client {} timed out", session.engine.sid());
                session.close(CloseReason::Timeout, ctx);
            }
        });
    }

    /// One Engine.IO packet from the client.
    fn receive(&mut self, text: &str, ctx: &mut Context<Self>) -> Result<(), EngineError> {
        match EnginePacket::parse(text).map_err(EngineError::BadPacket)? {
            EnginePacket::Pong(_) => self.engine.ponged(),
            EnginePacket::Ping(data) => self.send_text(format!("3{data}"), ctx),
            EnginePacket::Close => self.close(CloseReason::Client, ctx),
            EnginePacket::Upgrade | EnginePacket::Noop => {}
            EnginePacket::Message(message) => self.on_message(message, ctx)?,
        }
        Ok(())
    }
}

/// A session id: random, not guessable.
fn engine_packet_sid() -> String {
    crate::realtime::engine::registry::random_id()
}

impl EngineHost for SocketIoSession {}

impl Actor for SocketIoSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.deps.context.metrics.sessions.inc();
        ctx.set_mailbox_capacity(self.deps.settings.websocket.outbound_queue);
        self.deps
            .sessions
            .insert(self.engine.sid().to_owned(), ctx.address());
        ctx.run_interval(
            self.deps.settings.websocket.heartbeat_interval(),
            |session, ctx| session.heartbeat(ctx),
        );
        ctx.spawn(
            self.deps
                .context
                .going_away()
                .into_actor(self)
                .map(|_, session, ctx| session.close(CloseReason::Shutdown, ctx)),
        );
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let metrics = &self.deps.context.metrics;
        metrics.sessions.dec();
        metrics.closed(self.close_reason);
        self.deps.sessions.remove(self.engine.sid());
        self.namespaces.close_all(&self.deps);
        // A waiting poll learns the session is closed; a WebSocket closes.
        self.engine.close(CloseCode::Normal);
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
        match self.engine.poll() {
            Ok(PollAnswer::Now(body)) => Box::pin(async { Ok(body) }),
            Ok(PollAnswer::Later(body)) => {
                Box::pin(async move { Ok(body.await.unwrap_or_else(|_| CLOSE.to_owned())) })
            }
            Err(error) => {
                self.close(CloseReason::ProtocolError, ctx);
                Box::pin(async { Err(error) })
            }
        }
    }
}

impl Handler<ClientPackets> for SocketIoSession {
    type Result = Result<(), EngineError>;

    fn handle(&mut self, ClientPackets(body): ClientPackets, ctx: &mut Context<Self>) -> Self::Result {
        for text in engine_packet::split_payload(&body) {
            if let Err(error) = self.receive(text, ctx) {
                log::debug!(
                    "socket.io client {} sent a bad packet: {error}",
                    self.engine.sid()
                );
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
        self.engine.probed();
    }
}

impl Handler<UseWebSocket> for SocketIoSession {
    type Result = ();

    fn handle(&mut self, upgrade: UseWebSocket, ctx: &mut Context<Self>) {
        let open = upgrade.send_open.then(|| self.open_packet(false));
        match self.engine.use_websocket(upgrade.socket, open) {
            Sent::Ok => {}
            Sent::TooSlow => self.close(CloseReason::SlowConsumer, ctx),
            Sent::Closed => ctx.stop(),
        }
    }
}

impl Handler<TransportClosed> for SocketIoSession {
    type Result = ();

    fn handle(&mut self, _: TransportClosed, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
