//! The `carts` and `cart_items` tables. Every change to a line runs in one
//! transaction that checks the stock rule, so concurrent adds all count and
//! none goes past the stock.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::mapping::{map_error, millis, product_from_row, PRODUCT_COLUMNS};
use super::products::fetch_product;
use super::EmbeddedBackend;
use crate::domain::{Cart, CartItems, CartLine, Id, Quantity};
use crate::store::{ensure_in_stock, CartCollection, StoreError};

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

/// Sets a line's quantity, after checking the stock rule; appends the line
/// if it is new.
fn put_line(connection: &Connection, cart: Id, product: Id, quantity: u64) -> Result<(), StoreError> {
    ensure_in_stock(&fetch_product(connection, product)?, quantity)?;
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

/// In one transaction: checks the cart exists, lets `change` modify its
/// lines, and reads the result.
fn change_cart(
    connection: &mut Connection,
    cart: Id,
    change: impl FnOnce(&Connection) -> Result<(), StoreError>,
) -> Result<Cart, StoreError> {
    // IMMEDIATE: takes the write lock up front, so another process sharing
    // the file waits (busy timeout) instead of failing on the upgrade.
    let transaction = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(map_error)?;
    require_cart(&transaction, cart)?;
    change(&transaction)?;
    let result = read_cart(&transaction, cart)?;
    transaction.commit().map_err(map_error)?;
    Ok(result)
}

#[async_trait]
impl CartCollection for EmbeddedBackend {
    async fn create_cart(&self, owner: Option<Id>) -> Result<Cart, StoreError> {
        self.run(move |c| {
            let id = Id::new();
            c.execute(
                "INSERT INTO carts (id, created_at, owner) VALUES (?1, ?2, ?3)",
                params![
                    id.to_hex(),
                    millis(crate::domain::now()),
                    owner.map(|o| o.to_hex())
                ],
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

    async fn cart_owner(&self, id: Id) -> Result<Option<Id>, StoreError> {
        self.run(move |c| {
            let owner: Option<String> = c
                .query_row("SELECT owner FROM carts WHERE id = ?1", [id.to_hex()], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(map_error)?
                .ok_or(StoreError::NotFound("cart"))?;
            Ok(owner.and_then(|hex| Id::parse_str(&hex).ok()))
        })
        .await
    }

    async fn add_to_cart(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let adding = u64::from(quantity.get());
        self.run(move |c| {
            change_cart(c, cart, |t| {
                let current = quantity_in_cart(t, cart, product)?;
                put_line(t, cart, product, current + adding)
            })
        })
        .await
    }

    async fn set_cart_quantity(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let wanted = u64::from(quantity.get());
        self.run(move |c| change_cart(c, cart, |t| put_line(t, cart, product, wanted)))
            .await
    }

    async fn replace_cart(&self, cart: Id, items: CartItems) -> Result<Cart, StoreError> {
        self.run(move |c| {
            change_cart(c, cart, |t| {
                t.execute("DELETE FROM cart_items WHERE cart_id = ?1", [cart.to_hex()])
                    .map_err(map_error)?;
                items
                    .items()
                    .iter()
                    .try_for_each(|item| put_line(t, cart, item.product, u64::from(item.quantity.get())))
            })
        })
        .await
    }

    async fn remove_from_cart(&self, cart: Id, product: Id) -> Result<Cart, StoreError> {
        self.run(move |c| {
            change_cart(c, cart, |t| {
                let removed = t
                    .execute(
                        "DELETE FROM cart_items WHERE cart_id = ?1 AND product_id = ?2",
                        [cart.to_hex(), product.to_hex()],
                    )
                    .map_err(map_error)?;
                match removed {
                    0 => Err(StoreError::NotFound("cart line")),
                    _ => Ok(()),
                }
            })
        })
        .await
    }

    async fn clear_cart(&self, cart: Id) -> Result<Cart, StoreError> {
        self.run(move |c| {
            change_cart(c, cart, |t| {
                t.execute("DELETE FROM cart_items WHERE cart_id = ?1", [cart.to_hex()])
                    .map(drop)
                    .map_err(map_error)
            })
        })
        .await
    }
}
