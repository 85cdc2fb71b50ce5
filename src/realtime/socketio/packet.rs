//! Socket.IO v5 packets, as they ride inside Engine.IO `message` packets:
//! `<type>[<namespace>,][<ack id>][<JSON>]`. Text only: binary packets are
//! not supported. The encoders return whole Engine.IO messages (`4...`).

use serde_json::{json, Value};

use crate::realtime::reply::Outcome;

/// A Socket.IO packet from a client.
#[derive(Debug, PartialEq)]
pub struct SocketPacket<'a> {
    pub kind: SocketPacketKind,
    pub namespace: &'a str,
    pub ack: Option<u64>,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketPacketKind {
    Connect,
    Disconnect,
    Event,
    Ack,
}

/// Longest namespace accepted (ours are short; anything longer is garbage).
const NAMESPACE_MAX: usize = 64;

impl<'a> SocketPacket<'a> {
    pub fn parse(text: &'a str) -> Result<SocketPacket<'a>, String> {
        let mut rest = text;
        let kind = match rest.as_bytes().first() {
            Some(b'0') => SocketPacketKind::Connect,
            Some(b'1') => SocketPacketKind::Disconnect,
            Some(b'2') => SocketPacketKind::Event,
            Some(b'3') => SocketPacketKind::Ack,
            Some(b'5' | b'6') => return Err("binary Socket.IO packets are not supported".to_owned()),
            Some(_) => return Err("unknown Socket.IO packet type".to_owned()),
            None => return Err("empty Socket.IO packet".to_owned()),
        };
        rest = &rest[1..];
        let mut namespace = "/";
        if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            if end > NAMESPACE_MAX {
                return Err("namespace too long".to_owned());
            }
            namespace = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = if digits > 0 {
            let id = rest[..digits]
                .parse()
                .map_err(|_| "acknowledgement id too large".to_owned())?;
            rest = &rest[digits..];
            Some(id)
        } else {
            None
        };
        let data = if rest.is_empty() {
            None
        } else {
            Some(serde_json::from_str(rest).map_err(|e| format!("malformed Socket.IO payload: {e}"))?)
        };
        Ok(SocketPacket {
            kind,
            namespace,
            ack,
            data,
        })
    }
}

/// A client packet, owned: waiting its turn in the session's queue.
pub struct Packet {
    pub kind: SocketPacketKind,
    pub namespace: String,
    pub ack: Option<u64>,
    pub data: Option<Value>,
}

impl From<SocketPacket<'_>> for Packet {
    fn from(packet: SocketPacket<'_>) -> Packet {
        Packet {
            kind: packet.kind,
            namespace: packet.namespace.to_owned(),
            ack: packet.ack,
            data: packet.data,
        }
    }
}

/// `<namespace>,` for a namespace other than `/`, else nothing.
fn namespace_prefix(namespace: &str) -> String {
    match namespace {
        "/" => String::new(),
        other => format!("{other},"),
    }
}

/// Engine.IO message + Socket.IO CONNECT: the namespace is joined.
/// `pid`: the private id that recovers the connection after a drop
/// (socket.io's connection state recovery).
pub fn connected(namespace: &str, socket_id: &str, pid: &str) -> String {
    let data = serde_json::json!({ "sid": socket_id, "pid": pid });
    format!("40{}{data}", namespace_prefix(namespace))
}

/// Engine.IO message + Socket.IO CONNECT_ERROR.
pub fn connect_error(namespace: &str, message: &str) -> String {
    let data = serde_json::json!({ "message": message });
    format!("44{}{data}", namespace_prefix(namespace))
}

/// Engine.IO message + Socket.IO DISCONNECT: the server left the namespace.
pub fn disconnected(namespace: &str) -> String {
    format!("41{}", namespace_prefix(namespace))
}

/// Engine.IO message + Socket.IO ACK with one argument.
pub fn ack(namespace: &str, id: u64, data: &Value) -> String {
    format!("43{}{id}[{data}]", namespace_prefix(namespace))
}

/// Engine.IO message + Socket.IO EVENT with one argument.
pub fn event(namespace: &str, name: &str, data: &Value) -> String {
    let packet = Value::Array(vec![Value::String(name.to_owned()), data.clone()]);
    format!("42{}{packet}", namespace_prefix(namespace))
}

/// The answer to an event: its acknowledgement if the client asked for
/// one (`{status: "success", payload}` or `{status: "error", error,
/// field}`), else a refusal as an `error` event, as on the plain sockets;
/// nothing for a success nobody asked to hear of.
pub fn answer(namespace: &str, ack: Option<u64>, outcome: Outcome) -> Option<String> {
    Some(match (ack, outcome) {
        (Some(id), Ok(payload)) => {
            self::ack(namespace, id, &json!({"status": "success", "payload": payload}))
        }
        (Some(id), Err(refusal)) => self::ack(namespace, id, &refusal.ack()),
        (None, Ok(_)) => return None,
        (None, Err(refusal)) => event(namespace, "error", &refusal.event_data()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_socket_io_client_sends() {
        let packet = SocketPacket::parse(r#"2/chat,17["join",{"user":"a@b.co"}]"#).unwrap();
        assert_eq!(packet.kind, SocketPacketKind::Event);
        assert_eq!(packet.namespace, "/chat");
        assert_eq!(packet.ack, Some(17));
        assert_eq!(packet.data.unwrap()[0], "join");
        let connect = SocketPacket::parse("0/products,").unwrap();
        assert_eq!(
            (connect.kind, connect.namespace, connect.data),
            (SocketPacketKind::Connect, "/products", None)
        );
        let root = SocketPacket::parse(r#"0{"token":"x"}"#).unwrap();
        assert_eq!(root.namespace, "/");
        assert!(root.data.is_some());
    }

    #[test]
    fn refuses_garbage_with_a_reason() {
        for garbage in [
            "",
            "9",
            "2[",
            "5-1[]",
            "299999999999999999999999[]",
            "2/chat,[\"a\"",
        ] {
            assert!(SocketPacket::parse(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn encodes_what_socket_io_client_reads() {
        assert_eq!(
            connected("/chat", "abc", "p1"),
            r#"40/chat,{"sid":"abc","pid":"p1"}"#
        );
        assert_eq!(connected("/", "abc", "p1"), r#"40{"sid":"abc","pid":"p1"}"#);
        assert_eq!(
            ack("/chat", 3, &serde_json::json!({"status": "success"})),
            r#"43/chat,3[{"status":"success"}]"#
        );
        assert_eq!(
            connect_error("/nope", "Invalid namespace"),
            r#"44/nope,{"message":"Invalid namespace"}"#
        );
    }
}
