//! `MongoStore`: the actor every domain read and write goes through, its
//! messages, and `ask_store` to call it.
//!
//! It owns the backend (MongoDB or embedded) and, after a change commits,
//! publishes it to whoever listens (the `ProductFeed`), whatever the change
//! came from (REST, the WebSocket form, an upload). Handlers run their
//! backend call as a spawned future, so a slow query never holds up the
//! mailbox.

mod backend;
pub mod embedded;
mod error;
pub mod mongo;

use std::sync::Arc;

use actix::prelude::*;

pub use backend::{
    ensure_in_stock, Backend, CartCollection, MessageCollection, Page, ProductCollection, SessionCollection,
    UniqueField, UserCollection,
};
pub use error::StoreError;

use crate::configuration::{Settings, StoreBackendKind};
use crate::domain::{
    Cart, CartItems, ChatMessage, Email, Id, NewProduct, Product, ProductPatch, ProductQuery, Quantity,
    StoredUser, User,
};

/// A committed change, published to whoever listens (the `ProductFeed`).
#[derive(Debug, Clone, Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub enum StoreEvent {
    ProductCreated(Product),
    ProductUpdated(Product),
    ProductDeleted(#[serde(with = "crate::domain::id::hex")] Id),
    CartUpdated(Cart),
    /// An account was registered (other instances learn that accounts,
    /// or an admin, now exist).
    AccountCreated {
        admin: bool,
    },
}

pub struct MongoStore {
    backend: Arc<dyn Backend>,
    events: Recipient<StoreEvent>,
    /// Counts calls that failed for the store's sake (unreachable,
    /// internal), not for the request's (not found, conflict).
    failures: prometheus::IntCounter,
}

impl MongoStore {
    pub fn new(
        backend: Arc<dyn Backend>,
        events: Recipient<StoreEvent>,
        failures: prometheus::IntCounter,
    ) -> Self {
        MongoStore {
            backend,
            events,
            failures,
        }
    }
}

impl Actor for MongoStore {
    type Context = Context<Self>;
}

/// Sends a message to the store and flattens its two failure layers (the
/// actor gone, the operation failed) into one `StoreError`.
pub async fn ask_store<M, T>(store: &Addr<MongoStore>, message: M) -> Result<T, StoreError>
where
    M: Message<Result = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
    MongoStore: Handler<M>,
{
    store.send(message).await?
}

/// Opens the backend the settings name.
pub async fn open_backend(settings: &Settings) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(match settings.store_backend() {
        StoreBackendKind::Mongo { uri, database } => {
            let timeout = std::time::Duration::from_millis(settings.store.mongodb_timeout_ms);
            Arc::new(mongo::MongoBackend::connect(&uri, &database, timeout).await?)
        }
        StoreBackendKind::Embedded { data_dir } => Arc::new(embedded::EmbeddedBackend::open(&data_dir)?),
    })
}

/// Declares a store message and its handler: `$call` runs against the
/// backend `$b`; when `$publish` is given it maps the committed result to
/// the `StoreEvent` to broadcast.
macro_rules! store_message {
    (
        $(#[$doc:meta])*
        $name:ident { $($field:ident : $ty:ty),* } -> $out:ty,
        |$b:ident| $call:expr
        $(, publish |$result:ident| $publish:expr)?
    ) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name { $(pub $field: $ty),* }

        impl Message for $name {
            type Result = Result<$out, StoreError>;
        }

        impl Handler<$name> for MongoStore {
            type Result = ResponseFuture<Result<$out, StoreError>>;

            #[allow(unused_variables)]
            fn handle(&mut self, message: $name, _: &mut Context<Self>) -> Self::Result {
                let $b = Arc::clone(&self.backend);
                let events = self.events.clone();
                let failures = self.failures.clone();
                let $name { $($field),* } = message;
                Box::pin(async move {
                    let result: Result<$out, StoreError> = $call.await;
                    if let Err(StoreError::Unavailable(_) | StoreError::Internal(_)) = &result {
                        failures.inc();
                    }
                    $(
                        if let Ok($result) = &result {
                            events.do_send($publish);
                        }
                    )?
                    result
                })
            }
        }
    };
}

store_message!(
    /// Another instance changed products: drop cached listings.
    ForgetCachedListings {} -> (),
    |b| async move {
        b.forget_cached_listings();
        Ok(())
    }
);

store_message!(
    /// Keep cached listings or not: kept only while this instance hears of
    /// every other instance's product changes.
    CacheListings { keep: bool } -> (),
    |b| async move {
        b.cache_listings(keep);
        Ok(())
    }
);

store_message!(
    /// Whether the database answers (`GET /health`).
    Ping {} -> (),
    |b| b.ping()
);

store_message!(
    ListProducts { query: ProductQuery } -> Page<Product>,
    |b| b.list_products(&query)
);

store_message!(
    /// The newest products, newest first (the `/ws/products` snapshot).
    NewestProducts { limit: u32 } -> Vec<Product>,
    |b| b.newest_products(limit)
);

