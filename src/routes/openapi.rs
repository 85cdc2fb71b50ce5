//! The OpenAPI description of the REST API (`GET /api/openapi.json`),
//! rendered by Swagger UI at `/api/docs/` (bundled in the binary).
//!
//! Operations are declared on their handlers (`#[utoipa::path]`) and the
//! schemas are derived from the very types the handlers serialize and parse
//! (`ToSchema` on the domain and response types), so the description cannot
//! drift from the API.

use utoipa::OpenApi;

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
        messages::list, messages::direct, messages::create,
        users::list, users::register, users::delete, users::login, users::logout, users::current,
    ),
    tags(
        (name = "health", description = "Liveness of the server and its store"),
        (name = "products", description = "The catalog"),
        (name = "carts", description = "Shopping carts, read with products populated"),
        (name = "messages", description = "Chat history and posting"),
        (name = "users", description = "Accounts and sessions"),
    )
)]
pub struct ApiDoc;
