//! The embedded backend: SQLite (bundled, no install) in `DATA_DIR`, one
//! file per collection here (`products`, `carts`, `users`, `messages`),
//! with the row mapping, the schema and the listing cache beside them.
//!
//! It mirrors the MongoDB backend observably: the same ObjectId `_id`s
//! (stored as hex text, whose order is ObjectId order), the same validation,
//! errors and ordering. SQLite calls block, so every call runs on tokio's
//! blocking pool, never on an actix event loop.

mod carts;
mod listing_cache;
mod mapping;
mod messages;
mod products;
mod schema;
mod sessions;
mod users;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::Connection;

use super::{Backend, StoreError};
use listing_cache::ListingCache;
use mapping::map_error;

pub struct EmbeddedBackend {
    connection: Arc<Mutex<Connection>>,
    listings: ListingCache,
}

impl EmbeddedBackend {
    /// Opens (creating if needed) the database file under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedBackend, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create data dir {}: {e}", data_dir.display()))
        })?;
        let mut connection = Connection::open(data_dir.join(schema::DATABASE_FILE)).map_err(map_error)?;
        // WAL keeps readers and the writer out of each other's way; with
        // synchronous=NORMAL a committed change survives a crash of the
        // server process (only an OS crash or power cut can lose the last
        // commits).
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(map_error)?;
        // Several processes may share the file (instances on one machine):
        // the schema and its migrations are made under the write lock, one
        // process at a time.
        let setup = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(map_error)?;
        setup.execute_batch(schema::SCHEMA).map_err(map_error)?;
        for (table, column, kind) in schema::ADDED_COLUMNS {
            let present: bool = setup
                .query_row(
                    &format!("SELECT EXISTS (SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1)"),
                    [column],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            if !present {
                setup
                    .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                    .map_err(map_error)?;
            }
        }
        setup.commit().map_err(map_error)?;
        Ok(EmbeddedBackend {
            connection: Arc::new(Mutex::new(connection)),
            listings: ListingCache::default(),
        })
    }

    /// Like `run`, for work that changes products: the listing cache is
    /// emptied once it is done.
    async fn run_product_write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let result = self.run(work).await;
        self.listings.invalidate();
        result
    }

    /// Runs `work` with the connection on the blocking pool.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || work(&mut lock(&connection)))
            .await
            .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }
}

/// A panic while holding the lock cannot leave SQLite inconsistent (its
/// transactions roll back), so a poisoned lock is still safe to use.
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn forget_cached_listings(&self) {
        self.listings.invalidate();
    }

    fn cache_listings(&self, keep: bool) {
        self.listings.set_enabled(keep);
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_error))
            .await
    }
}