store_message!(
    GetProduct { id: Id } -> Product,
    |b| b.get_product(id)
);

store_message!(
    CreateProduct { product: NewProduct } -> Product,
    |b| b.create_product(backend::new_product_document(product)),
    publish |created| StoreEvent::ProductCreated(created.clone())
);

store_message!(
    UpdateProduct { id: Id, patch: ProductPatch } -> Product,
    |b| b.update_product(id, patch),
    publish |updated| StoreEvent::ProductUpdated(updated.clone())
);

store_message!(
    DeleteProduct { id: Id } -> (),
    |b| b.delete_product(id),
    publish |_deleted| StoreEvent::ProductDeleted(id)
);

store_message!(
    /// Appends uploaded image URLs to a product's thumbnails.
    AddThumbnails { id: Id, urls: Vec<String> } -> Product,
    |b| b.add_thumbnails(id, urls),
    publish |updated| StoreEvent::ProductUpdated(updated.clone())
);

store_message!(
    /// Persists a chat message (the `ChatRoom` broadcasts it afterwards).
    /// The room gives it its id, in posting order, so ids sort as posted.
    SaveMessage { message: ChatMessage } -> ChatMessage,
    |b| b.save_message(message)
);

store_message!(
    /// Public messages, newest first, older than `before` when given.
    RecentMessages { limit: u32, before: Option<Id> } -> Vec<ChatMessage>,
    |b| b.recent_messages(limit, before)
);

store_message!(
    /// Public messages newer than `after`, oldest first.
    PublicMessagesAfter { after: Id, limit: u32 } -> Vec<ChatMessage>,
    |b| b.public_messages_after(after, limit)
);

store_message!(
    /// A user's direct messages (sent or received), oldest first.
    DirectMessages { user: Email, after: Option<Id>, limit: u32 } -> Vec<ChatMessage>,
    |b| b.direct_messages(&user, after, limit)
);

store_message!(
    /// A new empty cart, belonging to `owner` when given.
    CreateCart { owner: Option<Id> } -> Cart,
    |b| b.create_cart(owner)
);

store_message!(
    GetCart { id: Id } -> Cart,
    |b| b.get_cart(id)
);

store_message!(
    /// Whom a cart belongs to (`None`: nobody in particular).
    CartOwner { id: Id } -> Option<Id>,
    |b| b.cart_owner(id)
);

store_message!(
    AddToCart { cart: Id, product: Id, quantity: Quantity } -> Cart,
    |b| b.add_to_cart(cart, product, quantity),
    publish |cart| StoreEvent::CartUpdated(cart.clone())
);

store_message!(
    SetCartQuantity { cart: Id, product: Id, quantity: Quantity } -> Cart,
    |b| b.set_cart_quantity(cart, product, quantity),
    publish |cart| StoreEvent::CartUpdated(cart.clone())
);

store_message!(
    ReplaceCart { cart: Id, items: CartItems } -> Cart,
    |b| b.replace_cart(cart, items),
    publish |cart| StoreEvent::CartUpdated(cart.clone())
);

store_message!(
    RemoveFromCart { cart: Id, product: Id } -> Cart,
    |b| b.remove_from_cart(cart, product),
    publish |cart| StoreEvent::CartUpdated(cart.clone())
);

store_message!(
    ClearCart { cart: Id } -> Cart,
    |b| b.clear_cart(cart),
    publish |cart| StoreEvent::CartUpdated(cart.clone())
);

store_message!(
    CreateUser { user: StoredUser } -> User,
    |b| b.create_user(user),
    publish |created| StoreEvent::AccountCreated {
        admin: created.role == crate::domain::Role::Admin
    }
);

store_message!(
    FindUserByEmail { email: Email } -> Option<StoredUser>,
    |b| b.find_user_by_email(&email)
);

store_message!(
    GetUser { id: Id } -> User,
    |b| b.get_user(id)
);

store_message!(
    ListUsers {} -> Vec<User>,
    |b| b.list_users()
);

store_message!(
    DeleteUser { id: Id } -> (),
    |b| b.delete_user(id)
);

store_message!(
    /// Whether any account exists (product writes then need an admin).
    AnyUsers {} -> bool,
    |b| b.any_users()
);

store_message!(
    /// Whether any admin account exists.
    AnyAdmin {} -> bool,
    |b| b.any_admin()
);

store_message!(
    /// A login session's state, unless it expired.
    LoadSession { key: String, now: chrono::DateTime<chrono::Utc> } -> Option<String>,
    |b| b.load_session(&key, now)
);

store_message!(
    SaveSession { key: String, state: String, expires: chrono::DateTime<chrono::Utc> } -> (),
    |b| b.save_session(&key, &state, expires)
);

store_message!(
    TouchSession { key: String, expires: chrono::DateTime<chrono::Utc> } -> (),
    |b| b.touch_session(&key, expires)
);

store_message!(
    DeleteSession { key: String } -> (),
    |b| b.delete_session(&key)
);
