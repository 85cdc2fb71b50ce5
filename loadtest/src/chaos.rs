//! `--scenario chaos`: counts, by sequence numbers, that nothing sent in
//! order is lost when connections drop. Receivers join `/ws/chat` on the
//! instances in turn; each drops its connection at random (on average every
//! `--drop-every` seconds), comes back on a random instance after up to
//! half a second, and resumes from the offset of the last event it saw
//! (`?since=`). Senders (that never drop) send numbered messages
//! (`c|<sender>|<seq>`) once every receiver has joined. At the end every
//! receiver must hold, for every sender, each number exactly once and in
//! order; the report counts what was lost, duplicated and out of order, and
//! how many resumes the server could not serve (`recovered: false`).
//! Pause Redis meanwhile (`scripts/chaos.sh` does) to add its blips.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

/// What a chaos run is told.
pub struct ChaosPlan {
    pub servers: Vec<SocketAddr>,
    pub receivers: usize,
    pub senders: usize,
    pub send_rate: f64,
    pub duration: Duration,
    pub drop_every: Duration,
    pub connect_rate: f64,
}

#[derive(Default)]
struct Counters {
    joined: AtomicU64,
    reconnects: AtomicU64,
    recovered: AtomicU64,
    unrecoverable: AtomicU64,
    connect_failures: AtomicU64,
    errors: AtomicU64,
}

#[derive(Debug, Serialize)]
pub struct ChaosReport {
    pub scenario: &'static str,
    pub receivers: u64,
    pub joined: u64,
    pub senders: u64,
    pub messages_sent: u64,
    pub reconnects: u64,
    pub resumed: u64,
    pub unrecoverable: u64,
    pub connect_failures: u64,
    pub error_events: u64,
    pub deliveries_expected: u64,
    pub deliveries: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
}

impl ChaosReport {
    pub fn print_table(&self) {
        println!("loadtest summary (chaos)");
        println!(
            "  receivers joined / requested       {} / {}",
            self.joined, self.receivers
        );
        println!(
            "  senders / messages sent            {} / {}",
            self.senders, self.messages_sent
        );
        println!(
            "  reconnects (resumed / not)         {} ({} / {})",
            self.reconnects, self.resumed, self.unrecoverable
        );
        println!(
            "  connect failures / error events    {} / {}",
            self.connect_failures, self.error_events
        );
        println!(
            "  deliveries / expected              {} / {}",
            self.deliveries, self.deliveries_expected
        );
        println!(
            "  lost / duplicated / out of order   {} / {} / {}",
            self.lost, self.duplicated, self.out_of_order
        );
    }
}

