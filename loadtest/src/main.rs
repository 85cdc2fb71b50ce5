//! `loadtest`: opens many WebSocket sessions to the server and measures
//! them: sessions held, connect rate and failures, fan-out latency from send
//! to receipt at every session (p50/p99/max), deliveries per second, errors,
//! and, given the server's pid, its RSS per session and CPU per delivered
//! frame. Prints progress each second, a summary table, and JSON with
//! `--json`. Only talks to the address it is given (loopback by default).
//!
//!     cargo run --release --bin loadtest -- --sessions 10000 --senders 10 \
//!         --send-rate 5 --duration 10 --server-pid "$(pgrep -x ecommerce)"
//!
//! Several instances of one cluster: give each `--url` (sessions are spread
//! over them round-robin, the senders too) and each `--server-pid` (RSS
//! and CPU are summed).

mod chaos;
mod report;
mod session;
mod stats;

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use report::Report;
use session::{Protocol, Scenario, SessionPlan};
use stats::{ServerProcess, Stats};

#[derive(Parser, Debug)]
#[command(about = "Open many WebSocket sessions to the e-commerce server and measure them")]
struct Args {
    /// Server address (host:port, or http://host:port); repeat it (or
    /// separate with commas) for several instances: sessions go to them in
    /// turn.
    #[arg(
        long = "url",
        visible_alias = "server",
        value_delimiter = ',',
        default_value = "127.0.0.1:8080"
    )]
    urls: Vec<String>,
    #[arg(long, value_enum, default_value = "chat")]
    scenario: Scenario,
    /// Plain WebSocket frames, or Socket.IO over its WebSocket transport.
    #[arg(long, value_enum, default_value = "plain")]
    protocol: Protocol,
    /// Sessions to open.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// New sessions per second.
    #[arg(long, default_value_t = 1000.0)]
    connect_rate: f64,
    /// Loopback source addresses to spread connections over (127.0.0.1,
    /// 127.0.0.2, ...): each has its own ~28k ephemeral ports.
    #[arg(long, default_value_t = 1)]
    source_ips: u8,
    /// Chat: sessions that send messages. Products: ignored (updates are
    /// made over REST).
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Messages (chat) or product updates (products) per second, in all.
    #[arg(long, default_value_t = 10.0)]
    send_rate: f64,
    /// Seconds of sending (the measurement window).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds to hold the sessions idle afterwards (heartbeats keep them).
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// The server's pid, to read its RSS and CPU time from /proc; repeat it
    /// for several instances (their figures are summed).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Products scenario: the admin to log in as for the REST updates.
    #[arg(long, default_value = "")]
    admin_email: String,
    #[arg(long, default_value = "")]
    admin_password: String,
    /// Print the report as JSON (after the table).
    #[arg(long)]
    json: bool,
    /// Chaos: a receiver drops its connection on average this often
    /// (seconds), then resumes from its offset.
    #[arg(long, default_value_t = 5.0)]
    drop_every: f64,
    /// Seconds to wait for all sessions to connect and join.
    #[arg(long, default_value_t = 120)]
    connect_timeout: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => eprintln!("loadtest: open-file limit {limit}"),
        Err(error) => eprintln!("loadtest: could not raise the open-file limit: {error}"),
    }
    let servers = args
        .urls
        .iter()
        .map(|url| {
            let address = url
                .trim_start_matches("http://")
                .trim_start_matches("ws://")
                .trim_end_matches('/');
            address
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| anyhow::anyhow!("cannot resolve {url}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.scenario == Scenario::Chaos {
        return run_chaos(&args, servers).await;
    }
    let server = servers[0];
    let stats = Arc::new(Stats::new());
    let process = (!args.server_pid.is_empty()).then(|| ServerProcess::new(args.server_pid.clone()));
    let rss_before = process.as_ref().and_then(ServerProcess::rss_kib);

    // Products: make the product the updates will change, before connecting.
    let updater = match args.scenario {
        Scenario::Products => {
            Some(report::ProductUpdater::prepare(server, &args.admin_email, &args.admin_password).await?)
        }
        Scenario::Chat | Scenario::Chaos => None,
    };

    // Connect phase.
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.sessions);
    let per_sender = (args.senders.max(1) as f64) / args.send_rate.max(0.001);
    let connect_interval = Duration::from_secs_f64(1.0 / args.connect_rate.max(1.0));
    let mut progress = Instant::now();
    for index in 0..args.sessions {
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (index % args.source_ips.max(1) as usize) as u8,
        ));
        let sends = args.scenario == Scenario::Chat && index < args.senders;
        let plan = SessionPlan {
            index,
            server: servers[index % servers.len()],
            source,
            scenario: args.scenario,
            protocol: args.protocol,
            send_every: sends.then(|| Duration::from_secs_f64(per_sender)),
        };
        tasks.push(tokio::spawn(session::run(plan, stats.clone())));
        let due = started + connect_interval.mul_f64((index + 1) as f64);
        tokio::time::sleep_until(due.into()).await;
        if progress.elapsed() >= Duration::from_secs(1) {
            progress = Instant::now();
            print_progress("connect", &stats, process.as_ref());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.connect_timeout);
    while Stats::get(&stats.joined) + Stats::get(&stats.connect_failures) + Stats::get(&stats.dropped)
        < args.sessions as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if progress.elapsed() >= Duration::from_secs(1) {
            progress = Instant::now();
            print_progress("join", &stats, process.as_ref());
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    let joined = Stats::get(&stats.joined);
    print_progress("joined", &stats, process.as_ref());

    // Let join notices settle, then read the server's memory at rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let presence_frames_after_join = Stats::get(&stats.presence_frames);
    let rss_connected = process.as_ref().and_then(ServerProcess::rss_kib);

    // Measurement window.
    let cpu_before = process.as_ref().and_then(ServerProcess::cpu_nanos);
    let deliveries_before = Stats::get(&stats.deliveries);
    let window = Instant::now();
    stats.sending.store(true, Ordering::Relaxed);
    let updates = updater.as_ref().map(|updater| {
        let updater = updater.clone();
        let stats = stats.clone();
        let (rate, seconds) = (args.send_rate, args.duration);
        tokio::spawn(async move { updater.run(rate, seconds, &stats).await })
    });
    while window.elapsed() < Duration::from_secs(args.duration) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        print_progress("send", &stats, process.as_ref());
    }
    stats.sending.store(false, Ordering::Relaxed);
    if let Some(updates) = updates {
        let _ = updates.await;
    }
    // Drain: wait (up to 10 s) for every expected delivery.
    let expected =
        |stats: &Stats| Stats::get(&stats.sent) * (joined - Stats::get(&stats.dropped).min(joined));
    let drain = Instant::now();
    while Stats::get(&stats.deliveries) - deliveries_before < expected(&stats)
        && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window_seconds = window.elapsed().as_secs_f64();
    let cpu_after = process.as_ref().and_then(ServerProcess::cpu_nanos);
    let delivered = Stats::get(&stats.deliveries) - deliveries_before;

    // Hold phase: idle sessions kept alive by heartbeats.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(args.hold) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        print_progress("hold", &stats, process.as_ref());
    }

    let report = Report {
        scenario: format!("{:?}", args.scenario).to_lowercase(),
        sessions_requested: args.sessions as u64,
        sessions_joined: joined,
        sessions_held: joined.saturating_sub(Stats::get(&stats.dropped)),
        dropped: Stats::get(&stats.dropped),
        connect_failures: Stats::get(&stats.connect_failures),
        connect_seconds,
        connect_rate: joined as f64 / connect_seconds.max(0.001),
        handshake_ms: stats.handshake_ms(),
        messages_sent: Stats::get(&stats.sent),
        deliveries_expected: expected(&stats),
        deliveries: delivered,
        deliveries_per_second: delivered as f64 / window_seconds.max(0.001),
        latency_ms: stats.latency_ms(),
        presence_frames_per_session: presence_frames_after_join as f64 / (joined.max(1) as f64),
        error_events: Stats::get(&stats.error_events),
        first_errors: stats.first_errors(),
        server_rss_before_kib: rss_before,
        server_rss_connected_kib: rss_connected,
        server_cpu_ns_per_delivery: match (cpu_before, cpu_after) {
            (Some(before), Some(after)) if delivered > 0 => Some((after - before) as f64 / delivered as f64),
            _ => None,
        },
        hold_seconds: args.hold,
    };
    stats.finished.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    report.print_table();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// `--scenario chaos`: fails (exit 1) if anything was lost, duplicated or
