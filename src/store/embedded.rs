//! The embedded backend: SQLite (bundled, no install) in `DATA_DIR`.
//!
//! It mirrors the MongoDB backend observably: the same ObjectId `_id`s
//! (stored as hex text, whose order is ObjectId order), the same validation,
//! errors and ordering. SQLite calls block, so every call runs on tokio's
//! blocking pool, never on an actix event loop.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

use super::backend::{duplicate_code, duplicate_email, stock_exceeded, Backend, Page, StoreError};
use crate::domain::{
    Cart, CartItems, CartLine, ChatMessage, Email, Id, Product, ProductPatch, ProductQuery, Quantity, Role,
    SortOrder, StoredUser, User,
};

const USER_COLUMNS: &str = "id, first_name, last_name, email, age, role, cart_id, password_hash";

const DATABASE_FILE: &str = "ecommerce.sqlite3";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS products (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        description TEXT NOT NULL,
        code        TEXT NOT NULL UNIQUE,
        price       REAL NOT NULL,
        status      INTEGER NOT NULL,
        stock       INTEGER NOT NULL,
        category    TEXT NOT NULL,
        thumbnails  TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS products_by_category ON products (category, id);
    CREATE INDEX IF NOT EXISTS products_by_price ON products (price, id);
    CREATE TABLE IF NOT EXISTS carts (
        id          TEXT PRIMARY KEY,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS cart_items (
        cart_id     TEXT NOT NULL,
        product_id  TEXT NOT NULL,
        quantity    INTEGER NOT NULL,
        position    INTEGER NOT NULL,
        PRIMARY KEY (cart_id, product_id)
    );
    CREATE TABLE IF NOT EXISTS users (
        id            TEXT PRIMARY KEY,
        first_name    TEXT NOT NULL,
        last_name     TEXT NOT NULL,
        email         TEXT NOT NULL UNIQUE,
        age           INTEGER NOT NULL,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL,
        cart_id       TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS messages (
        id          TEXT PRIMARY KEY,
        user        TEXT NOT NULL,
        message     TEXT NOT NULL,
        recipient   TEXT,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS public_messages ON messages (id) WHERE recipient IS NULL;
";

const PRODUCT_COLUMNS: &str =
    "id, title, description, code, price, status, stock, category, thumbnails, created_at, updated_at";

pub struct EmbeddedBackend {
    connection: Arc<Mutex<Connection>>,
    listings: ListingCache,
}

/// Product listings already read, by query. This process is the only
/// writer of its database file, so it knows every change: each product
/// write bumps the generation and empties the cache. A read that raced a
/// write (generation moved while it ran) is not cached.
#[derive(Default)]
struct ListingCache {
    entries: Mutex<(u64, HashMap<ProductQuery, Page<Product>>)>,
}

/// Distinct listings kept; past this the cache starts over.
const LISTING_CACHE_ENTRIES: usize = 512;

impl ListingCache {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<ProductQuery, Page<Product>>)> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached page, or the generation to pass to `insert` after reading.
    fn get(&self, query: &ProductQuery) -> Result<Page<Product>, u64> {
        let entries = self.lock();
        entries.1.get(query).cloned().ok_or(entries.0)
    }

    fn insert(&self, generation: u64, query: ProductQuery, page: &Page<Product>) {
        let mut entries = self.lock();
        if entries.0 == generation {
            if entries.1.len() >= LISTING_CACHE_ENTRIES {
                entries.1.clear();
            }
            entries.1.insert(query, page.clone());
        }
    }

    fn invalidate(&self) {
        let mut entries = self.lock();
        entries.0 += 1;
        entries.1.clear();
    }
}

impl EmbeddedBackend {
    /// Opens (creating if needed) the database file under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedBackend, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create data dir {}: {e}", data_dir.display()))
        })?;
        let connection = Connection::open(data_dir.join(DATABASE_FILE)).map_err(map_error)?;
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
        connection.execute_batch(SCHEMA).map_err(map_error)?;
        Ok(EmbeddedBackend {
            connection: Arc::new(Mutex::new(connection)),
            listings: ListingCache::default(),
        })
    }

    /// Reads one page of a listing and the total it matches.
    async fn read_listing(&self, query: ProductQuery) -> Result<Page<Product>, StoreError> {
        self.run(move |c| {
            let (filter, mut values) = listing_filter(&query);
            let total: u64 = c
                .query_row(
                    &format!("SELECT COUNT(*) FROM products {filter}"),
                    rusqlite::params_from_iter(values.iter()),
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let order = match query.sort {
                None => "id ASC",
                Some(SortOrder::PriceAscending) => "price ASC, id ASC",
                Some(SortOrder::PriceDescending) => "price DESC, id ASC",
            };
            values.push(i64::from(query.limit).into());
            values.push(i64::try_from(query.offset()).unwrap_or(i64::MAX).into());
            let sql = format!(
                "SELECT {PRODUCT_COLUMNS} FROM products {filter} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
                values.len() - 1,
                values.len()
            );
            let mut statement = c.prepare_cached(&sql).map_err(map_error)?;
            let items = statement
                .query_map(rusqlite::params_from_iter(values.iter()), product_from_row)
                .and_then(Iterator::collect)
                .map_err(map_error)?;
            Ok(Page { items, total })
        })
        .await
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

fn map_error(error: rusqlite::Error) -> StoreError {
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

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    let id: String = row.get(0)?;
    let thumbnails: String = row.get(8)?;
    let corrupt = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.to_owned().into())
    };
    Ok(Product {
        id: Id::parse_str(&id).map_err(|_| corrupt("product id is not an ObjectId"))?,
        title: row.get(1)?,
        description: row.get(2)?,
        code: row.get(3)?,
        price: row.get(4)?,
        status: row.get(5)?,
        stock: row.get(6)?,
        category: row.get(7)?,
        thumbnails: serde_json::from_str(&thumbnails)
            .map_err(|_| corrupt("thumbnails are not a JSON list"))?,
        created_at: from_millis(row.get(9)?),
        updated_at: from_millis(row.get(10)?),
    })
}

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let id: String = row.get(0)?;
    Ok(ChatMessage {
        id: Id::parse_str(&id).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                "message id is not an ObjectId".into(),
            )
        })?,
        user: Email::from_stored(row.get(1)?),
        message: row.get(2)?,
        to: row.get::<_, Option<String>>(3)?.map(Email::from_stored),
        created_at: from_millis(row.get(4)?),
    })
}

