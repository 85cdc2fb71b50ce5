//! The contract both storage backends fulfil, observably identically: one
//! trait per collection, and `Backend` for all of them together. The rules
//! both backends apply (stock limit, unique fields) are written here once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{
    Cart, CartItems, ChatMessage, Email, Id, NewProduct, Product, ProductPatch, ProductQuery, Quantity,
    StoredUser, User,
};

/// One page of a listing plus the total the filter matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// The `products` collection.
#[async_trait]
pub trait ProductCollection: Send + Sync {
    async fn list_products(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError>;
    /// The `limit` most recently created products, newest first.
    async fn newest_products(&self, limit: u32) -> Result<Vec<Product>, StoreError>;
    async fn get_product(&self, id: Id) -> Result<Product, StoreError>;
    /// Stores a new product; `Conflict` if its code is taken.
    async fn create_product(&self, product: Product) -> Result<Product, StoreError>;
    async fn update_product(&self, id: Id, patch: ProductPatch) -> Result<Product, StoreError>;
    async fn delete_product(&self, id: Id) -> Result<(), StoreError>;
    /// Appends image URLs to a product's thumbnails.
    async fn add_thumbnails(&self, id: Id, urls: Vec<String>) -> Result<Product, StoreError>;
}

/// The `carts` collection. Reads are populated: each line carries its
/// product, and lines whose product was deleted are left out.
#[async_trait]
pub trait CartCollection: Send + Sync {
    /// A new empty cart, belonging to `owner` when given.
    async fn create_cart(&self, owner: Option<Id>) -> Result<Cart, StoreError>;
    async fn get_cart(&self, id: Id) -> Result<Cart, StoreError>;
    /// The user the cart was created for (`None` for carts created by
    /// nobody in particular); `NotFound` if there is no such cart.
    async fn cart_owner(&self, id: Id) -> Result<Option<Id>, StoreError>;
    /// Adds `quantity` of a product (a new line, or more on its line),
    /// refusing to go past the product's stock. Atomic: concurrent adds to
    /// one cart all count.
    async fn add_to_cart(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError>;
    /// Sets a product's quantity in the cart (adding the line if absent).
    async fn set_cart_quantity(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError>;
    /// Replaces every line; each product must exist and be in stock.
    async fn replace_cart(&self, cart: Id, items: CartItems) -> Result<Cart, StoreError>;
    /// Removes a product's line; `NotFound("cart line")` if it had none.
    async fn remove_from_cart(&self, cart: Id, product: Id) -> Result<Cart, StoreError>;
    /// Empties the cart (the cart itself remains).
    async fn clear_cart(&self, cart: Id) -> Result<Cart, StoreError>;
}

/// The `users` collection.
#[async_trait]
pub trait UserCollection: Send + Sync {
    /// Stores a new user; `Conflict` if the e-mail is taken.
    async fn create_user(&self, user: StoredUser) -> Result<User, StoreError>;
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<StoredUser>, StoreError>;
    async fn get_user(&self, id: Id) -> Result<User, StoreError>;
    /// Every user, in registration order.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    async fn delete_user(&self, id: Id) -> Result<(), StoreError>;
    async fn any_users(&self) -> Result<bool, StoreError>;
    async fn any_admin(&self) -> Result<bool, StoreError>;
}

/// The `messages` collection.
#[async_trait]
pub trait MessageCollection: Send + Sync {
    async fn save_message(&self, message: ChatMessage) -> Result<ChatMessage, StoreError>;
    /// Public messages (no `to`), newest first, only those older than
    /// `before` when given.
    async fn recent_messages(&self, limit: u32, before: Option<Id>) -> Result<Vec<ChatMessage>, StoreError>;
    /// Public messages newer than `after`, oldest first (a page catching up).
    async fn public_messages_after(&self, after: Id, limit: u32) -> Result<Vec<ChatMessage>, StoreError>;
    /// Direct messages `user` sent or received, oldest first: those newer
    /// than `after`, or else the newest `limit`.
    async fn direct_messages(
        &self,
        user: &Email,
        after: Option<Id>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;
}

/// Login sessions (the server-side state behind the session cookie), each
/// with an expiry; expired ones are never returned.
#[async_trait]
pub trait SessionCollection: Send + Sync {
    /// The state of an unexpired session, as stored (JSON text).
    async fn load_session(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    /// Creates or replaces a session.
    async fn save_session(&self, key: &str, state: &str, expires: DateTime<Utc>) -> Result<(), StoreError>;
    /// Moves a session's expiry.
    async fn touch_session(&self, key: &str, expires: DateTime<Utc>) -> Result<(), StoreError>;
    async fn delete_session(&self, key: &str) -> Result<(), StoreError>;
}

/// A storage backend: every collection, plus its name and liveness.
/// Implementations must never block the async runtime: blocking ones hand
/// their work to a blocking thread.
#[async_trait]
pub trait Backend:
    ProductCollection + CartCollection + UserCollection + MessageCollection + SessionCollection + 'static
{
    /// A short name for logs: "mongodb" or "embedded".
    fn name(&self) -> &'static str;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Drops whatever the backend keeps from earlier reads: another
    /// process (an instance sharing the database) changed the data.
    fn forget_cached_listings(&self) {}

    /// Keeps listings from earlier reads (`keep`), or not: off while this
    /// process would not hear of another one's changes.
    fn cache_listings(&self, _keep: bool) {}
}

/// A field whose value must be unique in its collection. Both backends
/// turn their own duplicate-key error into the same `Conflict` with it.
#[derive(Debug, Clone, Copy)]
pub enum UniqueField<'a> {
    ProductCode(&'a str),
    UserEmail(&'a Email),
}

impl UniqueField<'_> {
    /// The refusal a duplicate gets, the same on every backend.
    pub fn conflict(self) -> StoreError {
        match self {
            UniqueField::ProductCode(code) => {
                StoreError::Conflict(format!("a product with code {code:?} already exists"))
            }
            UniqueField::UserEmail(email) => {
                StoreError::Conflict(format!("a user with e-mail {email} already exists"))
            }
        }
    }
}

/// The stock rule: a cart never holds more of a product than its stock.
pub fn ensure_in_stock(product: &Product, wanted: u64) -> Result<(), StoreError> {
    if wanted > u64::from(product.stock) {
        return Err(StoreError::Conflict(format!(
            "not enough stock: {} of product {} in stock, the cart would hold {wanted}",
            product.stock, product.id
        )));
    }
    Ok(())
}

/// Builds the stored form of a new product: fresh id, creation time.
pub fn new_product_document(input: NewProduct) -> Product {
    input.into_product(Id::new(), crate::domain::now())
}
