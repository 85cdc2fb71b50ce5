//! Rows to domain types and back, and SQLite errors to `StoreError`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, Row};

use crate::domain::{ChatMessage, Email, Id, Product, Role, StoredUser, User};
use crate::store::{StoreError, UniqueField};

pub const PRODUCT_COLUMNS: &str =
    "id, title, description, code, price, status, stock, category, thumbnails, created_at, updated_at";

pub const USER_COLUMNS: &str = "id, first_name, last_name, email, age, role, cart_id, password_hash";

pub const MESSAGE_COLUMNS: &str = "id, user, message, recipient, created_at";

pub fn map_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied,
        ) => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}

/// Maps the error of a write that may break the uniqueness of `field`.
pub fn map_write_error(error: rusqlite::Error, field: UniqueField<'_>) -> StoreError {
    let unique_violation = matches!(
        &error,
        rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    );
    if unique_violation {
        field.conflict()
    } else {
        map_error(error)
    }
}

/// Timestamps are stored as milliseconds since the epoch.
pub fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// The id in column `index`, which must be ObjectId hex.
fn id_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Id> {
    let text: String = row.get(index)?;
    Id::parse_str(&text).map_err(|_| corrupt(index, "not an ObjectId"))
}

fn corrupt(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, what.to_owned().into())
}

/// A product from a row of `PRODUCT_COLUMNS`.
pub fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    let thumbnails: String = row.get(8)?;
    Ok(Product {
        id: id_column(row, 0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        code: row.get(3)?,
        price: row.get(4)?,
        status: row.get(5)?,
        stock: row.get(6)?,
        category: row.get(7)?,
        thumbnails: serde_json::from_str(&thumbnails)
            .map_err(|_| corrupt(8, "thumbnails are not a JSON list"))?,
        created_at: from_millis(row.get(9)?),
        updated_at: from_millis(row.get(10)?),
    })
}

/// A message from a row of `MESSAGE_COLUMNS`.
pub fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        id: id_column(row, 0)?,
        user: Email::from_stored(row.get(1)?),
        message: row.get(2)?,
        to: row.get::<_, Option<String>>(3)?.map(Email::from_stored),
        created_at: from_millis(row.get(4)?),
    })
}

/// A user and their hash from a row of `USER_COLUMNS`.
pub fn stored_user_from_row(row: &Row<'_>) -> rusqlite::Result<StoredUser> {
    let role: String = row.get(5)?;
    Ok(StoredUser {
        user: User {
            id: id_column(row, 0)?,
            first_name: row.get(1)?,
            last_name: row.get(2)?,
            email: Email::from_stored(row.get(3)?),
            age: row.get(4)?,
            role: Role::from_stored(&role),
            cart: id_column(row, 6)?,
        },
        password_hash: row.get(7)?,
    })
}

/// Deletes the row with this id from `table`; `NotFound(entity)` if none.
pub fn delete_by_id(
    connection: &Connection,
    table: &str,
    id: Id,
    entity: &'static str,
) -> Result<(), StoreError> {
    let deleted = connection
        .execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id.to_hex()])
        .map_err(map_error)?;
    match deleted {
        0 => Err(StoreError::NotFound(entity)),
        _ => Ok(()),
    }
}
