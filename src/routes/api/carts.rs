//! `/api/carts`: create, read (populated), add, set quantity, replace,
//! remove a line, empty. `/products/` is accepted wherever `/product/` is.
//! Once any account exists a cart is its owner's (and admins'): every route
//! on one takes `CartAccess`, and creating one needs a login.

use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{success, Success};
use crate::domain::{parse_id, parse_quantity_body, Cart, CartItems, Quantity, ValidationError};
use crate::routes::error::ErrorResponse;
use crate::routes::extractors::{CartAccess, Viewer};
use crate::routes::ApiError;
use crate::state::AppState;
use crate::store::{
    ask_store, AddToCart, ClearCart, CreateCart, GetCart, RemoveFromCart, ReplaceCart, SetCartQuantity,
};

/// `{"quantity": n}`: optional on add (default 1), required on set.
#[derive(Serialize, ToSchema)]
pub struct QuantityBody {
    #[schema(minimum = 1)]
    quantity: u32,
}

/// One line of a replacement.
#[derive(Serialize, ToSchema)]
pub struct CartItemBody {
    /// The product's id.
    product: String,
    #[schema(minimum = 1)]
    quantity: u32,
}

/// Replaces every line; each product at most once (a bare array is
/// accepted too).
#[derive(Serialize, ToSchema)]
pub struct CartItemsBody {
    products: Vec<CartItemBody>,
}

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
/// adds one). A body must be sent as `application/json` (415 otherwise: a
/// cross-site HTML form can send `text/plain` that happens to be JSON).
fn optional_json(request: &HttpRequest, body: &web::Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json =
        request.mime_type().ok().flatten().is_some_and(|kind| {
            kind.subtype() == "json" || kind.suffix().is_some_and(|suffix| suffix == "json")
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON (Content-Type: application/json)".to_owned(),
        ));
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Creates an empty cart, owned by the logged-in user (a login is needed
/// once any account exists).
#[utoipa::path(post, path = "/api/carts", tag = "carts",
    responses((status = 201, body = Success<Cart>), (status = 401, body = ErrorResponse)))]
async fn create(state: web::Data<AppState>, Viewer(viewer): Viewer) -> Result<HttpResponse, ApiError> {
    if state.accounts.exist() && viewer.is_none() {
        return Err(ApiError::Unauthorized(
            "carts belong to their owners: log in first (POST /api/sessions/login)".to_owned(),
        ));
    }
    let owner = viewer.map(|user| user.id);
    let cart = ask_store(&state.store, CreateCart { owner }).await?;
    Ok(HttpResponse::Created().json(success(cart)))
}

#[utoipa::path(get, path = "/api/carts/{cid}", tag = "carts", params(("cid" = String, Path)),
    responses((status = 200, body = Success<Cart>), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse, description = "Not logged in (once accounts exist)"), (status = 403, body = ErrorResponse, description = "Someone else's cart"), (status = 404, body = ErrorResponse)))]
async fn get(state: web::Data<AppState>, access: CartAccess) -> Result<HttpResponse, ApiError> {
    let cart = ask_store(&state.store, GetCart { id: access.cart }).await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// The `{pid}` of a cart line path.
fn product_id(path: &web::Path<(String, String)>) -> Result<crate::domain::Id, ApiError> {
    Ok(parse_id("pid", &path.1)?)
}

/// Adds 1, or `quantity`; increments an existing line; never past the stock.
#[utoipa::path(post, path = "/api/carts/{cid}/product/{pid}", tag = "carts", params(("cid" = String, Path), ("pid" = String, Path)),
    request_body(content = Option<QuantityBody>),
    responses((status = 200, body = Success<Cart>), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse, description = "Not logged in (once accounts exist)"), (status = 403, body = ErrorResponse, description = "Someone else's cart"), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse, description = "Not enough stock")))]
async fn add(
    request: HttpRequest,
    state: web::Data<AppState>,
    access: CartAccess,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let product = product_id(&path)?;
    let quantity = parse_quantity_body(optional_json(&request, &body)?.as_ref())?;
    let cart = ask_store(
        &state.store,
        AddToCart {
            cart: access.cart,
            product,
            quantity,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Sets the line's quantity (adds the line if absent).
#[utoipa::path(put, path = "/api/carts/{cid}/product/{pid}", tag = "carts", params(("cid" = String, Path), ("pid" = String, Path)),
    request_body = QuantityBody,
    responses((status = 200, body = Success<Cart>), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse, description = "Not logged in (once accounts exist)"), (status = 403, body = ErrorResponse, description = "Someone else's cart"), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn set_quantity(
    state: web::Data<AppState>,
    access: CartAccess,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let product = product_id(&path)?;
    let quantity = match body.get("quantity") {
        Some(value) => Quantity::parse("quantity", value)?,
        None => return Err(ValidationError::new("quantity", r#"send {"quantity": n}"#).into()),
    };
    let cart = ask_store(
        &state.store,
        SetCartQuantity {
            cart: access.cart,
            product,
            quantity,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Replaces every line.
#[utoipa::path(put, path = "/api/carts/{cid}", tag = "carts", params(("cid" = String, Path)),
    request_body = CartItemsBody,
    responses((status = 200, body = Success<Cart>), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse, description = "Not logged in (once accounts exist)"), (status = 403, body = ErrorResponse, description = "Someone else's cart"), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn replace(
    state: web::Data<AppState>,
    access: CartAccess,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let items = CartItems::parse(&body)?;
    let cart = ask_store(
        &state.store,
        ReplaceCart {
            cart: access.cart,
            items,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

#[utoipa::path(delete, path = "/api/carts/{cid}/product/{pid}", tag = "carts", params(("cid" = String, Path), ("pid" = String, Path)),
    responses((status = 200, body = Success<Cart>), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse, description = "Not logged in (once accounts exist)"), (status = 403, body = ErrorResponse, description = "Someone else's cart"), (status = 404, body = ErrorResponse)))]
async fn remove(
    state: web::Data<AppState>,
    access: CartAccess,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let product = product_id(&path)?;
    let cart = ask_store(
        &state.store,
        RemoveFromCart {
            cart: access.cart,
            product,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}

/// Empties the cart (it remains).
#[utoipa::path(delete, path = "/api/carts/{cid}", tag = "carts", params(("cid" = String, Path)),
    responses((status = 200, body = Success<Cart>), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse, description = "Not logged in (once accounts exist)"), (status = 403, body = ErrorResponse, description = "Someone else's cart"), (status = 404, body = ErrorResponse)))]
async fn clear(state: web::Data<AppState>, access: CartAccess) -> Result<HttpResponse, ApiError> {
    let cart = ask_store(&state.store, ClearCart { cart: access.cart }).await?;
    Ok(HttpResponse::Ok().json(success(cart)))
}
