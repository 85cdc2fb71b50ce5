//! `SocketIoSession`: one Socket.IO client, whatever its transport. It
//! carries an Engine.IO session on its `Wire` (`polling`: long-polling that
//! may upgrade; `direct`: a WebSocket from the start) with its heartbeats,
//! reads the Socket.IO packets inside it strictly in arrival order, and
//! hands each event to the endpoint of its namespace (`Namespaces`), answering with an acknowledgement or an `error` event.
//! It takes part in the same rooms as the plain sockets:
//! `ProductFeed` owns it for `/products` (and `/` for `update_products`),
//! `ChatRoom` for `/chat`. Their frames arrive as `Outbound` and leave in
//! their Socket.IO encoding, made once per broadcast. Rate limits, the
//! outbound bound and the session limits are the plain sockets'.

use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_web_actors::ws::CloseCode;
use bytestring::ByteString;

use serde_json::Value;

use super::namespaces::{Namespaces, Rooms, SocketIoIdentity, NAMESPACES};
use super::packet::{self, Packet, SocketPacket, SocketPacketKind};
use super::recovery::Recoveries;
use crate::configuration::Settings;
use crate::metrics::CloseReason;
use crate::realtime::endpoint::{detach, Continue, Endpoint, Step};
use crate::realtime::engine::packet::{self as engine_packet, EnginePacket};
use crate::realtime::engine::transport::Sent;
use crate::realtime::engine::{Engine, EngineError, EngineSessions, Heartbeat};
use crate::realtime::limits::SessionSlot;
use crate::realtime::ordered::InOrder;
use crate::realtime::outbound::Outbound;
use crate::realtime::reply::{Outcome, Refusal};
use crate::realtime::session::{RateDecision, RateLimiter, SessionContext};

/// The live polling sessions, by Engine.IO session id (the HTTP requests
/// and upgrades that name one find it here).
/// A handshake keeps who the client is until its first request starts the
/// session.
pub type SocketIoSessions = EngineSessions<SocketIoSession<Engine>, SocketIoIdentity>;

/// What every Socket.IO session is given.
#[derive(Clone)]
pub struct SocketIoDeps {
    /// Shared by every session (`[websocket]` and `[chat]` apply).
    pub settings: Arc<Settings>,
    pub rooms: Rooms,
    /// Where namespace connections park their state for recovery.
    pub recoveries: Arc<Recoveries>,
    pub sessions: Arc<SocketIoSessions>,
    pub context: SessionContext,
}

/// What a session writes its packets through, and the actor context it
/// runs in: `polling::Engine` for a session that began with long-polling
/// (it may upgrade), `direct::Direct` for one that began on a WebSocket.
pub trait Wire: Unpin + Sized + 'static {
    type Context: ActorContext
        + AsyncContext<SocketIoSession<Self>>
        + ToEnvelope<SocketIoSession<Self>, Outbound>
        + ToEnvelope<SocketIoSession<Self>, Continue<SocketIoSession<Self>>>;

    /// The Engine.IO session id.
    fn sid(&self) -> &str;

    /// Sends one packet.
    fn send(&mut self, packet: ByteString, ctx: &mut Self::Context) -> Sent;

    /// Sends several packets as one item of the queue (a replay).
    fn send_all(&mut self, packets: impl Iterator<Item = ByteString>, ctx: &mut Self::Context) -> Sent;

    /// Tells the client the session is over (the session then stops).
    fn close(&mut self, code: CloseCode, ctx: &mut Self::Context);

    /// The session started: bound its mailbox, make it reachable.
    fn started(session: &mut SocketIoSession<Self>, ctx: &mut Self::Context);

    /// The session stopped.
    fn stopped(session: &mut SocketIoSession<Self>);
}

pub struct SocketIoSession<W: Wire> {
    /// Shared by every session of an HTTP worker.
    pub(super) deps: Arc<SocketIoDeps>,
    pub(super) identity: SocketIoIdentity,
    pub(super) wire: W,
    heartbeat: Heartbeat,
    pub(super) namespaces: Namespaces,
    /// Packets are handled strictly in arrival order.
    pub(super) order: InOrder<Packet>,
    limiter: RateLimiter,
    close_reason: CloseReason,
    _slot: SessionSlot,
}

impl<W: Wire> SocketIoSession<W> {
    pub(super) fn new(
        deps: Arc<SocketIoDeps>,
        identity: SocketIoIdentity,
        slot: SessionSlot,
        wire: W,
    ) -> Self {
        let settings = &deps.settings.websocket;
        let limiter = RateLimiter::new(settings.rate_per_second, settings.rate_burst);
        SocketIoSession {
            deps,
            identity,
            wire,
            heartbeat: Heartbeat::default(),
            namespaces: Namespaces::default(),
            order: InOrder::default(),
            limiter,
            close_reason: CloseReason::Client,
            _slot: slot,
        }
    }

    /// The Engine.IO open packet of this session.
    pub fn open_packet(&self, upgrades: bool) -> String {
        engine_packet::open(self.wire.sid(), upgrades, &self.deps.settings.websocket)
    }