fn stored_user_from_row(row: &Row<'_>) -> rusqlite::Result<StoredUser> {
    let id = |index: usize, text: String| {
        Id::parse_str(&text).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                "not an ObjectId".into(),
            )
        })
    };
    let role: String = row.get(5)?;
    Ok(StoredUser {
        user: User {
            id: id(0, row.get(0)?)?,
            first_name: row.get(1)?,
            last_name: row.get(2)?,
            email: Email::from_stored(row.get(3)?),
            age: row.get(4)?,
            role: Role::from_stored(&role),
            cart: id(6, row.get(6)?)?,
        },
        password_hash: row.get(7)?,
    })
}

fn fetch_product(connection: &Connection, id: Id) -> Result<Product, StoreError> {
    connection
        .query_row(
            &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"),
            [id.to_hex()],
            product_from_row,
        )
        .optional()
        .map_err(map_error)?
        .ok_or(StoreError::NotFound("product"))
}

/// Deletes the row with this id from `table`; `NotFound(entity)` if none.
fn delete_by_id(
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

fn require_cart(connection: &Connection, cart: Id) -> Result<(), StoreError> {
    connection
        .query_row("SELECT 1 FROM carts WHERE id = ?1", [cart.to_hex()], |_| Ok(()))
        .optional()
        .map_err(map_error)?
        .ok_or(StoreError::NotFound("cart"))
}

/// The cart with its products; the join leaves out deleted products.
fn read_cart(connection: &Connection, cart: Id) -> Result<Cart, StoreError> {
    require_cart(connection, cart)?;
    let columns = PRODUCT_COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {columns}, i.quantity FROM cart_items i JOIN products p ON p.id = i.product_id
             WHERE i.cart_id = ?1 ORDER BY i.position"
        ))
        .map_err(map_error)?;
    let products = statement
        .query_map([cart.to_hex()], |row| {
            Ok(CartLine {
                product: product_from_row(row)?,
                quantity: Quantity::from_stored(row.get(11)?),
            })
        })
        .and_then(Iterator::collect)
        .map_err(map_error)?;
    Ok(Cart { id: cart, products })
}

fn quantity_in_cart(connection: &Connection, cart: Id, product: Id) -> Result<u64, StoreError> {
    Ok(connection
        .query_row(
            "SELECT quantity FROM cart_items WHERE cart_id = ?1 AND product_id = ?2",
            [cart.to_hex(), product.to_hex()],
            |row| row.get::<_, u64>(0),
        )
        .optional()
        .map_err(map_error)?
        .unwrap_or(0))
}

/// In one transaction: sets a product's line to `wanted(current quantity)`
/// (0 when absent) unless that exceeds the product's stock.
fn change_line(
    connection: &mut Connection,
    cart: Id,
    product: Id,
    wanted: impl FnOnce(u64) -> u64,
) -> Result<Cart, StoreError> {
    let transaction = connection.transaction().map_err(map_error)?;
    require_cart(&transaction, cart)?;
    let stocked = fetch_product(&transaction, product)?;
    let wanted = wanted(quantity_in_cart(&transaction, cart, product)?);
    if wanted > u64::from(stocked.stock) {
        return Err(stock_exceeded(&stocked, wanted));
    }
    put_line(&transaction, cart, product, wanted)?;
    let result = read_cart(&transaction, cart)?;
    transaction.commit().map_err(map_error)?;
    Ok(result)
}

