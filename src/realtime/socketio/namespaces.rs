//! The Socket.IO layer of a session: packets in arrival order, the
//! namespaces a client connects to, events handed to the room endpoints,
//! and acknowledgements.
//! - `/products`: a `ProductClient` (the plain `/ws/products` rules);
//! - `/chat`: a `ChatClient` (the plain `/ws/chat` rules);
//! - `/`: `update_products` only.
//!
//! An event emitted with an acknowledgement callback is acked with
//! `{status: "success", payload}` or `{status: "error", error, field}`;
//! without one, a refusal comes as an `error` event, as on the plain
//! sockets.

use actix::prelude::*;
use serde_json::{json, Value};

use super::packet::{self, SocketPacket, SocketPacketKind};
use super::session::{SocketIoDeps, SocketIoSession};
use crate::realtime::chat::ChatClient;
use crate::realtime::endpoint::{Endpoint, Step};
use crate::realtime::engine::registry::random_id;
use crate::realtime::engine::EngineError;
use crate::realtime::outbound::{next_session_id, SessionId};
use crate::realtime::products::feed::{SubscribeUpdates, Unsubscribe};
use crate::realtime::products::ProductClient;
use crate::realtime::reply::{Outcome, Refusal};
use crate::realtime::session::RateDecision;

/// The namespaces a client is connected to.
#[derive(Default)]
pub struct Namespaces {
    /// `/`: the feed subscription for `update_products`.
    root: Option<SessionId>,
    products: Option<ProductClient>,
    chat: Option<ChatClient>,
}

impl Namespaces {
    /// The session ended: leaves every namespace.
    pub fn close_all(&mut self, deps: &SocketIoDeps) {
        for namespace in ["/", "/products", "/chat"] {
            self.disconnect(namespace, deps);
        }
    }

    fn disconnect(&mut self, namespace: &str, deps: &SocketIoDeps) {
        match namespace {
            "/" => {
                if let Some(id) = self.root.take() {
                    deps.product_feed.do_send(Unsubscribe { id });
                }
            }
            "/products" => {
                if let Some(mut products) = self.products.take() {
                    products.close();
                }
            }
            "/chat" => {
                if let Some(mut chat) = self.chat.take() {
                    chat.close();
                }
            }
            _ => {}
        }
    }
}

/// A client packet waiting its turn.
pub struct Packet {
    kind: SocketPacketKind,
    namespace: String,
    ack: Option<u64>,
    data: Option<Value>,
}

impl SocketIoSession {
    /// One Socket.IO packet (an Engine.IO message) from the client.
    pub(super) fn on_message(&mut self, text: &str, ctx: &mut Context<Self>) -> Result<(), EngineError> {
        let parsed = SocketPacket::parse(text).map_err(EngineError::BadPacket)?;
        let packet = Packet {
            kind: parsed.kind,
            namespace: parsed.namespace.to_owned(),
            ack: parsed.ack,
            data: parsed.data,
        };
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

    fn run(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        let Packet {
            kind,
            namespace,
            ack,
            data,
        } = packet;
        match kind {
            SocketPacketKind::Connect => self.connect(&namespace, ctx),
            SocketPacketKind::Disconnect => self.namespaces.disconnect(&namespace, &self.deps),
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
                self.on_event(namespace, ack, &name, data, ctx);
            }
        }
    }

    /// Runs the packets that waited, until one of them must be waited for.
    fn run_waiting(&mut self, ctx: &mut Context<Self>) {
        while let Some(packet) = self.order.release() {
            self.run(packet, ctx);
            if self.order.is_held() {
                break;
            }
        }
    }

