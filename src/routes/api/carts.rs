//! `/api/carts`: create, read (populated), add, set quantity, replace,
//! remove a line, empty. `/products/` is accepted wherever `/product/` is.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::success;
use crate::domain::{parse_id, parse_quantity_body, CartItems, Quantity, ValidationError};
use crate::routes::{ask_store, ApiError};
use crate::startup::AppState;
use crate::store::{AddToCart, ClearCart, CreateCart, GetCart, RemoveFromCart, ReplaceCart, SetCartQuantity};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/carts").post(create))
        .service(web::resource("/carts/{cid}").get(get).put(replace).delete(clear));
    for line in ["product", "products"] {
        cfg.service(
            web::resource(format!("/carts/{{cid}}/{line}/{{pid}}"))
                .post(add)
                .put(set_quantity)
                .delete(remove),
        );
    }
}

/// An optional JSON body: empty means none (`POST .../product/:pid` alone
/// adds one).
fn optional_json(body: &web::Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

#[utoipa::path(post, path = "/api/carts", tag = "carts", responses((status = 201, body = crate::routes::openapi::CartResponse)))]
async fn create(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let cart = ask_store(&state.store, CreateCart {}).await?;
    Ok(HttpResponse::Created().json(success(cart)))
}

#[utoipa::path(get, path = "/api/carts/{cid}", tag = "carts", params(("cid" = String, Path)),
    responses((status = 200, body = crate::routes::openapi::CartResponse), (status = 400, body = crate::routes::openapi::ErrorResponse), (status = 404, body = crate::routes::openapi::ErrorResponse)))]
async fn get(state: web::Data<AppState>, cid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_id("cid", &cid)?;
    let cart = ask_store(&state.store, GetCart { id }).await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Adds 1, or `quantity`; increments an existing line; never past the stock.
#[utoipa::path(post, path = "/api/carts/{cid}/product/{pid}", tag = "carts", params(("cid" = String, Path), ("pid" = String, Path)),
    request_body(content = Option<crate::routes::openapi::QuantityBody>),
    responses((status = 200, body = crate::routes::openapi::CartResponse), (status = 400, body = crate::routes::openapi::ErrorResponse), (status = 404, body = crate::routes::openapi::ErrorResponse), (status = 409, body = crate::routes::openapi::ErrorResponse, description = "Not enough stock")))]
async fn add(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (cart, product) = (parse_id("cid", &path.0)?, parse_id("pid", &path.1)?);
    let quantity = parse_quantity_body(optional_json(&body)?.as_ref())?;
    let cart = ask_store(
        &state.store,
        AddToCart {
            cart,
            product,
            quantity,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Sets the line's quantity (adds the line if absent).
#[utoipa::path(put, path = "/api/carts/{cid}/product/{pid}", tag = "carts", params(("cid" = String, Path), ("pid" = String, Path)),
    request_body = crate::routes::openapi::QuantityBody,
    responses((status = 200, body = crate::routes::openapi::CartResponse), (status = 400, body = crate::routes::openapi::ErrorResponse), (status = 404, body = crate::routes::openapi::ErrorResponse), (status = 409, body = crate::routes::openapi::ErrorResponse)))]
async fn set_quantity(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (cart, product) = (parse_id("cid", &path.0)?, parse_id("pid", &path.1)?);
    let quantity = match body.get("quantity") {
        Some(value) => Quantity::parse("quantity", value)?,
        None => return Err(ValidationError::new("quantity", r#"send {"quantity": n}"#).into()),
    };
    let cart = ask_store(
        &state.store,
        SetCartQuantity {
            cart,
            product,
            quantity,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Replaces every line.
#[utoipa::path(put, path = "/api/carts/{cid}", tag = "carts", params(("cid" = String, Path)),
    request_body = crate::routes::openapi::CartItemsBody,
    responses((status = 200, body = crate::routes::openapi::CartResponse), (status = 400, body = crate::routes::openapi::ErrorResponse), (status = 404, body = crate::routes::openapi::ErrorResponse), (status = 409, body = crate::routes::openapi::ErrorResponse)))]
async fn replace(
    state: web::Data<AppState>,
    cid: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let cart = parse_id("cid", &cid)?;
    let items = CartItems::parse(&body)?;
    let cart = ask_store(&state.store, ReplaceCart { cart, items }).await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

#[utoipa::path(delete, path = "/api/carts/{cid}/product/{pid}", tag = "carts", params(("cid" = String, Path), ("pid" = String, Path)),
    responses((status = 200, body = crate::routes::openapi::CartResponse), (status = 400, body = crate::routes::openapi::ErrorResponse), (status = 404, body = crate::routes::openapi::ErrorResponse)))]
async fn remove(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cart, product) = (parse_id("cid", &path.0)?, parse_id("pid", &path.1)?);
    let cart = ask_store(&state.store, RemoveFromCart { cart, product }).await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Empties the cart (it remains).
#[utoipa::path(delete, path = "/api/carts/{cid}", tag = "carts", params(("cid" = String, Path)),
    responses((status = 200, body = crate::routes::openapi::CartResponse), (status = 400, body = crate::routes::openapi::ErrorResponse), (status = 404, body = crate::routes::openapi::ErrorResponse)))]
async fn clear(state: web::Data<AppState>, cid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let cart = parse_id("cid", &cid)?;
    let cart = ask_store(&state.store, ClearCart { cart }).await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}
