//! The run's summary, and the REST side of the products scenario.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::session::stamped_text;
use crate::stats::Stats;

#[derive(Serialize)]
pub struct Report {
    pub scenario: String,
    pub sessions_requested: u64,
    pub sessions_joined: u64,
    /// Joined and still open at the end (after the hold).
    pub sessions_held: u64,
    pub dropped: u64,
    pub connect_failures: u64,
    pub connect_seconds: f64,
    pub connect_rate: f64,
    /// (p50, p99, max) from a session's TCP connect to its WebSocket
    /// upgrade's answer, in milliseconds (a SYN retry shows as ~1 s).
    pub handshake_ms: Option<(f64, f64, f64)>,
    pub messages_sent: u64,
    pub deliveries_expected: u64,
    pub deliveries: u64,
    pub deliveries_per_second: f64,
    /// (p50, p99, max) from send to receipt, in milliseconds.
    pub latency_ms: Option<(f64, f64, f64)>,
    /// Chat: `presence:diff` frames each session received while everyone
    /// joined (coalescing keeps this small however many join).
    pub presence_frames_per_session: f64,
    pub error_events: u64,
    pub first_errors: Vec<String>,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_connected_kib: Option<u64>,
    pub server_cpu_ns_per_delivery: Option<f64>,
    pub hold_seconds: u64,
}

impl Report {
    pub fn rss_per_session_kib(&self) -> Option<f64> {
        let (before, after) = (self.server_rss_before_kib?, self.server_rss_connected_kib?);
        (self.sessions_joined > 0).then(|| after.saturating_sub(before) as f64 / self.sessions_joined as f64)
    }

    pub fn print_table(&self) {
        let row = |name: &str, value: String| println!("  {name:<34} {value}");
        let opt = |value: Option<String>| value.unwrap_or_else(|| "n/a (give --server-pid)".to_owned());
        println!("loadtest summary ({})", self.scenario);
        row(
            "sessions requested / joined",
            format!("{} / {}", self.sessions_requested, self.sessions_joined),
        );
        row(
            &format!("sessions held (after {} s hold)", self.hold_seconds),
            format!("{} (dropped {})", self.sessions_held, self.dropped),
        );
        row("connect failures", self.connect_failures.to_string());
        row(
            "connect + join",
            format!(
                "{:.1} s, {:.0} sessions/s",
                self.connect_seconds, self.connect_rate
            ),
        );
        row(
            "handshake p50 / p99 / max",
            self.handshake_ms
                .map(|(p50, p99, max)| format!("{p50:.2} / {p99:.2} / {max:.2} ms"))
                .unwrap_or_else(|| "n/a".to_owned()),
        );
        row("messages sent", self.messages_sent.to_string());
        row(
            "deliveries / expected",
            format!("{} / {}", self.deliveries, self.deliveries_expected),
        );
        row(
            "deliveries per second",
            format!("{:.0}", self.deliveries_per_second),
        );
        row(
            "fan-out latency p50 / p99 / max",
            self.latency_ms
                .map(|(p50, p99, max)| format!("{p50:.2} / {p99:.2} / {max:.2} ms"))
                .unwrap_or_else(|| "n/a".to_owned()),
        );
        if self.scenario == "chat" {
            row(
                "presence:diff frames per session",
                format!("{:.2}", self.presence_frames_per_session),
            );
        }
        row("error events", self.error_events.to_string());
        row(
            "server RSS before / connected",
            opt(self
                .server_rss_before_kib
                .zip(self.server_rss_connected_kib)
                .map(|(a, b)| format!("{:.1} / {:.1} MiB", a as f64 / 1024.0, b as f64 / 1024.0))),
        );
        row(
            "server RSS per session",
            opt(self.rss_per_session_kib().map(|k| format!("{k:.2} KiB"))),
        );
        row(
            "server CPU per delivered frame",
            opt(self
                .server_cpu_ns_per_delivery
                .map(|ns| format!("{:.2} µs", ns / 1000.0))),
        );
        for error in &self.first_errors {
            row("error", error.clone());
        }
    }
}

/// Makes product updates over REST, stamped like chat messages (in the
/// product's description), while `/ws/products` sessions listen.
#[derive(Clone)]
pub struct ProductUpdater {
    client: reqwest::Client,
    base: String,
    product: String,
}

impl ProductUpdater {
    pub async fn prepare(server: SocketAddr, email: &str, password: &str) -> anyhow::Result<ProductUpdater> {
        let client = reqwest::Client::builder().cookie_store(true).build()?;
        let base = format!("http://{server}");
        if !email.is_empty() {
            let login = client
                .post(format!("{base}/api/sessions/login"))
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await?;
            anyhow::ensure!(
                login.status().is_success(),
                "admin login failed: {}",
                login.status()
            );
        }
        let body = json!({
            "title": "Load test product",
            "description": stamped_text(),
            "code": format!("LOAD-{}", crate::stats::now_nanos()),
            "price": 1,
            "stock": 1,
            "category": "loadtest",
        });
        let created: Value = client
            .post(format!("{base}/api/products"))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let product = created["payload"]["_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("could not create the product to update: {created}"))?
            .to_owned();
        Ok(ProductUpdater {
            client,
            base,
            product,
        })
    }

    pub async fn run(&self, rate: f64, seconds: u64, stats: &Stats) {
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
        let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while tokio::time::Instant::now() < end {
            ticker.tick().await;
            let update = self
                .client
                .put(format!("{}/api/products/{}", self.base, self.product))
                .json(&json!({ "description": stamped_text() }))
                .send()
                .await;
            match update {
                Ok(response) if response.status().is_success() => Stats::count(&stats.sent),
                Ok(response) => stats.error(&format!("update answered {}", response.status())),
                Err(error) => stats.error(&error.to_string()),
            }
        }
    }
}
