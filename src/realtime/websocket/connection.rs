//! `Connection`: the mechanics every plain WebSocket session delegates to:
//! heartbeats (a ping every interval; a client silent for longer than the
//! timeout is dropped), the outbound queue bound, the rate limit, control
//! frames and protocol errors, the close on shutdown (1001), and the
//! session's metrics and place under the session limits.

use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, WebsocketContext};

use crate::configuration::WebSocketSettings;
use crate::metrics::CloseReason as MetricCloseReason;
use crate::realtime::limits::SessionSlot;
use crate::realtime::outbound::Outbound;
use crate::realtime::protocol::Frame;
use crate::realtime::session::{RateDecision, RateLimiter, SessionContext};

/// The per-connection mechanics a session actor delegates to.
pub struct Connection {
    pub settings: WebSocketSettings,
    last_seen: Instant,
    limiter: RateLimiter,
    /// Metrics, and the shutdown signal (the session then closes, 1001).
    context: SessionContext,
    /// Why the session ends, for `ecommerce_ws_closed_total`.
    close_reason: MetricCloseReason,
    /// This session's place under the session limits, given back on drop.
    _slot: SessionSlot,
}

/// What the session should do with an incoming WebSocket message.
pub enum Incoming {
    /// A text frame within the rate limit: the session's protocol handles it.
    Text(bytestring::ByteString),
    /// Handled here (control frame, error reply, close).
    Done,
}

impl Connection {
    pub fn new(settings: &WebSocketSettings, context: SessionContext, slot: SessionSlot) -> Self {
        Connection {
            settings: settings.clone(),
            last_seen: Instant::now(),
            limiter: RateLimiter::new(settings.rate_per_second, settings.rate_burst),
            context,
            close_reason: MetricCloseReason::Client,
            _slot: slot,
        }
    }

    /// Sets the outbound queue bound, starts heartbeats (a ping every
    /// interval; a client silent for longer than the timeout is dropped)
    /// and closes the session with 1001 when the server shuts down.
    pub fn start<A>(&self, ctx: &mut WebsocketContext<A>)
    where
        A: Actor<Context = WebsocketContext<A>> + AsMut<Connection>,
    {
        self.context.metrics.sessions.inc();
        ctx.set_mailbox_capacity(self.settings.outbound_queue);
        let timeout = self.settings.client_timeout();
        ctx.run_interval(self.settings.heartbeat_interval(), move |actor, ctx| {
            let connection = actor.as_mut();
            if connection.last_seen.elapsed() > timeout {
                log::debug!("websocket client timed out");
                connection.close_reason = MetricCloseReason::Timeout;
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
        let going_away = self.context.going_away();
        ctx.spawn(actix::fut::wrap_future::<_, A>(going_away).map(|_, actor, ctx| {
            actor.as_mut().close_reason = MetricCloseReason::Shutdown;
            ctx.close(Some(CloseReason {
                code: CloseCode::Away,
                description: Some("the server is restarting; reconnect shortly".to_owned()),
            }));
            ctx.stop();
        }));
    }

    /// Records the end of the session; call from the actor's `stopped`.
    pub fn stopped(&self) {
        self.context.metrics.sessions.dec();
        self.context.metrics.closed(self.close_reason);
    }

    /// Writes an outbound item to the client, or closes a client that fell
    /// behind its queue.
    pub fn deliver<A>(&mut self, item: Outbound, ctx: &mut WebsocketContext<A>)
    where
        A: Actor<Context = WebsocketContext<A>>,
    {
        match item {
            Outbound::Frame(frame) => {
                self.context.metrics.frames_sent.inc();
                ctx.text(frame.text().clone());
            }
            Outbound::Frames(frames) => {
                self.context.metrics.frames_sent.inc_by(frames.len() as u64);
                for frame in frames.iter() {
                    ctx.text(frame.text().clone());
                }
            }
            Outbound::CloseTooSlow => {
                self.close_reason = MetricCloseReason::SlowConsumer;
                ctx.close(Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some("client too slow: outbound queue full".to_owned()),
                }));
                ctx.stop();
            }
        }
    }

    /// Handles control frames, errors and limits; hands text on.
    pub fn receive<A>(
        &mut self,
        message: Result<ws::Message, ws::ProtocolError>,
        ctx: &mut WebsocketContext<A>,
    ) -> Incoming
    where
        A: Actor<Context = WebsocketContext<A>>,
    {
        self.last_seen = Instant::now();
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                // The codec cannot resync after a protocol error (e.g. an
                // oversized frame): say why, then close.
                let code = match error {
                    ws::ProtocolError::Overflow => CloseCode::Size,
                    _ => CloseCode::Protocol,
                };
                ctx.text(
                    Frame::error(format!("protocol error: {error}"), None)
                        .text()
                        .clone(),
                );
                ctx.close(Some(CloseReason {
                    code,
                    description: Some(error.to_string()),
                }));
                // A connection dropped without a close frame is the client
                // leaving too; anything else broke the protocol.
                self.close_reason = match error {
                    ws::ProtocolError::Io(_) => MetricCloseReason::Client,
                    _ => MetricCloseReason::ProtocolError,
                };
                ctx.stop();
                return Incoming::Done;
            }
        };
        match message {
            ws::Message::Ping(payload) => ctx.pong(&payload),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Binary(_) | ws::Message::Continuation(_) => {
                self.reply_error(ctx, "only unfragmented text frames with JSON events are accepted");
            }
            ws::Message::Text(text) => match self.limiter.check() {
                RateDecision::Allow => return Incoming::Text(text),
                RateDecision::RejectAndWarn => self.reply_error(
                    ctx,
                    format!(
                        "rate limit exceeded ({} frames/s): frames are being dropped",
                        self.settings.rate_per_second
                    ),
                ),
                RateDecision::Reject => {}
            },
        }
        Incoming::Done
    }

    pub fn reply_error<A>(&self, ctx: &mut WebsocketContext<A>, message: impl std::fmt::Display)
    where
        A: Actor<Context = WebsocketContext<A>>,
    {
        ctx.text(Frame::error(message, None).text().clone());
    }
}
