//! Document ids: 24-hex MongoDB ObjectIds on every backend.

use mongodb::bson::oid::ObjectId;

use super::ValidationError;

/// Every document's `_id`. The embedded store uses the same ids (stored as
/// their hex text) so clients see no difference between backends.
pub type Id = ObjectId;

/// Parses a path or body id; `field` names it in the error.
pub fn parse_id(field: &str, raw: &str) -> Result<Id, ValidationError> {
    ObjectId::parse_str(raw).map_err(|_| {
        ValidationError::new(
            field,
            format!("{field} must be a 24-character hex id, got {raw:?}"),
        )
    })
}

/// Serializes an id as its hex string (`"_id": "65f..."`), as Mongoose does,
/// and reads it back (events between instances carry documents this way).
pub mod hex {
    use super::Id;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Id, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&id.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        Id::parse_str(text).map_err(serde::de::Error::custom)
    }
}
