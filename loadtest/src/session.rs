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
    /// `/ws/chat` with connections dropped at random and resumed from
    /// their offsets: counts lost, duplicated and reordered messages.
    Chaos,
}

/// How the session speaks to the server.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Protocol {
    /// `/ws/chat` and `/ws/products`: `{"event", "data"}` text frames.
    Plain,
    /// Socket.IO over its WebSocket transport (`/socket.io/`, namespaces
    /// `/chat` and `/products`), answering Engine.IO pings.
    Socketio,
}

pub struct SessionPlan {
    pub index: usize,
    pub server: SocketAddr,
    pub source: IpAddr,
    pub scenario: Scenario,
    pub protocol: Protocol,
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

/// Binding to a source address picks the port at `bind`, among ports no
/// socket holds, TIME_WAIT ones included: after a run that closed ten
/// thousand sessions the search crawls and connects stall for seconds (a
/// later run then measures the previous one's leftovers).
/// `IP_BIND_ADDRESS_NO_PORT` picks the port at `connect` instead, by the
/// whole address pair, as an unbound socket does.
fn choose_port_at_connect(socket: &TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a c_int option value of
        // the size given.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

pub async fn run(plan: SessionPlan, stats: Arc<Stats>) {
    let (path, namespace) = match (plan.protocol, plan.scenario) {
        (Protocol::Plain, Scenario::Chat | Scenario::Chaos) => ("/ws/chat", ""),
        (Protocol::Plain, Scenario::Products) => ("/ws/products", ""),
        (Protocol::Socketio, Scenario::Chat | Scenario::Chaos) => {
            ("/socket.io/?EIO=4&transport=websocket", "/chat")
        }
        (Protocol::Socketio, Scenario::Products) => ("/socket.io/?EIO=4&transport=websocket", "/products"),
    };
    let connecting = std::time::Instant::now();
    let connected = async {
        let socket = if plan.server.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        choose_port_at_connect(&socket);
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
    stats.handshake(connecting.elapsed());
    Stats::count(&stats.connected);
    let mut opening = Vec::new();
    let join = (plan.scenario == Scenario::Chat).then(|| {
        let user = format!(r#"{{"user":"load{:06}@load.test"}}"#, plan.index);
        encode(plan.protocol, namespace, "join", &user)
    });
    // Socket.IO: the namespace first; its events once the server says it
    // is connected, as socket.io-client does (servers may drop a packet
    // for a namespace not yet connected).
    let mut join_when_connected = None;
    match plan.protocol {
        Protocol::Socketio => {
            opening.push(format!("40{namespace},"));
            join_when_connected = join;
        }
        Protocol::Plain => opening.extend(join),
    }
    for text in opening {
        if socket.send(Message::text(text)).await.is_err() {
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
                Some(Ok(Message::Text(text))) => match plan.protocol {
                    Protocol::Plain => handle_frame(&text, &stats, &mut joined, plan.scenario),
                    // An Engine.IO ping: answer it, or the server drops us.
                    Protocol::Socketio if text.as_str() == "2" => {
                        if socket.send(Message::text("3")).await.is_err() {
                            break;
                        }
                    }
                    Protocol::Socketio => {
                        if text.starts_with(&format!("40{namespace}")) {
                            if let Some(join) = join_when_connected.take() {
                                if socket.send(Message::text(join)).await.is_err() {
                                    break;
                                }
                            }
                        }
                        handle_packet(&text, &stats, &mut joined, plan.scenario)
                    }
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            () = tick => {
                if joined && stats.sending.load(Ordering::Relaxed) {
                    let data = format!(r#"{{"message":"{}","to":null}}"#, stamped_text());
                    let message = encode(plan.protocol, namespace, "message", &data);
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

/// A client event in the protocol's encoding (`data` is JSON).
fn encode(protocol: Protocol, namespace: &str, event: &str, data: &str) -> String {
    match protocol {
        Protocol::Plain => format!(r#"{{"event":"{event}","data":{data}}}"#),
        Protocol::Socketio => format!(r#"42{namespace},["{event}",{data}]"#),
    }
}

fn handle_frame(text: &str, stats: &Stats, joined: &mut bool, scenario: Scenario) {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        stats.error(text);
        return;
    };
    handle_event(frame.event, frame.data, stats, joined, scenario);
}

/// A Socket.IO packet: events (`42/chat,["name",data]`) are counted like
/// plain frames; the open and connect packets are not events.
fn handle_packet(text: &str, stats: &Stats, joined: &mut bool, scenario: Scenario) {
    if text.starts_with("0") || text.starts_with("40") {
        return;
    }
    if text.starts_with("44") || text.starts_with("41") {
        stats.error(text);
        return;
    }
    let Some(start) = text
        .strip_prefix("42")
        .and_then(|rest| rest.find('[').map(|at| at + 2))
    else {
        return;
    };
    // `["name", data]`, or `["name", data, "offset"]` for an event of a
    // stream (connection state recovery).
    let arguments = serde_json::from_str::<Vec<&RawValue>>(&text[start..]);
    let event = arguments
        .as_ref()
        .ok()
        .and_then(|arguments| match arguments.as_slice() {
            [name, data] | [name, data, _] => Some((serde_json::from_str::<&str>(name.get()).ok()?, *data)),
            _ => None,
        });
    match event {
        Some((event, data)) => handle_event(event, data, stats, joined, scenario),
        None => stats.error(text),
    }
}

fn handle_event(event: &str, data: &RawValue, stats: &Stats, joined: &mut bool, scenario: Scenario) {
    match (scenario, event) {
        (Scenario::Chat, "message") | (Scenario::Products, "product:updated") => {
            if let Some(sent) = stamp_of(data.get()) {
                stats.delivered(sent);
            }
        }
        (Scenario::Chat, "presence") | (Scenario::Products, "products") if !*joined => {
            *joined = true;
            Stats::count(&stats.joined);
        }
        (Scenario::Chat, "presence:diff") => Stats::count(&stats.presence_frames),
        (_, "error") => stats.error(data.get()),
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
