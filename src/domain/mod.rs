//! Domain types. Each can only hold a valid value: input is turned into them
//! by `parse`, which names the offending field when it refuses.

pub mod cart;
mod email;
pub mod id;
pub mod message;
pub mod product;
pub mod user;

pub use cart::{parse_quantity_body, Cart, CartItem, CartItems, CartLine, Quantity};
pub use email::Email;
pub use id::{parse_id, Id};
pub use message::{ChatMessage, MessageText, NewMessage};
pub use product::{NewProduct, Product, ProductPatch, ProductQuery, SortOrder, Stock};
pub use user::{NewUser, Password, Role, StoredUser, User};

use serde::Serialize;

/// Why client input was refused. `field` is the JSON field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Timestamps are kept at millisecond precision: what both backends store.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let millis = chrono::Utc::now().timestamp_millis();
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}
