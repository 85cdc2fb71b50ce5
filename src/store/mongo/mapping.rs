//! Documents as stored in MongoDB (native ObjectIds and dates, the Node.js
//! course's field names), their conversion to and from domain types, and
//! driver errors to `StoreError`.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{self, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::Collection;
use serde::{Deserialize, Serialize};

use crate::domain::{CartItem, ChatMessage, Email, Id, Product, Role, Stock, StoredUser, User};
use crate::store::{StoreError, UniqueField};

/// MongoDB's error code for a unique index violation.
const DUPLICATE_KEY: i32 = 11000;

/// A product as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDocument {
    #[serde(rename = "_id")]
    pub id: Id,
    pub title: String,
    pub description: String,
    pub code: String,
    pub price: f64,
    pub status: bool,
    pub stock: i64,
    pub category: String,
    pub thumbnails: Vec<String>,
    pub created_at: bson::DateTime,
    pub updated_at: bson::DateTime,
}

impl From<Product> for ProductDocument {
    fn from(p: Product) -> Self {
        ProductDocument {
            id: p.id,
            title: p.title,
            description: p.description,
            code: p.code,
            price: p.price,
            status: p.status,
            stock: i64::from(p.stock),
            category: p.category,
            thumbnails: p.thumbnails,
            created_at: to_bson_date(p.created_at),
            updated_at: to_bson_date(p.updated_at),
        }
    }
}

impl From<ProductDocument> for Product {
    fn from(d: ProductDocument) -> Self {
        Product {
            id: d.id,
            title: d.title,
            description: d.description,
            code: d.code,
            price: d.price,
            status: d.status,
            stock: Stock::try_from(d.stock.max(0)).unwrap_or(Stock::MAX),
            category: d.category,
            thumbnails: d.thumbnails,
            created_at: from_bson_date(d.created_at),
            updated_at: from_bson_date(d.updated_at),
        }
    }
}

/// A cart as stored: product ids and quantities, in the order added.
#[derive(Debug, Serialize, Deserialize)]
pub struct CartDocument {
    #[serde(rename = "_id")]
    pub id: Id,
    pub products: Vec<CartItemDocument>,
    /// The user the cart was created for; absent on carts made by nobody
    /// in particular (and on those stored before owners were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Id>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CartItemDocument {
    pub product: Id,
    pub quantity: i64,
}

impl From<&CartItem> for CartItemDocument {
    fn from(item: &CartItem) -> Self {
        CartItemDocument {
            product: item.product,
            quantity: i64::from(item.quantity.get()),
        }
    }
}

/// A user as stored; `password` holds the argon2 hash, never the password.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserDocument {
    #[serde(rename = "_id")]
    pub id: Id,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub age: i32,
    pub password: String,
    pub role: String,
    pub cart: Id,
}

impl From<StoredUser> for UserDocument {
    fn from(stored: StoredUser) -> Self {
        let user = stored.user;
        UserDocument {
            id: user.id,
            first_name: user.first_name,
            last_name: user.last_name,
            email: user.email.as_str().to_owned(),
            age: i32::from(user.age),
            password: stored.password_hash,
            role: user.role.as_str().to_owned(),
            cart: user.cart,
        }
    }
}

impl From<UserDocument> for StoredUser {
    fn from(d: UserDocument) -> Self {
        StoredUser {
            user: User {
                id: d.id,
                first_name: d.first_name,
                last_name: d.last_name,
                email: Email::from_stored(d.email),
                age: u8::try_from(d.age.clamp(0, 150)).unwrap_or_default(),
                role: Role::from_stored(&d.role),
                cart: d.cart,
            },
            password_hash: d.password,
        }
    }
}

/// A chat message as stored: `{user, message, to, createdAt}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDocument {
    #[serde(rename = "_id")]
    pub id: Id,
    pub user: String,
    pub message: String,
    /// Stored as an explicit null for public messages.
    pub to: Option<String>,
    pub created_at: bson::DateTime,
}

impl From<ChatMessage> for MessageDocument {
    fn from(m: ChatMessage) -> Self {
        MessageDocument {
            id: m.id,
            user: m.user.as_str().to_owned(),
            message: m.message,
            to: m.to.map(|to| to.as_str().to_owned()),
            created_at: to_bson_date(m.created_at),
        }
    }
}

impl From<MessageDocument> for ChatMessage {
    fn from(d: MessageDocument) -> Self {
        ChatMessage {
            id: d.id,
            user: Email::from_stored(d.user),
            message: d.message,
            to: d.to.map(Email::from_stored),
            created_at: from_bson_date(d.created_at),
        }
    }
}

/// A login session as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDocument {
    #[serde(rename = "_id")]
    pub key: String,
    pub state: String,
    pub expires_at: bson::DateTime,
}

pub fn to_bson_date(time: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(time.timestamp_millis())
}

fn from_bson_date(time: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}

/// Reads every document a query's cursor yields.
pub async fn collect<T>(cursor: mongodb::error::Result<mongodb::Cursor<T>>) -> Result<Vec<T>, StoreError>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    cursor.map_err(map_error)?.try_collect().await.map_err(map_error)
}

/// Deletes the document with this `_id`; `NotFound(entity)` if none.
pub async fn delete_by_id<T: Send + Sync>(
    collection: &Collection<T>,
    id: Id,
    entity: &'static str,
) -> Result<(), StoreError> {
    let result = collection
        .delete_one(doc! { "_id": id })
        .await
        .map_err(map_error)?;
    match result.deleted_count {
        0 => Err(StoreError::NotFound(entity)),
        _ => Ok(()),
    }
}

pub fn map_error(error: mongodb::error::Error) -> StoreError {
    match error.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. }
        | ErrorKind::Shutdown => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}

/// Maps the error of a write that may break the uniqueness of `field`.
pub fn map_write_error(error: mongodb::error::Error, field: UniqueField<'_>) -> StoreError {
    let duplicate = match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    };
    if duplicate {
        field.conflict()
    } else {
        map_error(error)
    }
}
