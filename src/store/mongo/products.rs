//! The `products` collection: listings, reads and writes. `code` is unique
//! (index `code_unique`).

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use super::mapping::{collect, delete_by_id, map_error, map_write_error, to_bson_date, ProductDocument};
use super::MongoBackend;
use crate::domain::{Id, Product, ProductPatch, ProductQuery, SortOrder};
use crate::store::{Page, ProductCollection, StoreError, UniqueField};

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
impl ProductCollection for MongoBackend {
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
        self.products
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_error)?
            .map(Product::from)
            .ok_or(StoreError::NotFound("product"))
    }

    async fn create_product(&self, product: Product) -> Result<Product, StoreError> {
        self.ensure_indexes().await?;
        let document = ProductDocument::from(product);
        self.products
            .insert_one(&document)
            .await
            .map_err(|e| map_write_error(e, UniqueField::ProductCode(&document.code)))?;
        Ok(Product::from(document))
    }

    async fn update_product(&self, id: Id, patch: ProductPatch) -> Result<Product, StoreError> {
        self.ensure_indexes().await?;
        let code = patch.code.clone().unwrap_or_default();
        self.products
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": patch_document(patch) })
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| map_write_error(e, UniqueField::ProductCode(&code)))?
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
}
