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

/// Serializes an id as its hex string (`"_id": "65f..."`), as Mongoose does.
pub mod hex {
    use super::Id;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(id: &Id, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&id.to_hex())
    }
}
