//! `EngineSocket`: the WebSocket transport of an Engine.IO session. It
//! answers the upgrade probe (`2probe` → `3probe`), hands the session over
//! on `5`, then carries packets both ways. A direct WebSocket connection
//! (no polling first) is attached at once. Heartbeats are the session's
//! (Engine.IO pings inside the protocol).

use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseReason, WebsocketContext};

use super::messages::{ClientPackets, EngineHost, Probed, SocketWrite, TransportClosed, UseWebSocket};

/// How long a probing WebSocket may take to finish the upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct EngineSocket<A: EngineHost> {
    session: Addr<A>,
    /// The session writes through this socket (after `5`, or at once for a
    /// direct connection).
    attached: bool,
    direct: bool,
    outbound_queue: usize,
}

impl<A: EngineHost> EngineSocket<A> {
    /// A probe for an upgrade of a polling session.
    pub fn upgrade(session: Addr<A>, outbound_queue: usize) -> Self {
        EngineSocket {
            session,
            attached: false,
            direct: false,
            outbound_queue,
        }
    }

    /// The only transport of a new session.
    pub fn direct(session: Addr<A>, outbound_queue: usize) -> Self {
        EngineSocket {
            session,
            attached: false,
            direct: true,
            outbound_queue,
        }
    }

    fn attach(&mut self, send_open: bool, ctx: &mut WebsocketContext<Self>) {
        self.attached = true;
        self.session.do_send(UseWebSocket {
            socket: ctx.address().recipient(),
            send_open,
        });
    }

    fn text(&mut self, text: bytestring::ByteString, ctx: &mut WebsocketContext<Self>) {
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
            "5" => self.attach(false, ctx),
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
        if self.direct {
            self.attach(true, ctx);
        } else {
            ctx.run_later(UPGRADE_TIMEOUT, |socket, ctx| {
                if !socket.attached {
                    ctx.stop();
                }
            });
        }
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
        match message {
            Ok(ws::Message::Text(text)) => self.text(text, ctx),
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_) | ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Binary(_) | ws::Message::Continuation(_)) => {
                ctx.close(Some(CloseReason {
                    code: ws::CloseCode::Unsupported,
                    description: Some("binary packets are not supported".to_owned()),
                }));
                ctx.stop();
            }
            Err(error) => {
                let code = match error {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                ctx.close(Some(CloseReason {
                    code,
                    description: Some(error.to_string()),
                }));
                ctx.stop();
            }
        }
    }
}
