//! The MongoDB backend, on the official driver. Used when `MONGODB_URI` is
//! set (a local `mongod`, Atlas, ...). Collections: `products`, later
//! `carts`, `messages`, `users`, in database `MONGODB_DB`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::backend::{duplicate_code, duplicate_email, stock_exceeded, Backend, Page, StoreError};
use crate::domain::{
    Cart, CartItem, CartItems, ChatMessage, Email, Id, Product, ProductPatch, ProductQuery, Quantity, Role,
    SortOrder, Stock, StoredUser, User,
};

/// How often a cart write retries when a concurrent write changed the cart
/// between its conditional updates (each retry re-reads the state).
const CART_WRITE_ATTEMPTS: usize = 20;

/// MongoDB's error code for a unique index violation.
const DUPLICATE_KEY: i32 = 11000;

pub struct MongoBackend {
    database: Database,
    products: Collection<ProductDocument>,
    messages: Collection<MessageDocument>,
    carts: Collection<CartDocument>,
    users: Collection<UserDocument>,
    /// Whether the unique index on `products.code` is known to exist. It is
    /// created at startup, or, if MongoDB was down then, before the first
    /// write that needs it.
    indexes_ready: AtomicBool,
}

/// A product as stored in MongoDB: native ObjectId and dates.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductDocument {
    #[serde(rename = "_id")]
    id: Id,
    title: String,
    description: String,
    code: String,
    price: f64,
    status: bool,
    stock: i64,
    category: String,
    thumbnails: Vec<String>,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
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
struct CartDocument {
    #[serde(rename = "_id")]
    id: Id,
    products: Vec<CartItemDocument>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CartItemDocument {
    product: Id,
    quantity: i64,
}

impl From<&CartItem> for CartItemDocument {
    fn from(item: &CartItem) -> Self {
        CartItemDocument {
            product: item.product,
            quantity: i64::from(item.quantity.get()),
        }
    }
}

/// A user as stored, with the Node.js course's field names; `password`
/// holds the argon2 hash, never the password.
#[derive(Debug, Serialize, Deserialize)]
struct UserDocument {
    #[serde(rename = "_id")]
    id: Id,
    first_name: String,
    last_name: String,
    email: String,
    age: i32,
    password: String,
    role: String,
    cart: Id,
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
struct MessageDocument {
    #[serde(rename = "_id")]
    id: Id,
    user: String,
    message: String,
    /// Stored as an explicit null for public messages.
    to: Option<String>,
    created_at: bson::DateTime,
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

fn to_bson_date(time: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(time.timestamp_millis())
}

fn from_bson_date(time: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}

/// Reads every document a query's cursor yields.
async fn collect<T>(cursor: mongodb::error::Result<mongodb::Cursor<T>>) -> Result<Vec<T>, StoreError>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    cursor.map_err(map_error)?.try_collect().await.map_err(map_error)
}

/// Deletes the document with this `_id`; `NotFound(entity)` if none.
async fn delete_by_id<T: Send + Sync>(
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

/// An ascending unique index on one field.
fn unique_index(field: &str, name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(IndexOptions::builder().unique(true).name(name.to_owned()).build())
        .build()
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

fn map_error(error: mongodb::error::Error) -> StoreError {
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

impl MongoBackend {
    /// Connects lazily: a MongoDB that is down at startup makes requests
    /// answer 503 until it is back, it does not stop the server.
    pub async fn connect(uri: &str, database: &str, timeout: Duration) -> Result<MongoBackend, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Unavailable(format!("invalid MONGODB_URI: {e}")))?;
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        options.app_name = Some("ecommerce".to_owned());
        let client = Client::with_options(options).map_err(map_error)?;
        let database = client.database(database);
        let backend = MongoBackend {
            products: database.collection("products"),
            messages: database.collection("messages"),
            carts: database.collection("carts"),
            users: database.collection("users"),
            database,
            indexes_ready: AtomicBool::new(false),
        };
        if let Err(error) = backend.ensure_indexes().await {
            log::warn!("MongoDB indexes not created yet (will retry before writes): {error}");
        }
        Ok(backend)
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        if self.indexes_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let unique_code = unique_index("code", "code_unique");
        self.products.create_index(unique_code).await.map_err(map_error)?;
        let by_category = IndexModel::builder()
            .keys(doc! { "category": 1, "_id": 1 })
            .build();
        let by_price = IndexModel::builder().keys(doc! { "price": 1, "_id": 1 }).build();
        self.products
            .create_indexes([by_category, by_price])
            .await
            .map_err(map_error)?;
        let unique_email = unique_index("email", "email_unique");
        self.users.create_index(unique_email).await.map_err(map_error)?;
        // Public history pages: newest first among messages without `to`.
        let public_history = IndexModel::builder().keys(doc! { "to": 1, "_id": -1 }).build();
        self.messages
            .create_index(public_history)
            .await
            .map_err(map_error)?;
        self.indexes_ready.store(true, Ordering::Release);
        Ok(())
    }

    async fn find_product(&self, filter: Document) -> Result<Product, StoreError> {
        self.products
            .find_one(filter)
            .await
            .map_err(map_error)?
            .map(Product::from)
            .ok_or(StoreError::NotFound("product"))
    }
}

impl MongoBackend {
    async fn find_cart(&self, cart: Id) -> Result<CartDocument, StoreError> {
        self.carts
            .find_one(doc! { "_id": cart })
            .await
            .map_err(map_error)?
            .ok_or(StoreError::NotFound("cart"))
    }

    /// Reads a cart and populates its lines with one query for the products.
    async fn read_cart(&self, cart: Id) -> Result<Cart, StoreError> {
        let stored = self.find_cart(cart).await?;
        let ids: Vec<Id> = stored.products.iter().map(|item| item.product).collect();
        let products: Vec<ProductDocument> =
            collect(self.products.find(doc! { "_id": { "$in": ids } }).await).await?;
        let products: Vec<Product> = products.into_iter().map(Product::from).collect();
        let items: Vec<CartItem> = stored
            .products
            .iter()
            .map(|item| CartItem {
                product: item.product,
                quantity: Quantity::from_stored(item.quantity),
            })
            .collect();
        Ok(Cart::populate(cart, &items, &products))
    }

    /// Appends a line for `product` unless the cart already has one.
    /// Returns whether it did.
    async fn push_line(&self, cart: Id, product: Id, quantity: u64) -> Result<bool, StoreError> {
        let pushed = self
            .carts
            .update_one(
                doc! { "_id": cart, "products.product": { "$ne": product } },
                doc! { "$push": { "products": { "product": product, "quantity": quantity as i64 } } },
            )
            .await
            .map_err(map_error)?;
        Ok(pushed.matched_count == 1)
    }
}

/// The `$set` document of a patch: the fields it names, and `updatedAt`.
fn patch_document(patch: ProductPatch) -> Document {
    let mut set = Document::new();
    let ProductPatch {
        title,
        description,
        code,
        price,
        status,
        stock,
        category,
        thumbnails,
    } = patch;
    let mut put = |key: &str, value: Option<Bson>| {
        if let Some(value) = value {
            set.insert(key, value);
        }
    };
    put("title", title.map(Bson::from));
    put("description", description.map(Bson::from));
    put("code", code.map(Bson::from));
    put("price", price.map(Bson::from));
    put("status", status.map(Bson::from));
    put("stock", stock.map(|s| Bson::Int64(i64::from(s))));
    put("category", category.map(Bson::from));
    put("thumbnails", thumbnails.map(Bson::from));
    set.insert("updatedAt", to_bson_date(crate::domain::now()));
    set
}

/// The MongoDB filter for a listing; `title_contains` is matched literally
/// (regex metacharacters escaped), case-insensitively.
fn listing_filter(query: &ProductQuery) -> Document {
    let mut filter = Document::new();
    if let Some(category) = &query.category {
        filter.insert("category", category.as_str());
    }
    match query.available {
        Some(true) => {
            filter.insert("stock", doc! { "$gt": 0 });
        }
        Some(false) => {
            filter.insert("stock", 0);
        }
        None => {}
    }
    if let Some(text) = &query.title_contains {
        filter.insert("title", doc! { "$regex": regex_escape(text), "$options": "i" });
    }
    filter
}

fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}-/".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[async_trait]
impl Backend for MongoBackend {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.database
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn list_products(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let filter = listing_filter(query);
        let total = self
            .products
            .count_documents(filter.clone())
            .await
            .map_err(map_error)?;
        let sort = match query.sort {
            None => doc! { "_id": 1 },
            Some(SortOrder::PriceAscending) => doc! { "price": 1, "_id": 1 },
            Some(SortOrder::PriceDescending) => doc! { "price": -1, "_id": 1 },
        };
        let items: Vec<ProductDocument> = collect(
            self.products
                .find(filter)
                .sort(sort)
                .skip(query.offset())
                .limit(i64::from(query.limit))
                .await,
        )
        .await?;
        Ok(Page {
            items: items.into_iter().map(Product::from).collect(),
            total,
        })
    }