/// reordered.
async fn run_chaos(args: &Args, servers: Vec<std::net::SocketAddr>) -> anyhow::Result<()> {
    let report = chaos::run(chaos::ChaosPlan {
        servers,
        receivers: args.sessions,
        senders: args.senders.max(1),
        send_rate: args.send_rate,
        duration: Duration::from_secs(args.duration),
        drop_every: Duration::from_secs_f64(args.drop_every.max(0.1)),
        connect_rate: args.connect_rate,
    })
    .await;
    report.print_table();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if report.lost + report.duplicated + report.out_of_order > 0 || report.joined < report.receivers {
        anyhow::bail!("chaos: not every message arrived once and in order");
    }
    Ok(())
}

fn print_progress(phase: &str, stats: &Stats, process: Option<&ServerProcess>) {
    let rss = process
        .and_then(ServerProcess::rss_kib)
        .map(|kib| format!(" server_rss={:.1}MiB", kib as f64 / 1024.0))
        .unwrap_or_default();
    eprintln!(
        "[{phase:>7}] connected={} joined={} failed={} dropped={} sent={} delivered={} errors={}{rss}",
        Stats::get(&stats.connected),
        Stats::get(&stats.joined),
        Stats::get(&stats.connect_failures),
        Stats::get(&stats.dropped),
        Stats::get(&stats.sent),
        Stats::get(&stats.deliveries),
        Stats::get(&stats.error_events),
    );
}
