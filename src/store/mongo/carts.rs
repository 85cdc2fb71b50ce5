//! The `carts` collection: `{_id, products: [{product, quantity}]}`. Line
//! changes are guarded conditional updates (`$inc`/`$push`/`$set`), never
//! read-modify-write, so concurrent adds all count and none goes past the
//! stock; reads populate the lines with one query for their products.

use async_trait::async_trait;
use mongodb::bson::{self, doc, Document};

use super::mapping::{collect, map_error, CartDocument, CartItemDocument, ProductDocument};
use super::MongoBackend;
use crate::domain::{Cart, CartItem, CartItems, Id, Product, Quantity};
use crate::store::{ensure_in_stock, CartCollection, ProductCollection, StoreError};

/// How often a cart write retries when a concurrent write changed the cart
/// between its conditional updates (each retry re-reads the state).
const CART_WRITE_ATTEMPTS: usize = 20;

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

    /// Runs a conditional update of the cart; NotFound if no cart matched.
    async fn update_cart(&self, cart: Id, update: Document) -> Result<Cart, StoreError> {
        let updated = self
            .carts
            .update_one(doc! { "_id": cart }, update)
            .await
            .map_err(map_error)?;
        if updated.matched_count == 0 {
            return Err(StoreError::NotFound("cart"));
        }
        self.read_cart(cart).await
    }
}

fn too_busy() -> StoreError {
    StoreError::Unavailable("the cart is too busy; try again".to_owned())
}

#[async_trait]
impl CartCollection for MongoBackend {
    async fn create_cart(&self, owner: Option<Id>) -> Result<Cart, StoreError> {
        let cart = CartDocument {
            id: Id::new(),
            products: Vec::new(),
            owner,
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

    async fn cart_owner(&self, id: Id) -> Result<Option<Id>, StoreError> {
        Ok(self.find_cart(id).await?.owner)
    }

    /// Lock-free and race-safe: either `$inc` the existing line, guarded so
    /// the result stays within stock, or `$push` a new line, guarded so no
    /// second line appears. If neither matched, the cart changed in
    /// between (or the stock is exceeded): re-read and decide.
    async fn add_to_cart(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let stocked = self.get_product(product).await?;
        let adding = u64::from(quantity.get());
        ensure_in_stock(&stocked, adding)?;
        let most_before = i64::from(stocked.stock) - adding as i64;
        for _ in 0..CART_WRITE_ATTEMPTS {
            let incremented = self
                .carts
                .update_one(
                    doc! {
                        "_id": cart,
                        "products": { "$elemMatch": { "product": product, "quantity": { "$lte": most_before } } },
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
                ensure_in_stock(&stocked, line.quantity.max(0) as u64 + adding)?;
            }
        }
        Err(too_busy())
    }

    async fn set_cart_quantity(&self, cart: Id, product: Id, quantity: Quantity) -> Result<Cart, StoreError> {
        let wanted = u64::from(quantity.get());
        ensure_in_stock(&self.get_product(product).await?, wanted)?;
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
        Err(too_busy())
    }

    async fn replace_cart(&self, cart: Id, items: CartItems) -> Result<Cart, StoreError> {
        self.find_cart(cart).await?;
        for item in items.items() {
            ensure_in_stock(
                &self.get_product(item.product).await?,
                u64::from(item.quantity.get()),
            )?;
        }
        let lines: Vec<Document> = items
            .items()
            .iter()
            .map(|item| bson::to_document(&CartItemDocument::from(item)))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.update_cart(cart, doc! { "$set": { "products": lines } })
            .await
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
        self.update_cart(cart, doc! { "$set": { "products": [] } }).await
    }
}
