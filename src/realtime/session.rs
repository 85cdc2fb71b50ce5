//! What every WebSocket session actor shares: ids, liveness, rate limits,
//! and the handling of control frames.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, WebsocketContext};

use tokio::sync::watch;

use super::limits::SessionSlot;
use super::outbound::Outbound;
use super::protocol::Frame;
use crate::configuration::WebSocketSettings;
use crate::metrics::{CloseReason as MetricCloseReason, WsMetrics};

/// What every session of an endpoint is given besides its settings: where
/// it counts, and the shutdown signal.
#[derive(Clone)]
pub struct SessionContext {
    pub metrics: WsMetrics,
    pub shutdown: watch::Receiver<bool>,
}

/// Identifies one connected session within a feed or room.
pub type SessionId = u64;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

pub fn next_session_id() -> SessionId {
    NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed)
}

/// A token bucket: `rate` frames per second sustained, `burst` at once.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
    /// When the client was last told it is over the limit: at most one
    /// `error` a second, so the replies cannot become a flood themselves.
    last_warning: Option<Instant>,
}

/// What the limiter decided about one frame.
#[derive(Debug, PartialEq, Eq)]
pub enum RateDecision {
    Allow,
    /// Drop the frame and tell the client.
    RejectAndWarn,
    /// Drop the frame silently (already warned within the last second).
    Reject,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst,
            tokens: burst,
            refilled: Instant::now(),
            last_warning: None,
        }
    }

    pub fn check(&mut self) -> RateDecision {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return RateDecision::Allow;
        }
        match self.last_warning {
            Some(at) if now.duration_since(at) < Duration::from_secs(1) => RateDecision::Reject,
            _ => {
                self.last_warning = Some(now);
                RateDecision::RejectAndWarn
            }
        }
    }
}

/// The per-connection mechanics a session actor delegates to.
pub struct Connection {
    pub settings: WebSocketSettings,
    last_seen: Instant,
    limiter: RateLimiter,
    metrics: WsMetrics,
    /// Why the session ends, for `ecommerce_ws_closed_total`.
    close_reason: MetricCloseReason,
    /// Becomes true when the server shuts down: the session closes (1001).
    shutdown: watch::Receiver<bool>,
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
            metrics: context.metrics,
            close_reason: MetricCloseReason::Client,
            shutdown: context.shutdown,
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
        self.metrics.sessions.inc();
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
        let mut shutdown = self.shutdown.clone();
        let going_away = async move {
            // An error means the sender is gone: the server stopped anyway.
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        };
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
        self.metrics.sessions.dec();
        self.metrics.closed(self.close_reason);
    }

    /// Writes an outbound item to the client, or closes a client that fell
    /// behind its queue.
    pub fn deliver<A>(&mut self, item: Outbound, ctx: &mut WebsocketContext<A>)
    where
        A: Actor<Context = WebsocketContext<A>>,
    {
        match item {
            Outbound::Frame(frame) => {
                self.metrics.frames_sent.inc();
                ctx.text(frame.text().clone());
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
        send_error(ctx, message, None);
    }
}

/// Sends this client an `error` event.
pub fn send_error<A>(ctx: &mut WebsocketContext<A>, message: impl std::fmt::Display, field: Option<&str>)
where
    A: Actor<Context = WebsocketContext<A>>,
{
    ctx.text(Frame::error(message, field).text().clone());
}

/// Sends this client an `error` event naming the field at fault.
pub fn send_validation_error<A>(ctx: &mut WebsocketContext<A>, error: &crate::domain::ValidationError)
where
    A: Actor<Context = WebsocketContext<A>>,
{
    send_error(ctx, &error.message, Some(&error.field));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_a_burst_then_warns_once() {
        let mut limiter = RateLimiter::new(1.0, 3.0);
        for _ in 0..3 {
            assert_eq!(limiter.check(), RateDecision::Allow);
        }
        assert_eq!(limiter.check(), RateDecision::RejectAndWarn);
        assert_eq!(limiter.check(), RateDecision::Reject);
    }
}
