//! `WsSession<E>`: one plain WebSocket connection (`/ws/chat`,
//! `/ws/products`): text frames carrying `{"event", "data"}` both ways. Its
//! events go to the room's endpoint (`ChatClient`, `ProductClient`) strictly
//! in arrival order; a refusal comes back as an `error` event and the
//! session stays open; successes show in the room's broadcasts. The
//! connection mechanics (heartbeats, limits, close) are `Connection`'s.

use actix::prelude::*;
use actix_web_actors::ws::{self, WebsocketContext};
use bytestring::ByteString;

use super::connection::{Connection, Incoming};
use crate::configuration::WebSocketSettings;
use crate::realtime::chat::ChatClient;
use crate::realtime::endpoint::{detach, Continue, Endpoint, Step};
use crate::realtime::limits::SessionSlot;
use crate::realtime::ordered::InOrder;
use crate::realtime::outbound::Outbound;
use crate::realtime::products::ProductClient;
use crate::realtime::protocol::ClientEvent;
use crate::realtime::reply::Outcome;
use crate::realtime::session::SessionContext;

pub struct WsSession<E: Endpoint> {
    connection: Connection,
    endpoint: E,
    order: InOrder<ClientEvent>,
}

/// A `/ws/chat` connection.
pub type ChatSession = WsSession<ChatClient>;
/// A `/ws/products` connection.
pub type ProductSession = WsSession<ProductClient>;

impl<E: Endpoint> WsSession<E> {
    pub fn new(
        settings: &WebSocketSettings,
        endpoint: E,
        context: SessionContext,
        slot: SessionSlot,
    ) -> Self {
        WsSession {
            connection: Connection::new(settings, context, slot),
            endpoint,
            order: InOrder::default(),
        }
    }

    fn arrive(&mut self, text: &ByteString, ctx: &mut WebsocketContext<Self>) {
        let event = match ClientEvent::parse(text) {
            Ok(event) => event,
            Err(message) => return self.connection.reply_error(ctx, message),
        };
        match self.order.arrive(event, text.len()) {
            Ok(Some(event)) => self.run(event, ctx),
            Ok(None) => {}
            Err(overflow) => self.connection.reply_error(ctx, overflow),
        }
    }

    fn run(&mut self, event: ClientEvent, ctx: &mut WebsocketContext<Self>) {
        let step = self
            .endpoint
            .on_event(&event.event, &event.data, || ctx.address().recipient());
        self.step(step, ctx);
    }

    /// Answers an event now, or once its work is done.
    fn step(&mut self, step: Step<E::Resume>, ctx: &mut WebsocketContext<Self>) {
        match step {
            Step::Done(outcome) => answer(outcome, ctx),
            Step::Answer(work) => detach(work, ctx.address(), |_, ctx, outcome| answer(outcome, ctx)),
            Step::Wait(work) => {
                self.order.hold();
                detach(work, ctx.address(), |session: &mut Self, ctx, resume| {
                    session.order.finish();
                    let step = session.endpoint.resume(resume, || ctx.address().recipient());
                    session.step(step, ctx);
                    session.run_waiting(ctx);
                });
            }
        }
    }

    /// Runs the events that waited, until one of them must be waited for.
    fn run_waiting(&mut self, ctx: &mut WebsocketContext<Self>) {
        while let Some(event) = self.order.next_ready() {
            self.run(event, ctx);
        }
    }
}

/// Plain sockets answer only refusals (an `error` event); a success shows
/// in the room's broadcasts.
fn answer<A>(outcome: Outcome, ctx: &mut WebsocketContext<A>)
where
    A: Actor<Context = WebsocketContext<A>>,
{
    if let Err(refusal) = outcome {
        ctx.text(refusal.frame().text().clone());
    }
}

impl<E: Endpoint> AsMut<Connection> for WsSession<E> {
    fn as_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

impl<E: Endpoint> Actor for WsSession<E> {
    type Context = WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connection.start(ctx);
        self.endpoint.open(ctx.address().recipient());
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.connection.stopped();
        self.endpoint.close();
    }
}

impl<E: Endpoint> Handler<Continue<WsSession<E>>> for WsSession<E> {
    type Result = ();

    fn handle(&mut self, Continue(then): Continue<Self>, ctx: &mut Self::Context) {
        then(self, ctx);
    }
}

impl<E: Endpoint> Handler<Outbound> for WsSession<E> {
    type Result = ();

    fn handle(&mut self, item: Outbound, ctx: &mut Self::Context) {
        self.connection.deliver(item, ctx);
    }
}

impl<E: Endpoint> StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession<E> {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        if let Incoming::Text(text) = self.connection.receive(message, ctx) {
            self.arrive(&text, ctx);
        }
    }
}
