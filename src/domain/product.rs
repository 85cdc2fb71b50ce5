//! Products: the catalog's one document type, and the input that makes one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{Id, ValidationError};

/// Longest accepted title, code and category, in characters.
const SHORT_TEXT_MAX: usize = 200;
/// Longest accepted description, in characters.
const LONG_TEXT_MAX: usize = 10_000;
/// Most thumbnails a product may list.
const THUMBNAILS_MAX: usize = 50;
/// Longest accepted thumbnail URL.
const URL_MAX: usize = 2048;

const FIELDS: &[&str] = &[
    "title",
    "description",
    "code",
    "price",
    "status",
    "stock",
    "category",
    "thumbnails",
];

/// A stored product, as every API and WebSocket event shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// 24-hex ObjectId.
    #[serde(rename = "_id", with = "super::id::hex")]
    #[schema(value_type = String, example = "65f0a0a0a0a0a0a0a0a0a0a0")]
    pub id: Id,
    pub title: String,
    pub description: String,
    /// Unique.
    pub code: String,
    #[schema(minimum = 0)]
    pub price: f64,
    pub status: bool,
    #[schema(value_type = u32)]
    pub stock: Stock,
    pub category: String,
    pub thumbnails: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Units in stock: an integer, never negative.
pub type Stock = u32;

/// A valid product to be created: every required field present and sound.
/// (`POST /api/products` and `product:create`; unknown fields are refused.)
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub code: String,
    #[schema(minimum = 0)]
    pub price: f64,
    /// Default true.
    #[schema(required = false, default = true)]
    pub status: bool,
    #[schema(value_type = u32)]
    pub stock: Stock,
    pub category: String,
    /// http(s):// URLs or site paths; default none.
    #[schema(required = false)]
    pub thumbnails: Vec<String>,
}

/// A valid partial update: only the fields present change; at least one is
/// (`PUT /api/products/:pid`; `_id` cannot change).
#[derive(Debug, Clone, Default, PartialEq, ToSchema)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub code: Option<String>,
    pub price: Option<f64>,
    pub status: Option<bool>,
    #[schema(value_type = Option<u32>)]
    pub stock: Option<Stock>,
    pub category: Option<String>,
    pub thumbnails: Option<Vec<String>>,
}

impl NewProduct {
    /// Parses a creation body (`POST /api/products`, `product:create`).
    pub fn parse(body: &Value) -> Result<NewProduct, ValidationError> {
        let mut input = Input::from_body(body, "_id is assigned by the server")?;
        let product = NewProduct {
            title: input.required("title", short_text)?,
            description: input.required("description", long_text)?,
            code: input.required("code", short_text)?,
            price: input.required("price", price)?,
            status: input.optional("status", status)?.unwrap_or(true),
            stock: input.required("stock", stock)?,
            category: input.required("category", short_text)?,
            thumbnails: input.optional("thumbnails", thumbnails)?.unwrap_or_default(),
        };
        Ok(product)
    }

    /// The product this input becomes once stored under `id` at `now`.
    pub fn into_product(self, id: Id, now: DateTime<Utc>) -> Product {
        Product {
            id,
            title: self.title,
            description: self.description,
            code: self.code,
            price: self.price,
            status: self.status,
            stock: self.stock,
            category: self.category,
            thumbnails: self.thumbnails,
            created_at: now,
            updated_at: now,
        }
    }
}

impl ProductPatch {
    /// Parses a partial update body (`PUT /api/products/:pid`).
    pub fn parse(body: &Value) -> Result<ProductPatch, ValidationError> {
        let mut input = Input::from_body(body, "_id cannot be changed")?;
        let patch = ProductPatch {
            title: input.optional("title", short_text)?,
            description: input.optional("description", long_text)?,
            code: input.optional("code", short_text)?,
            price: input.optional("price", price)?,
            status: input.optional("status", status)?,
            stock: input.optional("stock", stock)?,
            category: input.optional("category", short_text)?,
            thumbnails: input.optional("thumbnails", thumbnails)?,
        };
        if patch == ProductPatch::default() {
            return Err(ValidationError::new(
                "body",
                format!("give at least one field to change: {}", FIELDS.join(", ")),
            ));
        }
        Ok(patch)
    }

