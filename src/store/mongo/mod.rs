//! The MongoDB backend, on the official driver, used when `MONGODB_URI` is
//! set (a local `mongod`, Atlas, ...): collections `products`, `carts`,
//! `users` and `messages` in database `MONGODB_DB`, one file each here,
//! with the document mapping beside them.

mod carts;
mod mapping;
mod messages;
mod products;
mod sessions;
mod users;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::doc;
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{Backend, StoreError};
use mapping::{map_error, CartDocument, MessageDocument, ProductDocument, SessionDocument, UserDocument};

pub struct MongoBackend {
    database: Database,
    products: Collection<ProductDocument>,
    messages: Collection<MessageDocument>,
    carts: Collection<CartDocument>,
    users: Collection<UserDocument>,
    sessions: Collection<SessionDocument>,
    /// Whether every index (`ensure_indexes`) is known to exist. They are
    /// created at startup, or, if MongoDB was down then, before the first
    /// write that needs a unique one.
    indexes_ready: AtomicBool,
}

/// An ascending unique index on one field.
fn unique_index(field: &str, name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(IndexOptions::builder().unique(true).name(name.to_owned()).build())
        .build()
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
            sessions: database.collection("sessions"),
            database,
            indexes_ready: AtomicBool::new(false),
        };
        if let Err(error) = backend.ensure_indexes().await {
            log::warn!("MongoDB indexes not created yet (will retry before writes): {error}");
        }
        Ok(backend)
    }

    /// Creates the indexes: unique `products.code` and `users.email`, the
    /// listing orders (category, price), and public history pages.
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
        // A user's direct messages, sent and received.
        let sent = IndexModel::builder().keys(doc! { "user": 1, "_id": 1 }).build();
        self.messages
            .create_indexes([public_history, sent])
            .await
            .map_err(map_error)?;
        // Expired login sessions are deleted by MongoDB. Optional: reads
        // filter on the expiry anyway, so a server without TTL support only
        // keeps expired documents around.
        let expiry = IndexModel::builder()
            .keys(doc! { "expiresAt": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::ZERO)
                    .name("sessions_expiry".to_owned())
                    .build(),
            )
            .build();
        if let Err(error) = self.sessions.create_index(expiry).await {
            log::warn!("no TTL index on sessions (expired sessions stay stored): {error}");
        }
        self.indexes_ready.store(true, Ordering::Release);
        Ok(())
    }
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
}