    fn connect(&mut self, namespace: &str, ctx: &mut Context<Self>) {
        let deps = &self.deps;
        match namespace {
            "/" if self.namespaces.root.is_none() => {
                let id = next_session_id();
                self.namespaces.root = Some(id);
                deps.product_feed.do_send(SubscribeUpdates {
                    id,
                    session: ctx.address().recipient(),
                });
            }
            "/products" if self.namespaces.products.is_none() => {
                let mut products = ProductClient::new(
                    deps.product_feed.clone(),
                    deps.store.clone(),
                    deps.accounts.clone(),
                    self.identity.viewer.clone(),
                );
                // Connected first, then the snapshot (it comes through the
                // mailbox, after this).
                self.send_text(packet::connected(namespace, &random_id()), ctx);
                products.open(ctx.address().recipient());
                self.namespaces.products = Some(products);
                return;
            }
            "/chat" if self.namespaces.chat.is_none() => {
                self.namespaces.chat = Some(ChatClient::new(
                    deps.chat_room.clone(),
                    deps.store.clone(),
                    &deps.settings.chat,
                    self.identity.chat.clone(),
                ));
            }
            "/" | "/products" | "/chat" => {} // already connected: say so again
            _ => return self.send_text(packet::connect_error(namespace, "Invalid namespace"), ctx),
        }
        self.send_text(packet::connected(namespace, &random_id()), ctx);
    }

    fn on_event(
        &mut self,
        namespace: String,
        ack: Option<u64>,
        name: &str,
        data: Value,
        ctx: &mut Context<Self>,
    ) {
        match namespace.as_str() {
            "/products" => self.drive(|n| n.products.as_mut(), namespace, ack, name, &data, ctx),
            "/chat" => self.drive(|n| n.chat.as_mut(), namespace, ack, name, &data, ctx),
            other => {
                let refusal = Refusal::new(format!(
                    "unknown event {name:?}: {other} accepts no events (it only sends update_products)"
                ));
                self.answer(&namespace, ack, Err(refusal), ctx);
            }
        }
    }

    /// Hands an event to the namespace's endpoint and answers with its
    /// outcome, now or when its work is done.
    fn drive<E: Endpoint>(
        &mut self,
        endpoint_of: fn(&mut Namespaces) -> Option<&mut E>,
        namespace: String,
        ack: Option<u64>,
        name: &str,
        data: &Value,
        ctx: &mut Context<Self>,
    ) {
        let Some(endpoint) = endpoint_of(&mut self.namespaces) else {
            let refusal = Refusal::new(format!("connect to {namespace} first"));
            return self.answer(&namespace, ack, Err(refusal), ctx);
        };
        match endpoint.on_event(name, data, || ctx.address().recipient()) {
            Step::Done(outcome) => self.answer(&namespace, ack, outcome, ctx),
            Step::Answer(work) => {
                work.into_actor(self)
                    .map(move |outcome, session, ctx| session.answer(&namespace, ack, outcome, ctx))
                    .spawn(ctx);
            }
            Step::Wait(work) => {
                self.order.hold();
                work.into_actor(self)
                    .map(move |resume, session, ctx| {
                        if let Some(endpoint) = endpoint_of(&mut session.namespaces) {
                            let outcome = endpoint.resume(resume, || ctx.address().recipient());
                            session.answer(&namespace, ack, outcome, ctx);
                        }
                        session.run_waiting(ctx);
                    })
                    .spawn(ctx);
            }
        }
    }

    /// Answers an event: with its acknowledgement if the client asked for
    /// one, else a refusal as an `error` event, as the plain sockets do.
    fn answer(&mut self, namespace: &str, ack: Option<u64>, outcome: Outcome, ctx: &mut Context<Self>) {
        let reply = match (ack, outcome) {
            (Some(id), Ok(payload)) => {
                packet::ack(namespace, id, &json!({"status": "success", "payload": payload}))
            }
            (Some(id), Err(refusal)) => packet::ack(namespace, id, &refusal.ack()),
            (None, Ok(_)) => return,
            (None, Err(refusal)) => packet::event(namespace, "error", &refusal.event_data()),
        };
        self.send_text(reply, ctx);
    }
}
