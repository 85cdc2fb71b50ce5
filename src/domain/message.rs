//! Chat messages: `{user, message, to}` plus a timestamp, every one stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Email, Id, ValidationError};

/// A stored chat message. `to` is set for a direct message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Message)]
pub struct ChatMessage {
    #[serde(rename = "_id", with = "super::id::hex")]
    #[schema(value_type = String, example = "65f0a0a0a0a0a0a0a0a0a0a0")]
    pub id: Id,
    /// The sender's e-mail (lower-cased).
    #[schema(value_type = String, example = "ana@example.com")]
    pub user: Email,
    pub message: String,
    /// Null for a public message, the recipient's e-mail for a direct one.
    #[schema(value_type = Option<String>)]
    pub to: Option<Email>,
    pub created_at: DateTime<Utc>,
}

/// Message text: trimmed, not empty, at most `max_chars` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(raw: &str, max_chars: usize) -> Result<MessageText, ValidationError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ValidationError::new("message", "message cannot be empty"));
        }
        if text.chars().count() > max_chars {
            return Err(ValidationError::new(
                "message",
                format!("message is longer than {max_chars} characters"),
            ));
        }
        Ok(MessageText(text.to_owned()))
    }
}

/// A valid message about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub user: Email,
    pub text: MessageText,
    pub to: Option<Email>,
}

impl NewMessage {
    /// Parses `{message, to}` from a client whose identity is `user`.
    pub fn parse(
        user: Email,
        data: &serde_json::Value,
        max_chars: usize,
    ) -> Result<NewMessage, ValidationError> {
        let message = match data.get("message") {
            Some(serde_json::Value::String(text)) => MessageText::parse(text, max_chars)?,
            Some(_) => return Err(ValidationError::new("message", "message must be a string")),
            None => return Err(ValidationError::new("message", "message is required")),
        };
        let to = match data.get("to") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(address)) if address.trim().is_empty() => None,
            Some(serde_json::Value::String(address)) => Some(Email::parse("to", address)?),
            Some(_) => return Err(ValidationError::new("to", "to must be null or an e-mail address")),
        };
        Ok(NewMessage {
            user,
            text: message,
            to,
        })
    }

    pub fn into_message(self, id: Id, now: DateTime<Utc>) -> ChatMessage {
        ChatMessage {
            id,
            user: self.user,
            message: self.text.0,
            to: self.to,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ana() -> Email {
        Email::parse("user", "ana@example.com").unwrap()
    }

    #[test]
    fn parses_public_and_direct_messages() {
        let public = NewMessage::parse(ana(), &json!({"message": " hi ", "to": null}), 10).unwrap();
        assert_eq!((public.text, public.to), (MessageText("hi".into()), None));
        let direct =
            NewMessage::parse(ana(), &json!({"message": "psst", "to": "Bob@Example.com"}), 10).unwrap();
        assert_eq!(direct.to.unwrap().as_str(), "bob@example.com");
    }

    #[test]
    fn refuses_empty_long_and_mistyped_messages() {
        for (data, field) in [
            (json!({"message": "   "}), "message"),
            (json!({"message": "x".repeat(11)}), "message"),
            (json!({"message": 5}), "message"),
            (json!({}), "message"),
            (json!({"message": "hi", "to": "nobody"}), "to"),
            (json!({"message": "hi", "to": 3}), "to"),
        ] {
            assert_eq!(
                NewMessage::parse(ana(), &data, 10).unwrap_err().field,
                field,
                "{data}"
            );
        }
    }
}
