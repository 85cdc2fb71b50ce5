//! The WebSocket wire format: text frames carrying
//! `{"event": "<name>", "data": <json>}` in both directions; a server
//! event that belongs to a stream also carries its `"offset"`.

use std::fmt::Display;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::stream::Offset;

/// A serialized server event. Built once per broadcast; every recipient gets
/// a clone, which shares the bytes (a reference-count increment, no copy).
/// The Socket.IO encoding of the same event is made once too, on first use,
/// and shared the same way.
#[derive(Debug, Clone)]
pub struct Frame(Arc<Encoded>);

#[derive(Debug)]
struct Encoded {
    /// `{"event": ..., "data": ...}`: what the plain sockets send.
    text: ByteString,
    /// Where the event name (a JSON string) and the data (JSON) sit in it.
    event: Range<usize>,
    data: Range<usize>,
    /// The Socket.IO namespace the event belongs to.
    namespace: &'static str,
    /// Its offset, for an event of a stream (the last argument of its
    /// Socket.IO packet, as socket.io's connection state recovery has it).
    offset: Option<Offset>,
    /// Whether the Socket.IO packet carries the offset. A state event (a
    /// whole cart) shares its namespace with another stream's events, and
    /// socket.io-client keeps one offset per namespace: it must not be one
    /// of these.
    socketio_offset: bool,
    socketio: OnceLock<ByteString>,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.0.text == other.0.text && self.0.namespace == other.0.namespace
    }
}

impl Eq for Frame {}

#[derive(Serialize)]
struct ErrorData<'a> {
    error: &'a str,
    /// Always present (null when no field is at fault): one shape for
    /// every refusal, on every transport.
    field: Option<&'a str>,
}

impl Frame {
    /// Serializes `{"event": event, "data": data}` (namespace `/`).
    pub fn event<T: Serialize>(event: &str, data: &T) -> Frame {
        Frame::encode(event, data, None)
    }

    /// An event of a stream: `{"event": event, "data": data, "offset": offset}`.
    pub fn event_at<T: Serialize>(event: &str, data: &T, offset: &Offset) -> Frame {
        Frame::encode(event, data, Some(offset))
    }