    /// Applies the patch to a stored product (the embedded store's update).
    pub fn apply(self, product: &mut Product, now: DateTime<Utc>) {
        let ProductPatch {
            title,
            description,
            code,
            price,
            status,
            stock,
            category,
            thumbnails,
        } = self;
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = $field { product.$field = v; } )* };
        }
        set!(
            title,
            description,
            code,
            price,
            status,
            stock,
            category,
            thumbnails
        );
        product.updated_at = now;
    }
}

/// A JSON object being taken apart field by field.
struct Input {
    fields: Map<String, Value>,
}

impl Input {
    fn from_body(body: &Value, id_message: &str) -> Result<Input, ValidationError> {
        let Value::Object(fields) = body else {
            return Err(ValidationError::new("body", "the body must be a JSON object"));
        };
        for name in fields.keys() {
            if name == "_id" || name == "id" {
                return Err(ValidationError::new(name.as_str(), id_message));
            }
            if !FIELDS.contains(&name.as_str()) {
                return Err(ValidationError::new(
                    name.as_str(),
                    format!(
                        "unknown field {name:?}; product fields are: {}",
                        FIELDS.join(", ")
                    ),
                ));
            }
        }
        Ok(Input {
            fields: fields.clone(),
        })
    }

    fn required<T>(
        &mut self,
        name: &str,
        parse: impl Fn(&str, &Value) -> Result<T, ValidationError>,
    ) -> Result<T, ValidationError> {
        match self.fields.remove(name) {
            None | Some(Value::Null) => Err(ValidationError::new(name, format!("{name} is required"))),
            Some(value) => parse(name, &value),
        }
    }

    fn optional<T>(
        &mut self,
        name: &str,
        parse: impl Fn(&str, &Value) -> Result<T, ValidationError>,
    ) -> Result<Option<T>, ValidationError> {
        match self.fields.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Err(ValidationError::new(name, format!("{name} cannot be null"))),
            Some(value) => parse(name, &value).map(Some),
        }
    }
}

fn short_text(name: &str, value: &Value) -> Result<String, ValidationError> {
    text(name, value, SHORT_TEXT_MAX)
}

fn long_text(name: &str, value: &Value) -> Result<String, ValidationError> {
    text(name, value, LONG_TEXT_MAX)
}

