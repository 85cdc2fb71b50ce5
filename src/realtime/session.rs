//! What every session shares, whatever its transport (plain WebSocket or
//! Socket.IO): the context it is given (metrics, the shutdown signal) and
//! the per-session rate limit.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::metrics::WsMetrics;

/// What every session of an endpoint is given besides its settings: where
/// it counts, and the shutdown signal.
#[derive(Clone)]
pub struct SessionContext {
    pub metrics: WsMetrics,
    pub shutdown: watch::Receiver<bool>,
}

impl SessionContext {
    /// Resolves when the server starts shutting down (every session then
    /// closes with 1001, "going away").
    pub fn going_away(&self) -> impl std::future::Future<Output = ()> + 'static {
        let mut shutdown = self.shutdown.clone();
        async move {
            // An error means the sender is gone: the server stopped anyway.
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        }
    }
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