    async fn newest_products(&self, limit: u32) -> Result<Vec<Product>, StoreError> {
        let items: Vec<ProductDocument> = collect(
            self.products
                .find(doc! {})
                .sort(doc! { "_id": -1 })
                .limit(i64::from(limit))
                .await,
        )
        .await?;
        Ok(items.into_iter().map(Product::from).collect())
    }

    async fn get_product(&self, id: Id) -> Result<Product, StoreError> {
        self.find_product(doc! { "_id": id }).await
    }

    async fn create_product(&self, product: Product) -> Result<Product, StoreError> {
        self.ensure_indexes().await?;
        let code = product.code.clone();
        let document = ProductDocument::from(product);
        self.products.insert_one(&document).await.map_err(|e| {
            if is_duplicate_key(&e) {
                duplicate_code(&code)
            } else {
                map_error(e)
            }
        })?;
        Ok(Product::from(document))
    }

    async fn update_product(&self, id: Id, patch: ProductPatch) -> Result<Product, StoreError> {
        self.ensure_indexes().await?;
        let code = patch.code.clone().unwrap_or_default();
        self.products
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": patch_document(patch) })
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| {
                if is_duplicate_key(&e) {
                    duplicate_code(&code)
                } else {
                    map_error(e)
                }
            })?
            .map(Product::from)
            .ok_or(StoreError::NotFound("product"))
    }