fn text(name: &str, value: &Value, max: usize) -> Result<String, ValidationError> {
    let Some(text) = value.as_str() else {
        return Err(ValidationError::new(name, format!("{name} must be a string")));
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(ValidationError::new(name, format!("{name} cannot be empty")));
    }
    if text.chars().count() > max {
        return Err(ValidationError::new(
            name,
            format!("{name} is longer than {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

fn price(name: &str, value: &Value) -> Result<f64, ValidationError> {
    match value.as_f64() {
        Some(price) if price.is_finite() && price >= 0.0 => Ok(price),
        _ => Err(ValidationError::new(
            name,
            format!("{name} must be a number >= 0"),
        )),
    }
}

fn stock(name: &str, value: &Value) -> Result<Stock, ValidationError> {
    value
        .as_u64()
        .and_then(|stock| Stock::try_from(stock).ok())
        .ok_or_else(|| {
            ValidationError::new(
                name,
                format!("{name} must be an integer from 0 to {}", Stock::MAX),
            )
        })
}

fn status(name: &str, value: &Value) -> Result<bool, ValidationError> {
    value
        .as_bool()
        .ok_or_else(|| ValidationError::new(name, format!("{name} must be true or false")))
}

fn thumbnails(name: &str, value: &Value) -> Result<Vec<String>, ValidationError> {
    let invalid = || {
        ValidationError::new(
            name,
            format!("{name} must be an array of at most {THUMBNAILS_MAX} URLs, each http(s):// or starting with /"),
        )
    };
    let items = value
        .as_array()
        .filter(|items| items.len() <= THUMBNAILS_MAX)
        .ok_or_else(invalid)?;
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(url) if is_acceptable_url(url) => Ok(url.to_owned()),
            _ => Err(invalid()),
        })
        .collect()
}

/// Thumbnails end up in `<img src>`: only an absolute http(s) URL with a
/// host, or a path on this site starting with exactly one `/`. So no
/// `javascript:` or `data:` URL, no `//evil.example/x` (protocol-relative),
/// and no `/\evil.example/x`, which browsers read as `//evil.example/x`.
fn is_acceptable_url(url: &str) -> bool {
    if url.len() > URL_MAX || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    let after_scheme = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match after_scheme {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            !host.is_empty() && !host.starts_with(':') && !rest.contains('\\')
        }
        None => {
            let mut chars = url.chars();
            chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\')) && !url.contains('\\')
        }
    }
}

/// Order of a product listing; only price is sortable, as in the Node.js API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    PriceAscending,
    PriceDescending,
}

/// A validated product listing request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductQuery {
    /// Page size, 1..=max.
    pub limit: u32,
    /// 1-based page number.
    pub page: u32,
    /// None: insertion order (oldest first).
    pub sort: Option<SortOrder>,
    pub category: Option<String>,
    /// Some(true): stock > 0; Some(false): stock == 0.
    pub available: Option<bool>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
}

impl ProductQuery {
    pub fn first_page(limit: u32) -> ProductQuery {
        ProductQuery {
            limit,
            page: 1,
            sort: None,
            category: None,
            available: None,
            title_contains: None,
        }
    }

    /// How many products to skip to reach `page`.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thumbnails_are_web_urls_with_a_host_or_site_paths() {
        for good in [
            "https://cdn.example/x.png",
            "http://cdn.example:8080/a?b#c",
            "/uploads/a.png",
            "/",
        ] {
            assert!(is_acceptable_url(good), "{good}");
        }
        for bad in [
            "/\\evil.example/x.png",
            "//evil.example/x.png",
            "http://",
            "https:///x.png",
            "http://:80/x",
            "http://user@/x",
            "http:\\\\evil.example",
            "javascript:alert(1)",
            "data:image/png;base64,xx",
            "uploads/x.png",
            "/a b.png",
        ] {
            assert!(!is_acceptable_url(bad), "{bad}");
        }
    }

    fn valid() -> Value {
        json!({"title": "Mug", "description": "A mug", "code": "M1", "price": 9.5, "stock": 3, "category": "kitchen"})
    }

    #[test]
    fn parses_a_complete_product_with_defaults() {
        let product = NewProduct::parse(&valid()).expect("valid");
        assert!(product.status);
        assert!(product.thumbnails.is_empty());
        assert_eq!(product.stock, 3);
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases = [
            ("price", json!(-1)),
            ("price", json!("9")),
            ("stock", json!(1.5)),
            ("stock", json!(-2)),
            ("title", json!("   ")),
            ("status", json!("yes")),
            ("thumbnails", json!(["javascript:alert(1)"])),
            ("category", json!(null)),
        ];
        for (field, value) in cases {
            let mut body = valid();
            body[field] = value;
            let error = NewProduct::parse(&body).expect_err(field);
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn refuses_ids_unknown_fields_and_empty_patches() {
        let mut body = valid();
        body["_id"] = json!("x");
        assert_eq!(NewProduct::parse(&body).unwrap_err().field, "_id");
        assert_eq!(
            ProductPatch::parse(&json!({"prise": 1})).unwrap_err().field,
            "prise"
        );
        assert_eq!(ProductPatch::parse(&json!({})).unwrap_err().field, "body");
        assert_eq!(
            ProductPatch::parse(&json!({"price": 2})).unwrap().price,
            Some(2.0)
        );
    }
}
