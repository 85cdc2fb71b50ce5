//! The embedded database's file and tables: one table per collection (and
//! `cart_items` for the lines of carts), ids as ObjectId hex text.

/// The database file, under `DATA_DIR`.
pub const DATABASE_FILE: &str = "ecommerce.sqlite3";

/// Columns added after a table's first release, as (table, column, type):
/// added to database files made before them.
pub const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("carts", "owner", "TEXT")];

/// Runs at every open; creates what is missing.
pub const SCHEMA: &str = "
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
        created_at  INTEGER NOT NULL,
        owner       TEXT
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
    CREATE TABLE IF NOT EXISTS sessions (
        key         TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
    CREATE INDEX IF NOT EXISTS public_messages ON messages (id) WHERE recipient IS NULL;
    CREATE INDEX IF NOT EXISTS direct_messages_to ON messages (recipient, id) WHERE recipient IS NOT NULL;
    CREATE INDEX IF NOT EXISTS direct_messages_from ON messages (user, id) WHERE recipient IS NOT NULL;
";
