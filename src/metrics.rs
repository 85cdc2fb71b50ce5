//! The server's metrics in Prometheus's text format (`GET /metrics`). One
//! `Metrics` per application (in `AppState`, handed to the actors that
//! count), each with its own registry, so several apps in one process (the
//! tests) count separately.

use prometheus::{Encoder, IntCounter, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Content-Security-Policy violations reported by browsers: a page that
    /// breaks the policy shows up here (and in the log).
    pub csp_violations: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let csp_violations = IntCounter::with_opts(Opts::new(
            "ecommerce_csp_violations_total",
            "Content-Security-Policy violations reported by browsers",
        ))?;
        registry.register(Box::new(csp_violations.clone()))?;
        Ok(Metrics {
            registry,
            csp_violations,
        })
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