    async fn delete_product(&self, id: Id) -> Result<(), StoreError> {
        delete_by_id(&self.products, id, "product").await
    }

    async fn add_thumbnails(&self, id: Id, urls: Vec<String>) -> Result<Product, StoreError> {
        self.products
            .find_one_and_update(
                doc! { "_id": id },
                doc! {
                    "$push": { "thumbnails": { "$each": urls } },
                    "$set": { "updatedAt": to_bson_date(crate::domain::now()) },
                },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_error)?
            .map(Product::from)
            .ok_or(StoreError::NotFound("product"))
    }

    async fn create_cart(&self) -> Result<Cart, StoreError> {
        let cart = CartDocument {
            id: Id::new(),
            products: Vec::new(),
        };
        self.carts.insert_one(&cart).await.map_err(map_error)?;
        Ok(Cart {
            id: cart.id,
            products: Vec::new(),
        })
    }

    async fn get_cart(&self, id: Id) -> Result<Cart, StoreError> {
        self.read_cart(id).await
    }

    /// Lock-free and race-safe: either `$inc` the existing line, guarded so
    /// the result stays within stock, or `$push` a new line, guarded so no
    /// second line appears. If neither matched, the cart changed in
    /// between (or the stock is exceeded): re-read and decide.
    async fn add_to_cart(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let stocked = self.get_product(product).await?;
        let adding = u64::from(quantity.get());
        let stock = u64::from(stocked.stock);
        if adding > stock {
            return Err(stock_exceeded(&stocked, adding));
        }
        for _ in 0..CART_WRITE_ATTEMPTS {
            let incremented = self
                .carts
                .update_one(
                    doc! {
                        "_id": cart,
                        "products": { "$elemMatch": { "product": product, "quantity": { "$lte": (stock - adding) as i64 } } },
                    },
                    doc! { "$inc": { "products.$.quantity": adding as i64 } },
                )
                .await
                .map_err(map_error)?;
            if incremented.matched_count == 1 || self.push_line(cart, product, adding).await? {
                return self.read_cart(cart).await;
            }
            let current = self.find_cart(cart).await?;
            if let Some(line) = current.products.iter().find(|item| item.product == product) {
                let wanted = line.quantity.max(0) as u64 + adding;
                if wanted > stock {
                    return Err(stock_exceeded(&stocked, wanted));
                }
            }
        }
        Err(StoreError::Unavailable(
            "the cart is too busy; try again".to_owned(),
        ))
    }