/// Sets a line's quantity, appending the line if it is new.
fn put_line(connection: &Connection, cart: Id, product: Id, quantity: u64) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO cart_items (cart_id, product_id, quantity, position)
             VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), 0) + 1 FROM cart_items WHERE cart_id = ?1))
             ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity",
            params![cart.to_hex(), product.to_hex(), quantity],
        )
        .map_err(map_error)?;
    Ok(())
}

/// Writes every column of `product` over the stored row with its id.
fn write_product(connection: &Connection, product: &Product, insert: bool) -> Result<(), StoreError> {
    let sql = if insert {
        "INSERT INTO products (title, description, code, price, status, stock, category, thumbnails, created_at, updated_at, id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    } else {
        "UPDATE products SET title = ?1, description = ?2, code = ?3, price = ?4, status = ?5, stock = ?6,
         category = ?7, thumbnails = ?8, created_at = ?9, updated_at = ?10 WHERE id = ?11"
    };
    let thumbnails =
        serde_json::to_string(&product.thumbnails).map_err(|e| StoreError::Internal(e.to_string()))?;
    connection
        .execute(
            sql,
            params![
                product.title,
                product.description,
                product.code,
                product.price,
                product.status,
                product.stock,
                product.category,
                thumbnails,
                millis(product.created_at),
                millis(product.updated_at),
                product.id.to_hex(),
            ],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                duplicate_code(&product.code)
            } else {
                map_error(e)
            }
        })?;
    Ok(())
}

