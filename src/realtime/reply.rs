//! What a client is told about one of its events, whatever its transport:
//! an `Outcome` is the success payload or a `Refusal`. The chat and product
//! rules produce outcomes; each transport turns them into its own shape (an
//! `error` event on the plain sockets, an acknowledgement or an `error`
//! event on Socket.IO).

use serde_json::{json, Value};

use super::protocol::Frame;
use crate::auth::AuthError;
use crate::domain::ValidationError;
use crate::store::StoreError;

/// The answer to one client event.
pub type Outcome = Result<Value, Refusal>;

/// Why an event was refused: what the client is told (never a store or
/// driver detail), and the field at fault if one is.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub error: String,
    pub field: Option<String>,
    /// The event is not one the endpoint knows: the plain sockets answer
    /// it, Socket.IO ignores it (as socket.io does).
    unknown_event: bool,
}

impl Refusal {
    pub fn new(error: impl Into<String>) -> Refusal {
        Refusal {
            error: error.into(),
            field: None,
            unknown_event: false,
        }
    }

    /// An event the endpoint does not know.
    pub fn unknown_event(error: impl Into<String>) -> Refusal {
        Refusal {
            unknown_event: true,
            ..Refusal::new(error)
        }
    }

    pub fn is_unknown_event(&self) -> bool {
        self.unknown_event
    }

    /// The Socket.IO acknowledgement of a refused event.
    pub fn ack(&self) -> Value {
        json!({"status": "error", "error": self.error, "field": self.field})
    }

    /// The data of an `error` event: `{error, field}`, `field` null when
    /// no field is at fault (the ack's shape too).
    pub fn event_data(&self) -> Value {
        json!({"error": self.error, "field": self.field})
    }

    /// The `error` event of the plain sockets.
    pub fn frame(&self) -> Frame {
        Frame::error(&self.error, self.field.as_deref())
    }
}

impl From<ValidationError> for Refusal {
    fn from(error: ValidationError) -> Refusal {
        Refusal {
            error: error.message,
            field: Some(error.field),
            unknown_event: false,
        }
    }
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Refusal {
        Refusal::new(error.client_message())
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Refusal {
        Refusal::new(error.client_message())
    }
}
