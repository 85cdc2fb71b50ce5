//! Counters shared by every simulated session, and the server's own
//! figures read from `/proc/<pid>`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

#[derive(Default)]
pub struct Stats {
    pub connected: AtomicU64,
    pub joined: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Sessions the server closed or dropped while they should be open.
    pub dropped: AtomicU64,
    pub sent: AtomicU64,
    pub deliveries: AtomicU64,
    pub presence_frames: AtomicU64,
    pub error_events: AtomicU64,
    /// Whether senders are sending (the measurement window).
    pub sending: AtomicBool,
    /// Set when the run ends: sessions close without counting as dropped.
    pub finished: AtomicBool,
    latency_micros: Mutex<Option<Histogram<u64>>>,
    /// From the TCP connect to the WebSocket upgrade's answer.
    handshake_micros: Mutex<Option<Histogram<u64>>>,
    first_errors: Mutex<Vec<String>>,
}

impl Stats {
    pub fn new() -> Stats {
        let histogram = || Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).ok());
        Stats {
            latency_micros: histogram(),
            handshake_micros: histogram(),
            ..Stats::default()
        }
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records one delivery whose payload was stamped `sent_nanos`.
    pub fn delivered(&self, sent_nanos: u64) {
        Stats::count(&self.deliveries);
        let micros = now_nanos().saturating_sub(sent_nanos) / 1_000;
        record(&self.latency_micros, micros);
    }

    /// Records how long one session's connect and upgrade took.
    pub fn handshake(&self, took: std::time::Duration) {
        record(&self.handshake_micros, took.as_micros() as u64);
    }

    pub fn error(&self, text: &str) {
        Stats::count(&self.error_events);
        if let Ok(mut errors) = self.first_errors.lock() {
            if errors.len() < 5 {
                errors.push(text.chars().take(200).collect());
            }
        }
    }

    pub fn first_errors(&self) -> Vec<String> {
        self.first_errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// (p50, p99, max) fan-out latency in milliseconds.
    pub fn latency_ms(&self) -> Option<(f64, f64, f64)> {
        percentiles_ms(&self.latency_micros)
    }

    /// (p50, p99, max) of connect + upgrade in milliseconds.
    pub fn handshake_ms(&self) -> Option<(f64, f64, f64)> {
        percentiles_ms(&self.handshake_micros)
    }
}

fn record(histogram: &Mutex<Option<Histogram<u64>>>, micros: u64) {
    if let Ok(mut histogram) = histogram.lock() {
        if let Some(histogram) = histogram.as_mut() {
            let _ = histogram.record(micros.max(1));
        }
    }
}

fn percentiles_ms(histogram: &Mutex<Option<Histogram<u64>>>) -> Option<(f64, f64, f64)> {
    {
        let histogram = histogram.lock().ok()?;
        let histogram = histogram.as_ref()?;
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some((
            ms(histogram.value_at_quantile(0.5)),
            ms(histogram.value_at_quantile(0.99)),
            ms(histogram.max()),
        ))
    }
}

/// Wall-clock nanoseconds: stamps cross from sender to receivers, all on
/// this machine.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// The server process, observed through `/proc`.
pub struct ServerProcess {
    /// One per instance; figures are summed over them.
    pids: Vec<u32>,
}

impl ServerProcess {
    pub fn new(pids: Vec<u32>) -> ServerProcess {
        ServerProcess { pids }
    }

    /// Resident memory in KiB (summed).
    pub fn rss_kib(&self) -> Option<u64> {
        self.pids.iter().map(|pid| Self::rss_kib_of(*pid)).sum()
    }

    /// User + system CPU time in nanoseconds (summed).
    pub fn cpu_nanos(&self) -> Option<u64> {
        self.pids.iter().map(|pid| Self::cpu_nanos_of(*pid)).sum()
    }

    fn rss_kib_of(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    fn cpu_nanos_of(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may contain spaces): utime
        // and stime are the 12th and 13th of them.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions; it only reads a constant.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(ticks * 1_000_000_000 / per_second)
    }
}