    fn ping_timeout(&self) -> Duration {
        Duration::from_millis(engine_packet::ping_timeout_ms(&self.deps.settings.websocket).max(1000))
    }

    /// Sends one packet by the current transport. A client whose queue is
    /// full is closed, as on the plain sockets.
    fn send(&mut self, packet: ByteString, ctx: &mut W::Context) {
        let sent = self.wire.send(packet, ctx);
        self.sent(sent, ctx);
    }

    pub(super) fn sent(&mut self, sent: Sent, ctx: &mut W::Context) {
        match sent {
            Sent::Ok => {}
            Sent::TooSlow => self.close(CloseReason::SlowConsumer, ctx),
            Sent::Closed => ctx.stop(),
        }
    }

    pub(super) fn send_text(&mut self, packet: String, ctx: &mut W::Context) {
        self.send(ByteString::from(packet), ctx);
    }

    pub(super) fn close(&mut self, reason: CloseReason, ctx: &mut W::Context) {
        self.close_reason = reason;
        let code = match reason {
            CloseReason::Shutdown => CloseCode::Away,
            CloseReason::SlowConsumer => CloseCode::Policy,
            _ => CloseCode::Normal,
        };
        self.wire.close(code, ctx);
        ctx.stop();
    }

    /// Every heartbeat interval: a ping, which must be answered within the
    /// ping timeout.
    fn heartbeat(&mut self, ctx: &mut W::Context) {
        let Some(ping) = self.heartbeat.ping() else {
            return; // the last ping is still unanswered; its timer decides
        };
        self.send_text(ping.to_owned(), ctx);
        let timeout = self.ping_timeout();
        ctx.run_later(timeout, move |session, ctx| {
            if session.heartbeat.expired(timeout) {
                log::debug!("socket.io client {} timed out", session.wire.sid());
                session.close(CloseReason::Timeout, ctx);
            }
        });
    }

    /// One Engine.IO packet from the client.
    fn receive(&mut self, text: &str, ctx: &mut W::Context) -> Result<(), EngineError> {
        match EnginePacket::parse(text).map_err(EngineError::BadPacket)? {
            EnginePacket::Pong(_) => self.heartbeat.ponged(),
            EnginePacket::Ping(data) => self.send_text(format!("3{data}"), ctx),
            EnginePacket::Close => self.close(CloseReason::Client, ctx),
            EnginePacket::Upgrade | EnginePacket::Noop => {}
            EnginePacket::Message(message) => self.on_message(message, ctx)?,
        }
        Ok(())
    }

    /// One Socket.IO packet (an Engine.IO message) from the client.
    fn on_message(&mut self, text: &str, ctx: &mut W::Context) -> Result<(), EngineError> {
        let packet = Packet::from(SocketPacket::parse(text).map_err(EngineError::BadPacket)?);
        // Every packet counts against the rate limit, as every frame does
        // on the plain sockets; only an event's refusal is worth a reply.
        match self.limiter.check() {
            RateDecision::Allow => {}
            RateDecision::RejectAndWarn if packet.kind == SocketPacketKind::Event => {
                let limit = self.deps.settings.websocket.rate_per_second;
                let refusal = Refusal::new(format!(
                    "rate limit exceeded ({limit} events/s): events are being dropped"
                ));
                self.answer(&packet.namespace, packet.ack, Err(refusal), ctx);
                return Ok(());
            }
            RateDecision::RejectAndWarn | RateDecision::Reject => return Ok(()),
        }
        let (namespace, ack) = (packet.namespace.clone(), packet.ack);
        match self.order.arrive(packet, text.len()) {
            Ok(Some(packet)) => self.run(packet, ctx),
            Ok(None) => {}
            Err(overflow) => self.answer(&namespace, ack, Err(Refusal::new(overflow.to_string())), ctx),
        }
        Ok(())
    }

    /// Packets a client sent (a POST body, or one WebSocket frame). A bad
    /// one closes the session.
    pub(super) fn client_packets(&mut self, body: &str, ctx: &mut W::Context) -> Result<(), EngineError> {
        for text in engine_packet::split_payload(body) {
            if let Err(error) = self.receive(text, ctx) {
                log::debug!("socket.io client {} sent a bad packet: {error}", self.wire.sid());
                self.close(CloseReason::ProtocolError, ctx);
                return Err(error);
            }
        }
        Ok(())
    }

