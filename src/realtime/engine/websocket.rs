//! Engine.IO over a WebSocket. `read_text` is what every Engine.IO
//! WebSocket does with an incoming frame (control frames, the close,
//! protocol errors), whichever actor runs it. `EngineSocket` is the
//! WebSocket a polling session upgrades to: it answers the probe
//! (`2probe` → `3probe`), hands the session over on `5`, then carries
//! packets both ways. (A session that starts on a WebSocket is one actor,
//! its socket's own: see `socketio::wire`.) Heartbeats are the session's
//! (Engine.IO pings inside the protocol).

use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseReason, WebsocketContext};
use bytestring::ByteString;

use super::messages::{ClientPackets, EngineHost, Probed, SocketWrite, TransportClosed, UseWebSocket};

/// How long a probing WebSocket may take to finish the upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handles a frame from an Engine.IO client: answers pings, closes on a
/// close frame, a binary frame (unsupported) or a protocol error (e.g. a
/// frame over `maxPayload`), and hands a text frame on.
pub fn read_text<A>(
    message: Result<ws::Message, ws::ProtocolError>,
    ctx: &mut WebsocketContext<A>,
) -> Option<ByteString>
where
    A: Actor<Context = WebsocketContext<A>>,
{
    let refusal = match message {
        Ok(ws::Message::Text(text)) => return Some(text),
        Ok(ws::Message::Ping(payload)) => {
            ctx.pong(&payload);
            return None;
        }
        Ok(ws::Message::Pong(_) | ws::Message::Nop) => return None,
        Ok(ws::Message::Close(reason)) => reason,
        Ok(ws::Message::Binary(_) | ws::Message::Continuation(_)) => Some(CloseReason {
            code: ws::CloseCode::Unsupported,
            description: Some("binary packets are not supported".to_owned()),
        }),
        Err(error) => Some(CloseReason {
            code: match error {
                ws::ProtocolError::Overflow => ws::CloseCode::Size,
                _ => ws::CloseCode::Protocol,
            },
            description: Some(error.to_string()),
        }),
    };
    ctx.close(refusal);
    ctx.stop();
    None
}

pub struct EngineSocket<A: EngineHost> {
    session: Addr<A>,
    /// The session writes through this socket (after `5`).
    attached: bool,
    outbound_queue: usize,
}

impl<A: EngineHost> EngineSocket<A> {
    /// A probe for an upgrade of a polling session.
    pub fn upgrade(session: Addr<A>, outbound_queue: usize) -> Self {
        EngineSocket {
            session,
            attached: false,
            outbound_queue,
        }
    }

    fn text(&mut self, text: ByteString, ctx: &mut WebsocketContext<Self>) {
        if self.attached {
            let session = self.session.clone();
            // The session answers bad packets by closing itself (and this).
            session
                .send(ClientPackets(text.to_string()))
                .into_actor(self)
                .map(|outcome, _, ctx| {
                    if outcome.is_err() {
                        ctx.stop();
                    }
                })
                .wait(ctx);
            return;
        }
        match &*text {
            "2probe" => {
                ctx.text("3probe");
                self.session.do_send(Probed);
            }
            "5" => {
                self.attached = true;
                self.session.do_send(UseWebSocket(ctx.address().recipient()));
            }
            _ => {
                ctx.close(Some(CloseReason {
                    code: ws::CloseCode::Protocol,
                    description: Some("expected 2probe, then 5".to_owned()),
                }));
                ctx.stop();
            }
        }
    }
}

impl<A: EngineHost> Actor for EngineSocket<A> {
    type Context = WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.outbound_queue);
        ctx.run_later(UPGRADE_TIMEOUT, |socket, ctx| {
            if !socket.attached {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if self.attached {
            self.session.do_send(TransportClosed);
        }
    }
}

impl<A: EngineHost> Handler<SocketWrite> for EngineSocket<A> {
    type Result = ();

    fn handle(&mut self, write: SocketWrite, ctx: &mut Self::Context) {
        match write {
            SocketWrite::Packet(packet) => ctx.text(packet),
            SocketWrite::Packets(packets) => {
                for packet in packets {
                    ctx.text(packet);
                }
            }
            SocketWrite::Close(code) => {
                ctx.close(Some(code.into()));
                ctx.stop();
            }
        }
    }
}

impl<A: EngineHost> StreamHandler<Result<ws::Message, ws::ProtocolError>> for EngineSocket<A> {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        if let Some(text) = read_text(message, ctx) {
            self.text(text, ctx);
        }
    }
}
