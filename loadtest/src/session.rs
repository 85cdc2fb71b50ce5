//! One simulated WebSocket client: connects (from a chosen loopback source
//! address), joins, counts what it receives, and, if it is a sender, sends
//! stamped messages while the measurement window is open.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{now_nanos, Stats};

/// What the session talks to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Scenario {
    /// `/ws/chat`: join, receive every message; senders send messages.
    Chat,
    /// `/ws/products`: receive product updates (made over REST by the tool).
    Products,
}

pub struct SessionPlan {
    pub index: usize,
    pub server: SocketAddr,
    pub source: IpAddr,
    pub scenario: Scenario,
    /// Interval between this session's messages, if it is a sender.
    pub send_every: Option<Duration>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// The stamp a load message carries: `lt|<unix nanos>`.
const STAMP: &str = "lt|";

fn stamp_of(text: &str) -> Option<u64> {
    let start = text.find(STAMP)? + STAMP.len();
    let digits: &str = &text[start..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

pub fn stamped_text() -> String {
    format!("{STAMP}{}", now_nanos())
}

pub async fn run(plan: SessionPlan, stats: Arc<Stats>) {
    let path = match plan.scenario {
        Scenario::Chat => "/ws/chat",
        Scenario::Products => "/ws/products",
    };
    let connected = async {
        let socket = if plan.server.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(plan.source, 0))?;
        let stream = socket.connect(plan.server).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}{path}", plan.server);
        tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(std::io::Error::other)
    };
    let mut socket = match connected.await {
        Ok((socket, _)) => socket,
        Err(error) => {
            Stats::count(&stats.connect_failures);
            if Stats::get(&stats.connect_failures) <= 3 {
                eprintln!("session {}: connect failed: {error}", plan.index);
            }
            return;
        }
    };
    Stats::count(&stats.connected);
    if plan.scenario == Scenario::Chat {
        let join = format!(
            r#"{{"event":"join","data":{{"user":"load{:06}@load.test"}}}}"#,
            plan.index
        );
        if socket.send(Message::text(join)).await.is_err() {
            Stats::count(&stats.dropped);
            return;
        }
    }

    let mut ticker = plan.send_every.map(|every| {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    let mut joined = false;
    loop {
        let tick = async {
            match ticker.as_mut() {
                Some(ticker) => {
                    ticker.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.next() => match received {
                Some(Ok(Message::Text(text))) => handle_frame(&text, &stats, &mut joined, plan.scenario),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            () = tick => {
                if joined && stats.sending.load(Ordering::Relaxed) {
                    let message = format!(r#"{{"event":"message","data":{{"message":"{}","to":null}}}}"#, stamped_text());
                    if socket.send(Message::text(message)).await.is_err() {
                        break;
                    }
                    Stats::count(&stats.sent);
                }
            }
        }
        if stats.finished.load(Ordering::Relaxed) {
            let _ = socket.close(None).await;
            return;
        }
    }
    if !stats.finished.load(Ordering::Relaxed) {
        Stats::count(&stats.dropped);
    }
}

fn handle_frame(text: &str, stats: &Stats, joined: &mut bool, scenario: Scenario) {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        stats.error(text);
        return;
    };
    match (scenario, frame.event) {
        (Scenario::Chat, "message") | (Scenario::Products, "product:updated") => {
            if let Some(sent) = stamp_of(frame.data.get()) {
                stats.delivered(sent);
            }
        }
        (Scenario::Chat, "presence") | (Scenario::Products, "products") if !*joined => {
            *joined = true;
            Stats::count(&stats.joined);
        }
        (Scenario::Chat, "presence:diff") => Stats::count(&stats.presence_frames),
        (_, "error") => stats.error(frame.data.get()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::stamp_of;

    #[test]
    fn finds_the_stamp_in_a_payload() {
        assert_eq!(stamp_of(r#"{"message":"lt|123456","to":null}"#), Some(123456));
        assert_eq!(stamp_of(r#"{"message":"hello"}"#), None);
    }
}