/// A small xorshift: random enough for drop times, no dependency.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with this mean.
    fn exponential(&mut self, mean: Duration) -> Duration {
        mean.mul_f64(-(1.0 - self.unit()).ln())
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(server: SocketAddr, path: &str) -> anyhow::Result<Socket> {
    let stream = tokio::net::TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let (socket, _) = tokio_tungstenite::client_async(format!("ws://{server}{path}"), stream).await?;
    Ok(socket)
}

fn join_frame(user: &str) -> Message {
    Message::text(format!(r#"{{"event":"join","data":{{"user":"{user}"}}}}"#))
}

/// A numbered message: (sender, seq).
fn numbered(text: &str) -> Option<(usize, u64)> {
    let mut parts = text.strip_prefix("c|")?.split('|');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// One receiver: joins, drops and resumes until `finished`; returns, per
/// sender, the numbers it received in order of receipt.
async fn receiver(
    index: usize,
    plan: Arc<ChaosPlan>,
    counters: Arc<Counters>,
    dropping: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
) -> Vec<Vec<u64>> {
    let mut received = vec![Vec::new(); plan.senders];
    let mut random = Random::new(index as u64 + 1);
    let mut since: Option<String> = None;
    let mut attempt = index;
    let user = format!("chaos{index:06}@load.test");
    let mut first = true;
    while !finished.load(Ordering::Relaxed) {
        let server = plan.servers[attempt % plan.servers.len()];
        let path = match &since {
            Some(offset) => format!("/ws/chat?since={offset}"),
            None => "/ws/chat".to_owned(),
        };
        let mut socket = match connect(server, &path).await {
            Ok(socket) => socket,
            Err(_) => {
                counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                attempt += 1;
                continue;
            }
        };
        if socket.send(join_frame(&user)).await.is_err() {
            continue;
        }
        let drop_at = tokio::time::Instant::now() + random.exponential(plan.drop_every);
        loop {
            let next = tokio::select! {
                next = socket.next() => next,
                () = tokio::time::sleep_until(drop_at), if dropping.load(Ordering::Relaxed) => break,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if finished.load(Ordering::Relaxed) { break } else { continue }
                }
            };
            let Some(Ok(Message::Text(text))) = next else {
                if matches!(next, Some(Ok(Message::Ping(_) | Message::Pong(_)))) {
                    continue;
                }
                break;
            };
            let Ok(frame) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(offset) = frame["offset"].as_str() {
                since = Some(offset.to_owned());
            }
            match frame["event"].as_str() {
                Some("history") if first => {
                    first = false;
                    counters.joined.fetch_add(1, Ordering::Relaxed);
                }
                Some("message") => {
                    if let Some((sender, seq)) = frame["data"]["message"].as_str().and_then(numbered) {
                        if let Some(seqs) = received.get_mut(sender) {
                            seqs.push(seq);
                        }
                    }
                }
                Some("recovered") => {
                    let counter = match frame["data"]["recovered"].as_bool() {
                        Some(true) => &counters.recovered,
                        _ => &counters.unrecoverable,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Some("error") => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        if finished.load(Ordering::Relaxed) {
            let _ = socket.close(None).await;
            break;
        }
        // Dropped: no close handshake, as when a network goes away.
        drop(socket);
        counters.reconnects.fetch_add(1, Ordering::Relaxed);
        attempt = random.next() as usize;
        tokio::time::sleep(Duration::from_millis(random.next() % 500)).await;
    }
    received
}

/// One sender: joins, then sends its numbered messages while `sending`.
async fn sender(
    index: usize,
    plan: Arc<ChaosPlan>,
    sending: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<u64>>>,
) -> anyhow::Result<()> {
    let server = plan.servers[index % plan.servers.len()];
    let mut socket = connect(server, "/ws/chat").await?;
    socket
        .send(join_frame(&format!("sender{index}@load.test")))
        .await?;
    let every = Duration::from_secs_f64(plan.senders as f64 / plan.send_rate.max(0.001));
    let mut ticker = tokio::time::interval(every);
    let mut seq = 0u64;
    while !sending.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Read (and drop) what comes, so the server never sees us as slow.
    let (mut write, mut read) = socket.split();
    let draining = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
    while sending.load(Ordering::Relaxed) {
        ticker.tick().await;
        let text = format!(r#"{{"event":"message","data":{{"message":"c|{index}|{seq}"}}}}"#);
        write.send(Message::text(text)).await?;
        seq += 1;
        if let Ok(mut sent) = sent.lock() {
            sent[index] = seq;
        }
    }
    // Leave cleanly: a socket dropped with unread data is reset, and what
    // it sent last may never be read.
    tokio::time::sleep(Duration::from_secs(1)).await;
    write.send(Message::Close(None)).await?;
    let _ = tokio::time::timeout(Duration::from_secs(2), draining).await;
    Ok(())
}

pub async fn run(plan: ChaosPlan) -> ChaosReport {
    let plan = Arc::new(plan);
    let counters = Arc::new(Counters::default());
    let dropping = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let sending = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(vec![0u64; plan.senders]));

    let mut receivers = Vec::with_capacity(plan.receivers);
    let interval = Duration::from_secs_f64(1.0 / plan.connect_rate.max(1.0));
    for index in 0..plan.receivers {
        receivers.push(tokio::spawn(receiver(
            index,
            plan.clone(),
            counters.clone(),
            dropping.clone(),
            finished.clone(),
        )));
        tokio::time::sleep(interval).await;
    }
    let senders: Vec<_> = (0..plan.senders)
        .map(|index| tokio::spawn(sender(index, plan.clone(), sending.clone(), sent.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (counters.joined.load(Ordering::Relaxed) as usize) < plan.receivers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[  chaos] {} receivers joined; sending, and dropping connections",
        counters.joined.load(Ordering::Relaxed)
    );
    // Let the senders' joins settle before the first number goes out.
    tokio::time::sleep(Duration::from_secs(1)).await;
    dropping.store(true, Ordering::Relaxed);
    sending.store(true, Ordering::Relaxed);
    let window = Instant::now();
    while window.elapsed() < plan.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprintln!(
            "[  chaos] sent={} reconnects={} resumed={} unrecoverable={}",
            sent.lock().map(|sent| sent.iter().sum::<u64>()).unwrap_or(0),
            counters.reconnects.load(Ordering::Relaxed),
            counters.recovered.load(Ordering::Relaxed),
            counters.unrecoverable.load(Ordering::Relaxed),
        );
    }
    sending.store(false, Ordering::Relaxed);
    for sender in senders {
        if let Ok(Err(error)) = sender.await {
            eprintln!("a sender stopped: {error}");
        }
    }
    // Stop dropping; let every receiver resume and catch up.
    dropping.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(8)).await;
    finished.store(true, Ordering::Relaxed);

    let sent: Vec<u64> = sent.lock().map(|sent| sent.clone()).unwrap_or_default();
    let mut report = ChaosReport {
        scenario: "chaos",
        receivers: plan.receivers as u64,
        joined: counters.joined.load(Ordering::Relaxed),
        senders: plan.senders as u64,
        messages_sent: sent.iter().sum(),
        reconnects: counters.reconnects.load(Ordering::Relaxed),
        resumed: counters.recovered.load(Ordering::Relaxed),
        unrecoverable: counters.unrecoverable.load(Ordering::Relaxed),
        connect_failures: counters.connect_failures.load(Ordering::Relaxed),
        error_events: counters.errors.load(Ordering::Relaxed),
        deliveries_expected: 0,
        deliveries: 0,
        lost: 0,
        duplicated: 0,
        out_of_order: 0,
    };
    for task in receivers {
        let Ok(received) = task.await else { continue };
        for (sender, seqs) in received.iter().enumerate() {
            let total = sent.get(sender).copied().unwrap_or(0);
            report.deliveries_expected += total;
            report.deliveries += seqs.len() as u64;
            let mut seen = vec![false; total as usize];
            let mut previous: Option<u64> = None;
            for &seq in seqs {
                match seen.get_mut(seq as usize) {
                    Some(true) => report.duplicated += 1,
                    Some(slot) => *slot = true,
                    None => report.duplicated += 1, // never sent: counts as wrong
                }
                if previous.is_some_and(|previous| seq <= previous) {
                    report.out_of_order += 1;
                }
                previous = Some(seq);
            }
            let missing: Vec<usize> = (0..seen.len()).filter(|seq| !seen[*seq]).collect();
            if !missing.is_empty() && report.lost == 0 {
                eprintln!("chaos: a receiver lacks numbers {missing:?} of sender {sender} (of {total})");
            }
            report.lost += missing.len() as u64;
        }
    }
    report
}