    async fn set_cart_quantity(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let stocked = self.get_product(product).await?;
        let wanted = u64::from(quantity.get());
        if wanted > u64::from(stocked.stock) {
            return Err(stock_exceeded(&stocked, wanted));
        }
        for _ in 0..CART_WRITE_ATTEMPTS {
            let updated = self
                .carts
                .update_one(
                    doc! { "_id": cart, "products.product": product },
                    doc! { "$set": { "products.$.quantity": wanted as i64 } },
                )
                .await
                .map_err(map_error)?;
            if updated.matched_count == 1 || self.push_line(cart, product, wanted).await? {
                return self.read_cart(cart).await;
            }
            self.find_cart(cart).await?;
        }
        Err(StoreError::Unavailable(
            "the cart is too busy; try again".to_owned(),
        ))
    }

    async fn replace_cart(&self, cart: Id, items: CartItems) -> Result<Cart, StoreError> {
        self.find_cart(cart).await?;
        for item in items.items() {
            let stocked = self.get_product(item.product).await?;
            let wanted = u64::from(item.quantity.get());
            if wanted > u64::from(stocked.stock) {
                return Err(stock_exceeded(&stocked, wanted));
            }
        }
        let lines: Vec<Document> = items
            .items()
            .iter()
            .map(|item| bson::to_document(&CartItemDocument::from(item)))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let replaced = self
            .carts
            .update_one(doc! { "_id": cart }, doc! { "$set": { "products": lines } })
            .await
            .map_err(map_error)?;
        if replaced.matched_count == 0 {
            return Err(StoreError::NotFound("cart"));
        }
        self.read_cart(cart).await
    }

    async fn remove_from_cart(&self, cart: Id, product: Id) -> Result<Cart, StoreError> {
        let removed = self
            .carts
            .update_one(
                doc! { "_id": cart, "products.product": product },
                doc! { "$pull": { "products": { "product": product } } },
            )
            .await
            .map_err(map_error)?;
        if removed.matched_count == 0 {
            self.find_cart(cart).await?;
            return Err(StoreError::NotFound("cart line"));
        }
        self.read_cart(cart).await
    }

    async fn clear_cart(&self, cart: Id) -> Result<Cart, StoreError> {
        let cleared = self
            .carts
            .update_one(doc! { "_id": cart }, doc! { "$set": { "products": [] } })
            .await
            .map_err(map_error)?;
        if cleared.matched_count == 0 {
            return Err(StoreError::NotFound("cart"));
        }
        self.read_cart(cart).await
    }

    async fn create_user(&self, stored: StoredUser) -> Result<User, StoreError> {
        self.ensure_indexes().await?;
        let user = stored.user.clone();
        self.users
            .insert_one(UserDocument::from(stored))
            .await
            .map_err(|e| {
                if is_duplicate_key(&e) {
                    duplicate_email(&user.email)
                } else {
                    map_error(e)
                }
            })?;
        Ok(user)
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<StoredUser>, StoreError> {
        let found = self
            .users
            .find_one(doc! { "email": email.as_str() })
            .await
            .map_err(map_error)?;
        Ok(found.map(StoredUser::from))
    }

    async fn get_user(&self, id: Id) -> Result<User, StoreError> {
        self.users
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_error)?
            .map(|d| StoredUser::from(d).user)
            .ok_or(StoreError::NotFound("user"))
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let users: Vec<UserDocument> =
            collect(self.users.find(doc! {}).sort(doc! { "_id": 1 }).await).await?;
        Ok(users.into_iter().map(|d| StoredUser::from(d).user).collect())
    }

    async fn delete_user(&self, id: Id) -> Result<(), StoreError> {
        delete_by_id(&self.users, id, "user").await
    }

    async fn any_users(&self) -> Result<bool, StoreError> {
        Ok(self.users.find_one(doc! {}).await.map_err(map_error)?.is_some())
    }

    async fn save_message(&self, message: ChatMessage) -> Result<ChatMessage, StoreError> {
        let document = MessageDocument::from(message);
        self.messages.insert_one(&document).await.map_err(map_error)?;
        Ok(ChatMessage::from(document))
    }

    async fn recent_messages(&self, limit: u32, before: Option<Id>) -> Result<Vec<ChatMessage>, StoreError> {
        let mut filter = doc! { "to": Bson::Null };
        if let Some(before) = before {
            filter.insert("_id", doc! { "$lt": before });
        }
        let items: Vec<MessageDocument> = collect(
            self.messages
                .find(filter)
                .sort(doc! { "_id": -1 })
                .limit(i64::from(limit))
                .await,
        )
        .await?;
        Ok(items.into_iter().map(ChatMessage::from).collect())
    }
}
