//! A Socket.IO session that began with long-polling: it runs on an Engine.IO
//! `Engine` (its packets wait for the next poll, or go to the WebSocket it
//! upgraded to, `engine::EngineSocket`), and HTTP requests find it by sid
//! to poll, post packets and upgrade.

use std::sync::Arc;

use actix::prelude::*;
use actix_web_actors::ws::CloseCode;
use bytestring::ByteString;

use super::namespaces::SocketIoIdentity;
use super::session::{SocketIoDeps, SocketIoSession, Wire};
use crate::metrics::CloseReason;
use crate::realtime::engine::packet::CLOSE;
use crate::realtime::engine::transport::{PollAnswer, Sent};
use crate::realtime::engine::{
    ClientPackets, Engine, EngineError, EngineHost, Poll, Probed, TransportClosed, UseWebSocket,
};
use crate::realtime::limits::SessionSlot;

/// A session that began with long-polling (it may upgrade).
pub type PollingSession = SocketIoSession<Engine>;

impl PollingSession {
    /// A session that begins with long-polling.
    pub fn polling(
        sid: String,
        deps: Arc<SocketIoDeps>,
        identity: SocketIoIdentity,
        slot: SessionSlot,
    ) -> Self {
        let engine = Engine::new(
            sid,
            deps.settings.websocket.outbound_queue,
            deps.context.metrics.frames_sent.clone(),
        );
        SocketIoSession::new(deps, identity, slot, engine)
    }
}

impl Wire for Engine {
    type Context = Context<SocketIoSession<Engine>>;

    fn sid(&self) -> &str {
        Engine::sid(self)
    }

    fn send(&mut self, packet: ByteString, _: &mut Self::Context) -> Sent {
        Engine::send(self, packet)
    }

    fn send_all(&mut self, packets: impl Iterator<Item = ByteString>, _: &mut Self::Context) -> Sent {
        Engine::send_all(self, packets)
    }

    fn close(&mut self, code: CloseCode, _: &mut Self::Context) {
        Engine::close(self, code);
    }

    /// (The registry holds it already: it was started by a request that
    /// named its sid.)
    fn started(session: &mut SocketIoSession<Self>, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(session.deps.settings.websocket.outbound_queue);
    }

    fn stopped(session: &mut SocketIoSession<Self>) {
        session.deps.sessions.remove(session.wire.sid());
        // A waiting poll learns the session is closed; a WebSocket closes.
        session.wire.close(CloseCode::Normal);
    }
}

impl EngineHost for PollingSession {}

impl Handler<Poll> for PollingSession {
    type Result = ResponseFuture<Result<String, EngineError>>;

    fn handle(&mut self, _: Poll, ctx: &mut Self::Context) -> Self::Result {
        match self.wire.poll() {
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

impl Handler<ClientPackets> for PollingSession {
    type Result = Result<(), EngineError>;

    fn handle(&mut self, ClientPackets(body): ClientPackets, ctx: &mut Self::Context) -> Self::Result {
        self.client_packets(&body, ctx)
    }
}

impl Handler<Probed> for PollingSession {
    type Result = ();

    fn handle(&mut self, _: Probed, _: &mut Self::Context) {
        self.wire.probed();
    }
}

impl Handler<UseWebSocket> for PollingSession {
    type Result = ();

    fn handle(&mut self, UseWebSocket(socket): UseWebSocket, ctx: &mut Self::Context) {
        let sent = self.wire.use_websocket(socket);
        self.sent(sent, ctx);
    }
}

impl Handler<TransportClosed> for PollingSession {
    type Result = ();

    fn handle(&mut self, _: TransportClosed, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