    fn encode<T: Serialize>(event: &str, data: &T, offset: Option<&Offset>) -> Frame {
        // Serializing our own Serialize types to a String cannot fail: they
        // hold no maps with non-string keys and no failing impls.
        let name = serde_json::to_string(event).unwrap_or_else(|_| r#""error""#.to_owned());
        let data = serde_json::to_string(data).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#));
        let text = match offset {
            None => format!(r#"{{"event":{name},"data":{data}}}"#),
            Some(offset) => format!(r#"{{"event":{name},"data":{data},"offset":"{offset}"}}"#),
        };
        let event_start = r#"{"event":"#.len();
        let data_start = event_start + name.len() + r#","data":"#.len();
        Frame(Arc::new(Encoded {
            event: event_start..event_start + name.len(),
            data: data_start..data_start + data.len(),
            text: ByteString::from(text),
            namespace: "/",
            offset: offset.cloned(),
            socketio_offset: true,
            socketio: OnceLock::new(),
        }))
    }

    /// An `error` event: `{"error": message}`, plus the field at fault if any.
    pub fn error(message: impl Display, field: Option<&str>) -> Frame {
        let message = message.to_string();
        Frame::event(
            "error",
            &ErrorData {
                error: &message,
                field,
            },
        )
    }

    /// Places a frame being built in a Socket.IO namespace (`/products`,
    /// `/chat`); the plain encoding is the same in every namespace.
    pub fn in_namespace(mut self, namespace: &'static str) -> Frame {
        match Arc::get_mut(&mut self.0) {
            Some(encoded) => {
                encoded.namespace = namespace;
                self
            }
            None => Frame(Arc::new(Encoded {
                text: self.0.text.clone(),
                event: self.0.event.clone(),
                data: self.0.data.clone(),
                namespace,
                offset: self.0.offset.clone(),
                socketio_offset: self.0.socketio_offset,
                socketio: OnceLock::new(),
            })),
        }
    }

    pub fn text(&self) -> &ByteString {
        &self.0.text
    }

    /// The stream offset of the event, if it belongs to a stream.
    pub fn offset(&self) -> Option<&Offset> {
        self.0.offset.as_ref()
    }

    /// A frame being built whose Socket.IO packet leaves its offset out
    /// (a state event; see `socketio_offset`).
    pub fn state_event(mut self) -> Frame {
        if let Some(encoded) = Arc::get_mut(&mut self.0) {
            encoded.socketio_offset = false;
        }
        self
    }

    /// Whether this is a state event of a stream (its offset is not in its
    /// Socket.IO packet).
    pub fn is_state_event(&self) -> bool {
        self.0.offset.is_some() && !self.0.socketio_offset
    }

    /// The event as an Engine.IO message carrying a Socket.IO EVENT packet:
    /// `42/chat,["message",{...}]`. Made on first use, then shared.
    pub fn socketio_packet(&self) -> ByteString {
        self.0
            .socketio
            .get_or_init(|| {
                let encoded = &self.0;
                let namespace = match encoded.namespace {
                    "/" => String::new(),
                    other => format!("{other},"),
                };
                let (event, data) = (
                    &encoded.text[encoded.event.clone()],
                    &encoded.text[encoded.data.clone()],
                );
                ByteString::from(match (&encoded.offset, encoded.socketio_offset) {
                    (Some(offset), true) => format!("42{namespace}[{event},{data},\"{offset}\"]"),
                    _ => format!("42{namespace}[{event},{data}]"),
                })
            })
            .clone()
    }
}

/// A client frame, parsed just enough to dispatch on its event name.
#[derive(Debug, Deserialize)]
pub struct ClientEvent {
    pub event: String,
    #[serde(default)]
    pub data: Value,
}

impl ClientEvent {
    /// Parses a text frame; the error explains what a valid frame looks like.
    pub fn parse(text: &str) -> Result<ClientEvent, String> {
        serde_json::from_str(text)
            .map_err(|e| format!(r#"malformed frame ({e}): expected {{"event": "<name>", "data": <json>}}"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_share_their_bytes() {
        let frame = Frame::event("product:deleted", &serde_json::json!({"_id": "x"}));
        let copy = frame.clone();
        assert_eq!(frame.text().as_bytes().as_ptr(), copy.text().as_bytes().as_ptr());
        assert_eq!(
            &**frame.text(),
            r#"{"event":"product:deleted","data":{"_id":"x"}}"#
        );
    }

    #[test]
    fn the_socketio_encoding_is_made_once_and_shared() {
        let frame = Frame::event("message", &serde_json::json!({"user": "a@b.co"})).in_namespace("/chat");
        let copy = frame.clone();
        assert_eq!(
            &*frame.socketio_packet(),
            r#"42/chat,["message",{"user":"a@b.co"}]"#
        );
        assert_eq!(
            frame.socketio_packet().as_bytes().as_ptr(),
            copy.socketio_packet().as_bytes().as_ptr()
        );
        let root = Frame::event("update_products", &serde_json::json!({"id": "x"}));
        assert_eq!(&*root.socketio_packet(), r#"42["update_products",{"id":"x"}]"#);
        assert_eq!(&**root.text(), r#"{"event":"update_products","data":{"id":"x"}}"#);
    }

    #[test]
    fn stream_events_carry_their_offset_in_both_encodings() {
        let clock = crate::realtime::stream::LocalClock::new();
        let offset = clock.tick();
        let frame = Frame::event_at("message", &serde_json::json!({"m": 1}), &offset).in_namespace("/chat");
        let text: Value = serde_json::from_str(frame.text()).unwrap();
        assert_eq!(text["offset"], offset.as_str());
        assert_eq!(text["data"]["m"], 1);
        assert_eq!(
            &*frame.socketio_packet(),
            format!(r#"42/chat,["message",{{"m":1}},"{offset}"]"#)
        );
    }

    #[test]
    fn parse_errors_explain_the_format() {
        assert!(ClientEvent::parse("nope").unwrap_err().contains("expected"));
        assert!(ClientEvent::parse(r#"{"event": 3}"#).is_err());
        assert_eq!(
            ClientEvent::parse(r#"{"event": "leave"}"#).unwrap().data,
            Value::Null
        );
    }
}
