//! The contract both storage backends fulfil, observably identically.

use async_trait::async_trait;

use crate::domain::{
    Cart, CartItems, ChatMessage, Email, Id, NewProduct, Product, ProductPatch, ProductQuery, Quantity,
    StoredUser, User,
};

/// Why a store operation failed. Mapped to HTTP in `routes::error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The document the request named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change would break a uniqueness rule (e.g. a product `code`).
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached right now; the request may be retried.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is logged, never shown to clients.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    /// What a client may be told: no driver or SQL detail, which is logged.
    pub fn client_message(&self) -> String {
        match self {
            StoreError::NotFound(_) | StoreError::Conflict(_) => self.to_string(),
            StoreError::Unavailable(detail) => {
                log::warn!("store unavailable: {detail}");
                "the database is unavailable; try again shortly".to_owned()
            }
            StoreError::Internal(detail) => {
                log::error!("store failure: {detail}");
                "internal server error".to_owned()
            }
        }
    }
}

/// One page of a listing plus the total the filter matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// A storage backend. Implementations must never block the async runtime:
/// blocking ones hand their work to a blocking thread.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs: "mongodb" or "embedded".
    fn name(&self) -> &'static str;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn list_products(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError>;
    /// The `limit` most recently created products, newest first.
    async fn newest_products(&self, limit: u32) -> Result<Vec<Product>, StoreError>;
    async fn get_product(&self, id: Id) -> Result<Product, StoreError>;
    async fn create_product(&self, product: Product) -> Result<Product, StoreError>;
    async fn update_product(&self, id: Id, patch: ProductPatch) -> Result<Product, StoreError>;
    async fn delete_product(&self, id: Id) -> Result<(), StoreError>;
    /// Appends image URLs to a product's thumbnails.
    async fn add_thumbnails(&self, id: Id, urls: Vec<String>) -> Result<Product, StoreError>;

    async fn create_cart(&self) -> Result<Cart, StoreError>;
    async fn get_cart(&self, id: Id) -> Result<Cart, StoreError>;
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

    /// Stores a new user; `Conflict` if the e-mail is taken.
    async fn create_user(&self, user: StoredUser) -> Result<User, StoreError>;
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<StoredUser>, StoreError>;
    async fn get_user(&self, id: Id) -> Result<User, StoreError>;
    /// Every user, in registration order.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    async fn delete_user(&self, id: Id) -> Result<(), StoreError>;
    async fn any_users(&self) -> Result<bool, StoreError>;

    async fn save_message(&self, message: ChatMessage) -> Result<ChatMessage, StoreError>;
    /// Public messages (no `to`), newest first, only those older than
    /// `before` when given.
    async fn recent_messages(&self, limit: u32, before: Option<Id>) -> Result<Vec<ChatMessage>, StoreError>;
}

/// The message a duplicate product code gets, the same on every backend.
pub fn duplicate_code(code: &str) -> StoreError {
    StoreError::Conflict(format!("a product with code {code:?} already exists"))
}

/// The message a taken e-mail gets, the same on every backend.
pub fn duplicate_email(email: &Email) -> StoreError {
    StoreError::Conflict(format!("a user with e-mail {email} already exists"))
}

/// The refusal when a cart would hold more of a product than its stock.
pub fn stock_exceeded(product: &Product, wanted: u64) -> StoreError {
    StoreError::Conflict(format!(
        "not enough stock: {} of product {} in stock, the cart would hold {wanted}",
        product.stock, product.id
    ))
}

/// Builds the stored form of a new product: fresh id, creation time.
pub fn new_product_document(input: NewProduct) -> Product {
    input.into_product(Id::new(), crate::domain::now())
}
