//! The `products` table: listings (through the listing cache), reads and
//! writes. Every write empties the listing cache.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::mapping::{delete_by_id, map_error, map_write_error, millis, product_from_row, PRODUCT_COLUMNS};
use super::EmbeddedBackend;
use crate::domain::{Id, Product, ProductPatch, ProductQuery, SortOrder};
use crate::store::{Page, ProductCollection, StoreError, UniqueField};

/// The product with this id; `NotFound("product")` if none.
pub(super) fn fetch_product(connection: &Connection, id: Id) -> Result<Product, StoreError> {
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

/// Writes every column of `product`: a new row, or over the row with its id.
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
        .map_err(|e| map_write_error(e, UniqueField::ProductCode(&product.code)))?;
    Ok(())
}

/// In one transaction: reads the product, lets `change` modify it, writes
/// it back.
fn modify_product(
    connection: &mut Connection,
    id: Id,
    change: impl FnOnce(&mut Product),
) -> Result<Product, StoreError> {
    // IMMEDIATE: takes the write lock up front, so another process sharing
    // the file waits (busy timeout) instead of failing on the upgrade.
    let transaction = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(map_error)?;
    let mut product = fetch_product(&transaction, id)?;
    change(&mut product);
    write_product(&transaction, &product, false)?;
    transaction.commit().map_err(map_error)?;
    Ok(product)
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

/// Reads one page of a listing and the total it matches.
fn read_listing(connection: &Connection, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
    let (filter, mut values) = listing_filter(query);
    let total: u64 = connection
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
    let mut statement = connection.prepare_cached(&sql).map_err(map_error)?;
    let items = statement
        .query_map(rusqlite::params_from_iter(values.iter()), product_from_row)
        .and_then(Iterator::collect)
        .map_err(map_error)?;
    Ok(Page { items, total })
}

#[async_trait]
impl ProductCollection for EmbeddedBackend {
    async fn list_products(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let generation = match self.listings.get(query) {
            Ok(page) => return Ok(page),
            Err(generation) => generation,
        };
        let owned = query.clone();
        let read = self.run(move |c| read_listing(c, &owned)).await?;
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
            modify_product(c, id, |product| patch.apply(product, crate::domain::now()))
        })
        .await
    }

    async fn delete_product(&self, id: Id) -> Result<(), StoreError> {
        self.run_product_write(move |c| delete_by_id(c, "products", id, "product"))
            .await
    }

    async fn add_thumbnails(&self, id: Id, urls: Vec<String>) -> Result<Product, StoreError> {
        self.run_product_write(move |c| {
            modify_product(c, id, |product| {
                product.thumbnails.extend(urls);
                product.updated_at = crate::domain::now();
            })
        })
        .await
    }
}
