//! The WebSocket wire format: text frames carrying
//! `{"event": "<name>", "data": <json>}` in both directions.

use std::fmt::Display;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A serialized server event. Built once per broadcast; every recipient gets
/// a clone, which shares the bytes (a reference-count increment, no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(ByteString);

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    event: &'a str,
    data: &'a T,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl Frame {
    /// Serializes `{"event": event, "data": data}`.
    pub fn event<T: Serialize>(event: &str, data: &T) -> Frame {
        // Serializing our own Serialize types to a String cannot fail: they
        // hold no maps with non-string keys and no failing impls.
        let text = serde_json::to_string(&Envelope { event, data })
            .unwrap_or_else(|e| format!(r#"{{"event":"error","data":{{"error":"{e}"}}}}"#));
        Frame(ByteString::from(text))
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

    pub fn text(&self) -> &ByteString {
        &self.0
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
    fn parse_errors_explain_the_format() {
        assert!(ClientEvent::parse("nope").unwrap_err().contains("expected"));
        assert!(ClientEvent::parse(r#"{"event": 3}"#).is_err());
        assert_eq!(
            ClientEvent::parse(r#"{"event": "leave"}"#).unwrap().data,
            Value::Null
        );
    }
}