/// The WHERE clause and its parameters for a listing's filters.
fn listing_filter(query: &ProductQuery) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(category) = &query.category {
        values.push(Value::Text(category.clone()));
        clauses.push(format!("category = ?{}", values.len()));
    }
    match query.available {
        Some(true) => clauses.push("stock > 0".to_owned()),
        Some(false) => clauses.push("stock = 0".to_owned()),
        None => {}
    }
    if let Some(text) = &query.title_contains {
        values.push(Value::Text(text.to_lowercase()));
        clauses.push(format!("instr(lower(title), ?{}) > 0", values.len()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (filter, values)
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_error))
            .await
    }

    async fn list_products(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let generation = match self.listings.get(query) {
            Ok(page) => return Ok(page),
            Err(generation) => generation,
        };
        let read = self.read_listing(query.clone()).await?;
        self.listings.insert(generation, query.clone(), &read);
        Ok(read)
    }

    async fn newest_products(&self, limit: u32) -> Result<Vec<Product>, StoreError> {
        self.run(move |c| {
            let mut statement = c
                .prepare_cached(&format!(
                    "SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id DESC LIMIT ?1"
                ))
                .map_err(map_error)?;
            statement
                .query_map([limit], product_from_row)
                .and_then(Iterator::collect)
                .map_err(map_error)
        })
        .await
    }

    async fn get_product(&self, id: Id) -> Result<Product, StoreError> {
        self.run(move |c| fetch_product(c, id)).await
    }

    async fn create_product(&self, product: Product) -> Result<Product, StoreError> {
        self.run_product_write(move |c| {
            write_product(c, &product, true)?;
            Ok(product)
        })
        .await
    }

    async fn update_product(&self, id: Id, patch: ProductPatch) -> Result<Product, StoreError> {
        self.run_product_write(move |c| {
            let transaction = c.transaction().map_err(map_error)?;
            let mut product = fetch_product(&transaction, id)?;
            patch.apply(&mut product, crate::domain::now());
            write_product(&transaction, &product, false)?;
            transaction.commit().map_err(map_error)?;
            Ok(product)
        })
        .await
    }

    async fn delete_product(&self, id: Id) -> Result<(), StoreError> {
        self.run_product_write(move |c| delete_by_id(c, "products", id, "product"))
            .await
    }

    async fn add_thumbnails(&self, id: Id, urls: Vec<String>) -> Result<Product, StoreError> {
        self.run_product_write(move |c| {
            let transaction = c.transaction().map_err(map_error)?;
            let mut product = fetch_product(&transaction, id)?;
            product.thumbnails.extend(urls);
            product.updated_at = crate::domain::now();
            write_product(&transaction, &product, false)?;
            transaction.commit().map_err(map_error)?;
            Ok(product)
        })
        .await
    }

    async fn create_cart(&self) -> Result<Cart, StoreError> {
        self.run(|c| {
            let id = Id::new();
            c.execute(
                "INSERT INTO carts (id, created_at) VALUES (?1, ?2)",
                params![id.to_hex(), millis(crate::domain::now())],
            )
            .map_err(map_error)?;
            Ok(Cart {
                id,
                products: Vec::new(),
            })
        })
        .await
    }

    async fn get_cart(&self, id: Id) -> Result<Cart, StoreError> {
        self.run(move |c| read_cart(c, id)).await
    }

    async fn add_to_cart(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let adding = u64::from(quantity.get());
        self.run(move |c| change_line(c, cart, product, |current| current + adding))
            .await
    }

    async fn set_cart_quantity(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let wanted = u64::from(quantity.get());
        self.run(move |c| change_line(c, cart, product, |_| wanted)).await
    }

    async fn replace_cart(&self, cart: Id, items: CartItems) -> Result<Cart, StoreError> {
        self.run(move |c| {
            let transaction = c.transaction().map_err(map_error)?;
            require_cart(&transaction, cart)?;
            transaction
                .execute("DELETE FROM cart_items WHERE cart_id = ?1", [cart.to_hex()])
                .map_err(map_error)?;
            for item in items.items() {
                let stocked = fetch_product(&transaction, item.product)?;
                let wanted = u64::from(item.quantity.get());
                if wanted > u64::from(stocked.stock) {
                    return Err(stock_exceeded(&stocked, wanted));
                }
                put_line(&transaction, cart, item.product, wanted)?;
            }
            let result = read_cart(&transaction, cart)?;
            transaction.commit().map_err(map_error)?;
            Ok(result)
        })
        .await
    }

    async fn remove_from_cart(&self, cart: Id, product: Id) -> Result<Cart, StoreError> {
        self.run(move |c| {
            require_cart(c, cart)?;
            let removed = c
                .execute(
                    "DELETE FROM cart_items WHERE cart_id = ?1 AND product_id = ?2",
                    [cart.to_hex(), product.to_hex()],
                )
                .map_err(map_error)?;
            if removed == 0 {
                return Err(StoreError::NotFound("cart line"));
            }
            read_cart(c, cart)
        })
        .await
    }

    async fn clear_cart(&self, cart: Id) -> Result<Cart, StoreError> {
        self.run(move |c| {
            require_cart(c, cart)?;
            c.execute("DELETE FROM cart_items WHERE cart_id = ?1", [cart.to_hex()])
                .map_err(map_error)?;
            read_cart(c, cart)
        })
        .await
    }

    async fn create_user(&self, stored: StoredUser) -> Result<User, StoreError> {
        self.run(move |c| {
            let user = &stored.user;
            c.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    user.id.to_hex(),
                    user.first_name,
                    user.last_name,
                    user.email.as_str(),
                    user.age,
                    user.role.as_str(),
                    user.cart.to_hex(),
                    stored.password_hash,
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    duplicate_email(&user.email)
                } else {
                    map_error(e)
                }
            })?;
            Ok(stored.user)
        })
        .await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<StoredUser>, StoreError> {
        let email = email.as_str().to_owned();
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
                [email],
                stored_user_from_row,
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn get_user(&self, id: Id) -> Result<User, StoreError> {
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id.to_hex()],
                stored_user_from_row,
            )
            .optional()
            .map_err(map_error)?
            .map(|stored| stored.user)
            .ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|c| {
            let mut statement = c
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
                .map_err(map_error)?;
            statement
                .query_map([], |row| stored_user_from_row(row).map(|stored| stored.user))
                .and_then(Iterator::collect)
                .map_err(map_error)
        })
        .await
    }

    async fn delete_user(&self, id: Id) -> Result<(), StoreError> {
        self.run(move |c| delete_by_id(c, "users", id, "user")).await
    }

    async fn any_users(&self) -> Result<bool, StoreError> {
        self.run(|c| {
            c.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |row| row.get(0))
                .map_err(map_error)
        })
        .await
    }

    async fn save_message(&self, message: ChatMessage) -> Result<ChatMessage, StoreError> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO messages (id, user, message, recipient, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    message.id.to_hex(),
                    message.user.as_str(),
                    message.message,
                    message.to.as_ref().map(Email::as_str),
                    millis(message.created_at),
                ],
            )
            .map_err(map_error)?;
            Ok(message)
        })
        .await
    }

    async fn recent_messages(&self, limit: u32, before: Option<Id>) -> Result<Vec<ChatMessage>, StoreError> {
        self.run(move |c| {
            let mut statement = c
                .prepare_cached(
                    "SELECT id, user, message, recipient, created_at FROM messages
                     WHERE recipient IS NULL AND (?1 IS NULL OR id < ?1)
                     ORDER BY id DESC LIMIT ?2",
                )
                .map_err(map_error)?;
            statement
                .query_map(params![before.map(|id| id.to_hex()), limit], message_from_row)
                .and_then(Iterator::collect)
                .map_err(map_error)
        })
        .await
    }
}
