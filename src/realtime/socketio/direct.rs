//! A Socket.IO session that began on a WebSocket (what socket.io-client
//! does with `transports: ["websocket"]`, and what load is made of). The
//! session is the WebSocket's own actor and writes to it directly: a
//! delivery is one mailbox hand-off, as on the plain sockets, not two.

use std::sync::Arc;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, WebsocketContext};
use bytestring::ByteString;
use prometheus::IntCounter;

use super::namespaces::SocketIoIdentity;
use super::session::{SocketIoDeps, SocketIoSession, Wire};
use crate::realtime::engine::read_text;
use crate::realtime::engine::registry::random_id;
use crate::realtime::engine::transport::Sent;
use crate::realtime::limits::SessionSlot;

/// A session that began on a WebSocket.
pub type WebSocketSession = SocketIoSession<Direct>;

impl WebSocketSession {
    /// A session that begins on a WebSocket.
    pub fn websocket(deps: Arc<SocketIoDeps>, identity: SocketIoIdentity, slot: SessionSlot) -> Self {
        let direct = Direct::new(random_id(), deps.context.metrics.frames_sent.clone());
        SocketIoSession::new(deps, identity, slot, direct)
    }
}

/// The WebSocket a session began on, written through its actor context.
pub struct Direct {
    sid: String,
    frames_sent: IntCounter,
}

impl Direct {
    pub fn new(sid: String, frames_sent: IntCounter) -> Direct {
        Direct { sid, frames_sent }
    }
}

impl Wire for Direct {
    type Context = WebsocketContext<SocketIoSession<Direct>>;

    fn sid(&self) -> &str {
        &self.sid
    }

    fn send(&mut self, packet: ByteString, ctx: &mut Self::Context) -> Sent {
        self.frames_sent.inc();
        ctx.text(packet);
        Sent::Ok
    }

    fn send_all(&mut self, packets: impl Iterator<Item = ByteString>, ctx: &mut Self::Context) -> Sent {
        for packet in packets {
            self.frames_sent.inc();
            ctx.text(packet);
        }
        Sent::Ok
    }

    fn close(&mut self, code: CloseCode, ctx: &mut Self::Context) {
        ctx.close(Some(code.into()));
    }

    fn started(session: &mut SocketIoSession<Self>, ctx: &mut Self::Context) {
        // The mailbox is the outbound queue, as on the plain sockets: a
        // room that finds it full closes the session (`outbound::offer`).
        ctx.set_mailbox_capacity(session.deps.settings.websocket.outbound_queue);
        let open = session.open_packet(false);
        session.send_text(open, ctx);
    }

    fn stopped(_: &mut SocketIoSession<Self>) {}
}

/// A session that began on a WebSocket reads its frames itself.
impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WebSocketSession {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        if let Some(text) = read_text(message, ctx) {
            // A bad packet closes the session; nothing more to do here.
            let _ = self.client_packets(&text, ctx);
        }
    }
}