    fn run(&mut self, packet: Packet, ctx: &mut W::Context) {
        let Packet {
            kind,
            namespace,
            ack,
            data,
        } = packet;
        match kind {
            SocketPacketKind::Connect => self.connect(namespace, data, ctx),
            SocketPacketKind::Disconnect => {
                // Left on purpose: nothing to recover.
                if let Some(pid) = self.namespaces.pid(&namespace) {
                    self.deps.recoveries.forget(pid);
                }
                self.namespaces.disconnect(&namespace, &self.deps.rooms);
            }
            SocketPacketKind::Ack => {} // the server asks for no acks
            SocketPacketKind::Event => {
                let mut arguments = match data {
                    Some(Value::Array(arguments)) => arguments.into_iter(),
                    _ => Vec::new().into_iter(),
                };
                let Some(Value::String(name)) = arguments.next() else {
                    let refusal = Refusal::new("an event is [\"<name>\", <data>]");
                    return self.answer(&namespace, ack, Err(refusal), ctx);
                };
                let data = arguments.next().unwrap_or(Value::Null);
                match namespace.as_str() {
                    "/products" => self.drive(Namespaces::products, namespace, ack, &name, &data, ctx),
                    "/chat" => self.drive(Namespaces::chat, namespace, ack, &name, &data, ctx),
                    other => {
                        let refusal = Refusal::unknown_event(format!(
                            "unknown event {name:?}: {other} accepts no events (it only sends update_products)"
                        ));
                        self.answer(&namespace, ack, Err(refusal), ctx);
                    }
                }
            }
        }
    }

    /// Runs the packets that waited, until one of them must be waited for.
    pub(super) fn run_waiting(&mut self, ctx: &mut W::Context) {
        while let Some(packet) = self.order.next_ready() {
            self.run(packet, ctx);
        }
    }

    /// Hands an event to the namespace's endpoint and answers with its
    /// outcome, now or when its work is done.
    pub(super) fn drive<E: Endpoint>(
        &mut self,
        endpoint_of: fn(&mut Namespaces) -> Option<&mut E>,
        namespace: String,
        ack: Option<u64>,
        name: &str,
        data: &Value,
        ctx: &mut W::Context,
    ) {
        let Some(endpoint) = endpoint_of(&mut self.namespaces) else {
            let refusal = Refusal::new(format!("connect to {namespace} first"));
            return self.answer(&namespace, ack, Err(refusal), ctx);
        };
        let step = endpoint.on_event(name, data, || ctx.address().recipient());
        self.step(endpoint_of, namespace, ack, step, ctx);
    }

    /// Answers an event now, or once its work is done.
    fn step<E: Endpoint>(
        &mut self,
        endpoint_of: fn(&mut Namespaces) -> Option<&mut E>,
        namespace: String,
        ack: Option<u64>,
        step: Step<E::Resume>,
        ctx: &mut W::Context,
    ) {
        // What the event changed (a join, a leave, a watch) happened by
        // now: park it for recovery.
        self.park(&namespace);
        match step {
            Step::Done(outcome) => self.answer(&namespace, ack, outcome, ctx),
            Step::Answer(work) => detach(work, ctx.address(), move |session: &mut Self, ctx, outcome| {
                session.answer(&namespace, ack, outcome, ctx)
            }),
            Step::Wait(work) => {
                self.order.hold();
                detach(work, ctx.address(), move |session: &mut Self, ctx, resume| {
                    session.order.finish();
                    if let Some(endpoint) = endpoint_of(&mut session.namespaces) {
                        let step = endpoint.resume(resume, || ctx.address().recipient());
                        session.step(endpoint_of, namespace, ack, step, ctx);
                    }
                    session.run_waiting(ctx);
                });
            }
        }
    }

    fn answer(&mut self, namespace: &str, ack: Option<u64>, outcome: Outcome, ctx: &mut W::Context) {
        if let Err(refusal) = &outcome {
            if refusal.is_unknown_event() {
                // As socket.io does: an event nobody listens to is ignored.
                log::debug!("socket.io {namespace}: ignored: {}", refusal.error);
                return;
            }
        }
        if let Some(reply) = packet::answer(namespace, ack, outcome) {
            self.send_text(reply, ctx);
        }
    }
}

impl<W: Wire> Actor for SocketIoSession<W> {
    type Context = W::Context;

    fn started(&mut self, ctx: &mut W::Context) {
        self.deps.context.metrics.sessions.inc();
        W::started(self, ctx);
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

    fn stopped(&mut self, _: &mut W::Context) {
        let metrics = &self.deps.context.metrics;
        metrics.sessions.dec();
        metrics.closed(self.close_reason);
        // What the connections did last, for their recovery.
        for namespace in NAMESPACES {
            self.park(namespace);
        }
        self.namespaces.close_all(&self.deps.rooms);
        W::stopped(self);
    }
}

impl<W: Wire> Handler<Continue<SocketIoSession<W>>> for SocketIoSession<W> {
    type Result = ();

    fn handle(&mut self, Continue(then): Continue<Self>, ctx: &mut W::Context) {
        then(self, ctx);
    }
}

impl<W: Wire> Handler<Outbound> for SocketIoSession<W> {
    type Result = ();

    fn handle(&mut self, item: Outbound, ctx: &mut W::Context) {
        match item {
            Outbound::Frame(frame) => {
                if let Some(offset) = frame.offset().filter(|_| frame.is_state_event()) {
                    self.namespaces.cart_delivered(offset);
                }
                self.send(frame.socketio_packet(), ctx);
            }
            Outbound::Frames(frames) => {
                let sent = self
                    .wire
                    .send_all(frames.iter().map(|frame| frame.socketio_packet()), ctx);
                self.sent(sent, ctx);
            }
            Outbound::CloseTooSlow => self.close(CloseReason::SlowConsumer, ctx),
        }
    }
}
