//! Engine.IO v4 packets: one character of type, then data; several in one
//! long-polling body are separated by `\x1e`. Text only: binary packets
//! are not supported.

use serde_json::json;

use crate::configuration::WebSocketSettings;

/// The separator of packets in one long-polling body.
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// Packets the server sends.
pub const CLOSE: &str = "1";
pub const PING: &str = "2";
pub const NOOP: &str = "6";

/// An Engine.IO packet from a client.
#[derive(Debug, PartialEq)]
pub enum EnginePacket<'a> {
    Close,
    Ping(&'a str),
    Pong(&'a str),
    Message(&'a str),
    Upgrade,
    Noop,
}

impl<'a> EnginePacket<'a> {
    pub fn parse(text: &'a str) -> Result<EnginePacket<'a>, String> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or("empty Engine.IO packet")?;
        let data = chars.as_str();
        Ok(match kind {
            '1' => EnginePacket::Close,
            '2' => EnginePacket::Ping(data),
            '3' => EnginePacket::Pong(data),
            '4' => EnginePacket::Message(data),
            '5' => EnginePacket::Upgrade,
            '6' => EnginePacket::Noop,
            'b' => return Err("binary Engine.IO packets are not supported".to_owned()),
            other => return Err(format!("unknown Engine.IO packet type {other:?}")),
        })
    }
}

/// The client packets of one long-polling body (or one WebSocket frame).
pub fn split_payload(body: &str) -> impl Iterator<Item = &str> {
    body.split(RECORD_SEPARATOR)
}

/// One long-polling body carrying `packets`.
pub fn join_payload<S: AsRef<str>>(packets: impl Iterator<Item = S>) -> String {
    let mut body = String::new();
    for (index, packet) in packets.enumerate() {
        if index > 0 {
            body.push(RECORD_SEPARATOR);
        }
        body.push_str(packet.as_ref());
    }
    body
}

/// How long a client has to answer a ping: what the handshake announces
/// as `pingTimeout` (the plain sockets' silence timeout less the interval).
pub fn ping_timeout_ms(settings: &WebSocketSettings) -> u64 {
    settings
        .client_timeout_ms
        .saturating_sub(settings.heartbeat_interval_ms)
}

/// The open packet: the session id and the heartbeat and size settings the
/// client must follow.
pub fn open(sid: &str, upgrades: bool, settings: &WebSocketSettings) -> String {
    let open = json!({
        "sid": sid,
        "upgrades": if upgrades { vec!["websocket"] } else { Vec::new() },
        "pingInterval": settings.heartbeat_interval_ms,
        "pingTimeout": ping_timeout_ms(settings),
        "maxPayload": settings.socketio_max_payload,
    });
    format!("0{open}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_engine_io_clients_send() {
        assert_eq!(
            EnginePacket::parse("2probe").unwrap(),
            EnginePacket::Ping("probe")
        );
        assert_eq!(EnginePacket::parse("40").unwrap(), EnginePacket::Message("0"));
        for garbage in ["", "x", "b4AAA", "7"] {
            assert!(EnginePacket::parse(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn payloads_split_and_join_on_the_record_separator() {
        let body = join_payload(["40", "42[\"a\"]"].iter());
        assert_eq!(body, "40\u{1e}42[\"a\"]");
        assert_eq!(split_payload(&body).collect::<Vec<_>>(), ["40", "42[\"a\"]"]);
    }
}
