//! The OpenAPI description of the REST API (`GET /api/openapi.json`),
//! rendered by the `/api/docs` page.
//!
//! Operations are declared on their handlers (`#[utoipa::path]`); the
//! schemas below describe the JSON those handlers produce and accept. They
//! mirror the domain types' serialized form, and a black-box test compares
//! them with real responses so they cannot drift apart unnoticed.

#![allow(dead_code)] // the schema structs exist only to be described

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::api::{carts, messages, products, users};
use super::health;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecommerce",
        description = "Realtime e-commerce server: products, carts, chat messages, users and sessions. \
            Every success is `{\"status\":\"success\",\"payload\":...}`; every failure \
            `{\"status\":\"error\",\"error\":\"...\",\"details\":...}`. Product writes need an admin \
            session cookie (`POST /api/sessions/login`) once any account exists. \
            `/products/` is accepted wherever `/product/` is in cart paths."
    ),
    paths(
        health::health,
        products::list, products::get, products::create, products::update, products::delete, products::upload,
        carts::create, carts::get, carts::add, carts::set_quantity, carts::replace, carts::remove, carts::clear,
        messages::list, messages::create,
        users::list, users::register, users::delete, users::login, users::logout, users::current,
    ),
    components(schemas(
        Product, NewProduct, ProductPatch, ProductResponse, ProductPageResponse, DeletedResponse,
        Cart, CartLine, CartResponse, QuantityBody, CartItemsBody, CartItemBody,
        Message, NewMessage, MessageResponse, MessagesResponse,
        User, Registration, Credentials, UserResponse, UsersResponse,
        Health, ErrorResponse,
    )),
    tags(
        (name = "products", description = "The catalog"),
        (name = "carts", description = "Shopping carts, read with products populated"),
        (name = "messages", description = "Chat history and posting"),
        (name = "users", description = "Accounts and sessions"),
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// A product as every response shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// 24-hex ObjectId.
    #[schema(example = "65f0a0a0a0a0a0a0a0a0a0a0")]
    #[serde(rename = "_id")]
    id: String,
    title: String,
    description: String,
    /// Unique.
    code: String,
    #[schema(minimum = 0)]
    price: f64,
    status: bool,
    #[schema(minimum = 0)]
    stock: u32,
    category: String,
    thumbnails: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// `POST /api/products` and the `product:create` event. Unknown fields are refused.
#[derive(Serialize, ToSchema)]
pub struct NewProduct {
    title: String,
    description: String,
    code: String,
    #[schema(minimum = 0)]
    price: f64,
    #[schema(minimum = 0)]
    stock: u32,
    category: String,
    /// Default true.
    status: Option<bool>,
    /// http(s):// URLs or site paths.
    thumbnails: Option<Vec<String>>,
}

/// `PUT /api/products/{pid}`: any subset of the fields, at least one; `_id` cannot change.
#[derive(Serialize, ToSchema)]
pub struct ProductPatch {
    title: Option<String>,
    description: Option<String>,
    code: Option<String>,
    price: Option<f64>,
    stock: Option<u32>,
    category: Option<String>,
    status: Option<bool>,
    thumbnails: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductResponse {
    #[schema(example = "success")]
    status: String,
    payload: Product,
}

/// The listing, mongoose-paginate style; links are null when there is no such page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductPageResponse {
    status: String,
    payload: Vec<Product>,
    total_docs: u64,
    limit: u32,
    total_pages: u64,
    page: u32,
    prev_page: Option<u32>,
    next_page: Option<u32>,
    has_prev_page: bool,
    has_next_page: bool,
    #[schema(example = "/api/products?limit=10&page=1")]
    prev_link: Option<String>,
    next_link: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedId {
    #[serde(rename = "_id")]
    id: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedResponse {
    status: String,
    payload: DeletedId,
}

#[derive(Serialize, ToSchema)]
pub struct CartLine {
    product: Product,
    #[schema(minimum = 1)]
    quantity: u32,
}

#[derive(Serialize, ToSchema)]
pub struct Cart {
    #[serde(rename = "_id")]
    id: String,
    products: Vec<CartLine>,
}

#[derive(Serialize, ToSchema)]
pub struct CartResponse {
    status: String,
    payload: Cart,
}

/// Optional on add (default 1); required on set.
#[derive(Serialize, ToSchema)]
pub struct QuantityBody {
    #[schema(minimum = 1)]
    quantity: u32,
}

#[derive(Serialize, ToSchema)]
pub struct CartItemBody {
    product: String,
    #[schema(minimum = 1)]
    quantity: u32,
}

/// Replaces every line; each product at most once (a bare array is accepted too).
#[derive(Serialize, ToSchema)]
pub struct CartItemsBody {
    products: Vec<CartItemBody>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(rename = "_id")]
    id: String,
    /// The sender's e-mail (lower-cased).
    user: String,
    message: String,
    /// Null for a public message, an e-mail for a direct one.
    to: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewMessage {
    user: String,
    /// 1 to 1000 characters.
    message: String,
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    status: String,
    payload: Message,
}

#[derive(Serialize, ToSchema)]
pub struct MessagesResponse {
    status: String,
    payload: Vec<Message>,
}

/// A user; never with a password or its hash.
#[derive(Serialize, ToSchema)]
pub struct User {
    #[serde(rename = "_id")]
    id: String,
    first_name: String,
    last_name: String,
    email: String,
    age: u8,
    #[schema(example = "user")]
    role: String,
    /// The user's own cart.
    cart: String,
}

#[derive(Serialize, ToSchema)]
pub struct Registration {
    first_name: String,
    last_name: String,
    email: String,
    #[schema(maximum = 150)]
    age: u8,
    /// 8 to 128 characters.
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Credentials {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    status: String,
    payload: User,
}

#[derive(Serialize, ToSchema)]
pub struct UsersResponse {
    status: String,
    payload: Vec<User>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthPayload {
    #[schema(example = "embedded")]
    store: String,
    reachable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: String,
    payload: HealthPayload,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    #[schema(example = "error")]
    status: String,
    error: String,
    /// For validation errors: `{"field": "<name>"}`.
    details: Option<serde_json::Value>,
}
