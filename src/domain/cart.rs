//! Carts: lines of (product, quantity). Stored with product ids; read with
//! each product populated, as Mongoose's `populate` does.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{parse_id, Id, Product, ValidationError};

/// How many of one product a line holds: an integer >= 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl TryFrom<u32> for Quantity {
    type Error = &'static str;

    fn try_from(n: u32) -> Result<Quantity, Self::Error> {
        if n >= 1 {
            Ok(Quantity(n))
        } else {
            Err("a quantity is at least 1")
        }
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

impl Quantity {
    pub const ONE: Quantity = Quantity(1);

    pub fn parse(field: &str, value: &Value) -> Result<Quantity, ValidationError> {
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .map(Quantity)
            .ok_or_else(|| ValidationError::new(field, format!("{field} must be a positive integer")))
    }

    /// For quantities read back from the store, which were valid when written.
    pub fn from_stored(quantity: i64) -> Quantity {
        Quantity(u32::try_from(quantity.max(1)).unwrap_or(u32::MAX))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The optional `{"quantity": n}` body of an add; no body means 1.
pub fn parse_quantity_body(body: Option<&Value>) -> Result<Quantity, ValidationError> {
    match body {
        None | Some(Value::Null) => Ok(Quantity::ONE),
        Some(Value::Object(fields)) => match fields.get("quantity") {
            None => Ok(Quantity::ONE),
            Some(value) => Quantity::parse("quantity", value),
        },
        Some(_) => Err(ValidationError::new(
            "body",
            r#"the body must be {"quantity": n}"#,
        )),
    }
}

/// A line as stored: a product id and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartItem {
    pub product: Id,
    pub quantity: Quantity,
}

/// The lines that replace a cart's content (`PUT /api/carts/:cid`): each
/// product at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartItems(Vec<CartItem>);

impl CartItems {
    /// Accepts `{"products": [{"product": id, "quantity": n}, ...]}` or the
    /// bare array.
    pub fn parse(body: &Value) -> Result<CartItems, ValidationError> {
        let lines = match body {
            Value::Array(lines) => lines,
            Value::Object(fields) => match fields.get("products") {
                Some(Value::Array(lines)) => lines,
                _ => {
                    return Err(ValidationError::new(
                        "products",
                        r#"products must be an array of {"product": id, "quantity": n}"#,
                    ))
                }
            },
            _ => return Err(ValidationError::new("body", "the body must be a JSON object")),
        };
        let mut items: Vec<CartItem> = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            let field = |name: &str| format!("products[{index}].{name}");
            let product = match line.get("product") {
                Some(Value::String(raw)) => parse_id(&field("product"), raw)?,
                _ => {
                    return Err(ValidationError::new(
                        field("product"),
                        format!("{} must be a product id", field("product")),
                    ))
                }
            };
            let quantity = Quantity::parse(&field("quantity"), line.get("quantity").unwrap_or(&Value::Null))?;
            if items.iter().any(|item| item.product == product) {
                return Err(ValidationError::new(
                    field("product"),
                    format!(
                        "product {product} is listed twice; give each product once with its total quantity"
                    ),
                ));
            }
            items.push(CartItem { product, quantity });
        }
        Ok(CartItems(items))
    }

    pub fn items(&self) -> &[CartItem] {
        &self.0
    }
}

/// A cart as clients read it: lines with their products populated. Lines
/// whose product was deleted are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    #[serde(rename = "_id", with = "super::id::hex")]
    #[schema(value_type = String, example = "65f0a0a0a0a0a0a0a0a0a0a0")]
    pub id: Id,
    pub products: Vec<CartLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CartLine {
    pub product: Product,
    #[schema(value_type = u32, minimum = 1)]
    pub quantity: Quantity,
}

impl Cart {
    /// Joins stored items with their products (in item order), dropping
    /// items whose product no longer exists.
    pub fn populate(id: Id, items: &[CartItem], products: &[Product]) -> Cart {
        let products = items
            .iter()
            .filter_map(|item| {
                products
                    .iter()
                    .find(|p| p.id == item.product)
                    .map(|product| CartLine {
                        product: product.clone(),
                        quantity: item.quantity,
                    })
            })
            .collect();
        Cart { id, products }
    }

    /// Sum of price × quantity over the lines.
    pub fn total(&self) -> f64 {
        self.products
            .iter()
            .map(|line| line.product.price * f64::from(line.quantity.get()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_are_positive_integers() {
        assert_eq!(parse_quantity_body(None).unwrap(), Quantity::ONE);
        assert_eq!(
            parse_quantity_body(Some(&json!({"quantity": 3}))).unwrap().get(),
            3
        );
        for bad in [json!(0), json!(-1), json!(1.5), json!("2")] {
            assert_eq!(
                parse_quantity_body(Some(&json!({ "quantity": bad })))
                    .unwrap_err()
                    .field,
                "quantity"
            );
        }
    }

    #[test]
    fn replacement_lines_are_validated_by_position() {
        let id = "65f0a0a0a0a0a0a0a0a0a0a0";
        assert_eq!(
            CartItems::parse(&json!({"products": [{"product": id, "quantity": 2}]}))
                .unwrap()
                .items()
                .len(),
            1
        );
        assert_eq!(CartItems::parse(&json!([])).unwrap().items().len(), 0);
        let error =
            CartItems::parse(&json!([{"product": id, "quantity": 1}, {"product": "x", "quantity": 1}]))
                .unwrap_err();
        assert_eq!(error.field, "products[1].product");
        let error = CartItems::parse(&json!([{"product": id, "quantity": 0}])).unwrap_err();
        assert_eq!(error.field, "products[0].quantity");
        let error =
            CartItems::parse(&json!([{"product": id, "quantity": 1}, {"product": id, "quantity": 1}]))
                .unwrap_err();
        assert_eq!(error.field, "products[1].product");
    }
}
