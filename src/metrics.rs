//! The server's metrics in Prometheus's text format (`GET /metrics`). One
//! `Metrics` per application (in `AppState`, handed to the actors that
//! count), each with its own registry, so several apps in one process (the
//! tests) count separately. Hot paths hold pre-labelled counters (an atomic
//! add each), never a label lookup per frame.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Open WebSocket sessions, by endpoint (`products`, `chat`).
    ws_sessions: IntGaugeVec,
    /// Frames written to WebSocket clients, by endpoint.
    ws_frames_sent: IntCounterVec,
    /// WebSocket sessions ended, by reason (`client`, `timeout`,
    /// `slow_consumer`, `protocol_error`, `shutdown`).
    ws_closed: IntCounterVec,
    /// Events broadcast, by feed (`products`, `chat`, `presence`, `carts`).
    broadcasts: IntCounterVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// Store calls that failed for the store's sake (unreachable, internal),
    /// not for the request's (not found, conflict).
    pub store_errors: IntCounter,
    /// Content-Security-Policy violations reported by browsers: a page that
    /// breaks the policy shows up here (and in the log).
    pub csp_violations: IntCounter,
    /// 1 while this instance is linked to Redis (several instances, one
    /// world), 0 otherwise; read at each scrape.
    pub redis_connected: IntGauge,
    pub followed_cart_streams: IntGauge,
    /// 1 while this instance reads the `chat` / `products` stream.
    pub followed_streams: IntGaugeVec,
    /// Socket.IO handshakes waiting for their first poll; read at each
    /// scrape.
    pub pending_handshakes: IntGauge,
}

/// One endpoint's pre-labelled WebSocket metrics, held by each session.
#[derive(Clone)]
pub struct WsMetrics {
    pub sessions: IntGauge,
    pub frames_sent: IntCounter,
    closed: IntCounterVec,
}

/// Why a WebSocket session ended.
#[derive(Debug, Clone, Copy)]
pub enum CloseReason {
    Client,
    Timeout,
    SlowConsumer,
    ProtocolError,
    Shutdown,
}

impl CloseReason {
    fn label(self) -> &'static str {
        match self {
            CloseReason::Client => "client",
            CloseReason::Timeout => "timeout",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl WsMetrics {
    pub fn closed(&self, reason: CloseReason) {
        self.closed.with_label_values(&[reason.label()]).inc();
    }
}

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> Result<M, prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let opts = |name: &str, help: &str| Opts::new(name, help);
        Ok(Metrics {
            ws_sessions: register(
                &registry,
                IntGaugeVec::new(
                    opts("ecommerce_ws_sessions", "Open WebSocket sessions"),
                    &["endpoint"],
                )?,
            )?,
            ws_frames_sent: register(
                &registry,
                IntCounterVec::new(
                    opts(
                        "ecommerce_ws_frames_sent_total",
                        "Frames written to WebSocket clients",
                    ),
                    &["endpoint"],
                )?,
            )?,
            ws_closed: register(
                &registry,
                IntCounterVec::new(
                    opts("ecommerce_ws_closed_total", "WebSocket sessions ended, by reason"),
                    &["reason"],
                )?,
            )?,
            broadcasts: register(
                &registry,
                IntCounterVec::new(
                    opts("ecommerce_broadcasts_total", "Events broadcast, by feed"),
                    &["feed"],
                )?,
            )?,
            http_requests: register(
                &registry,
                IntCounterVec::new(
                    opts("ecommerce_http_requests_total", "HTTP requests, by route pattern"),
                    &["method", "route", "status"],
                )?,
            )?,
            http_duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "ecommerce_http_request_duration_seconds",
                        "HTTP request durations, by route pattern",
                    ),
                    &["method", "route"],
                )?,
            )?,
            store_errors: register(
                &registry,
                IntCounter::with_opts(opts(
                    "ecommerce_store_errors_total",
                    "Store calls that failed because the store could not serve them",
                ))?,
            )?,
            csp_violations: register(
                &registry,
                IntCounter::with_opts(opts(
                    "ecommerce_csp_violations_total",
                    "Content-Security-Policy violations reported by browsers",
                ))?,
            )?,
            redis_connected: register(
                &registry,
                IntGauge::with_opts(opts(
                    "ecommerce_redis_connected",
                    "1 while this instance is linked to Redis, 0 otherwise (or without REDIS_URL)",
                ))?,
            )?,
            followed_cart_streams: register(
                &registry,
                IntGauge::with_opts(opts(
                    "ecommerce_redis_followed_cart_streams",
                    "Cart streams this instance reads from Redis: the carts its sessions watch",
                ))?,
            )?,
            followed_streams: register(
                &registry,
                IntGaugeVec::new(
                    opts(
                        "ecommerce_redis_followed_stream",
                        "1 while this instance reads the stream from Redis: while its sessions are on it",
                    ),
                    &["stream"],
                )?,
            )?,
            pending_handshakes: register(
                &registry,
                IntGauge::with_opts(opts(
                    "ecommerce_socketio_pending_handshakes",
                    "Socket.IO long-polling handshakes not yet followed by a request (they hold no session)",
                ))?,
            )?,
            registry,
        })
    }

    /// The pre-labelled WebSocket metrics of one endpoint.
    pub fn websocket(&self, endpoint: &str) -> WsMetrics {
        WsMetrics {
            sessions: self.ws_sessions.with_label_values(&[endpoint]),
            frames_sent: self.ws_frames_sent.with_label_values(&[endpoint]),
            closed: self.ws_closed.clone(),
        }
    }

    /// The broadcast counter of one feed.
    pub fn broadcasts(&self, feed: &str) -> IntCounter {
        self.broadcasts.with_label_values(&[feed])
    }

    /// Counts one HTTP request to `route` (a pattern) and its duration.
    pub fn record_request(&self, method: &str, route: &str, status: &str, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, status])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Every metric, as Prometheus text.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            log::error!("encoding metrics: {error}");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
