//! `/api/products`: list (paginated, filtered, sorted), get, create,
//! partial update, delete, and image upload.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{success, uploads, Deleted, Success};
use crate::domain::{parse_id, NewProduct, Product, ProductPatch, ProductQuery, SortOrder, ValidationError};
use crate::routes::error::ErrorResponse;
use crate::routes::extractors::ProductEditor;
use crate::routes::ApiError;
use crate::state::AppState;
use crate::store::{
    ask_store, AddThumbnails, CreateProduct, DeleteProduct, GetProduct, ListProducts, Page, UpdateProduct,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/products").get(list).post(create))
        .service(
            web::resource("/products/{pid}")
                .get(get)
                .put(update)
                .delete(delete),
        )
        .service(web::resource("/products/{pid}/upload").post(upload));
}

/// Query parameters as sent; `ListParams::parse` turns them into a
/// `ProductQuery` with messages that name the parameter.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListParams {
    limit: Option<String>,
    page: Option<String>,
    sort: Option<String>,
    query: Option<String>,
    category: Option<String>,
    available: Option<String>,
    q: Option<String>,
}

impl ListParams {
    pub fn parse(&self, default_limit: u32, max_limit: u32) -> Result<ProductQuery, ValidationError> {
        let positive = |name: &str, raw: &Option<String>| -> Result<Option<u32>, ValidationError> {
            match raw.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(value) => value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(Some)
                    .ok_or_else(|| ValidationError::new(name, format!("{name} must be a positive integer"))),
            }
        };
        let limit = positive("limit", &self.limit)?
            .unwrap_or(default_limit)
            .min(max_limit);
        let page = positive("page", &self.page)?.unwrap_or(1);
        let sort = match self.sort.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) if s.eq_ignore_ascii_case("asc") || s == "1" => Some(SortOrder::PriceAscending),
            Some(s) if s.eq_ignore_ascii_case("desc") || s == "-1" => Some(SortOrder::PriceDescending),
            Some(_) => return Err(ValidationError::new("sort", "sort must be asc or desc")),
        };
        let mut query = ProductQuery {
            limit,
            page,
            sort,
            ..ProductQuery::first_page(limit)
        };
        // `query` is the Node.js course's catch-all: a category, or
        // available/unavailable to filter by stock.
        match self.query.as_deref().map(str::trim) {
            None | Some("") => {}
            Some(q) if q.eq_ignore_ascii_case("available") => query.available = Some(true),
            Some(q) if q.eq_ignore_ascii_case("unavailable") => query.available = Some(false),
            Some(category) => query.category = Some(category.to_owned()),
        }
        if let Some(category) = self.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            query.category = Some(category.to_owned());
        }
        match self.available.as_deref().map(str::trim) {
            None | Some("") => {}
            Some("true") => query.available = Some(true),
            Some("false") => query.available = Some(false),
            Some(_) => {
                return Err(ValidationError::new(
                    "available",
                    "available must be true or false",
                ))
            }
        }
        query.title_contains = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned);
        Ok(query)
    }
}

/// The listing response of the Node.js course (mongoose-paginate style);
/// links are null when there is no such page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ProductPageResponse)]
pub struct ProductPage {
    #[schema(example = "success")]
    pub status: &'static str,
    pub payload: Vec<Product>,
    pub total_docs: u64,
    pub limit: u32,
    pub total_pages: u64,
    pub page: u32,
    pub prev_page: Option<u32>,
    pub next_page: Option<u32>,
    pub has_prev_page: bool,
    pub has_next_page: bool,
    #[schema(example = "/api/products?limit=10&page=1")]
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
}

impl ProductPage {
    /// Builds the page object; links keep the request's other parameters.
    pub fn new(request: &HttpRequest, base_url: &str, query: &ProductQuery, page: Page<Product>) -> Self {
        let total_pages = page.total.div_ceil(u64::from(query.limit)).max(1);
        let has_prev_page = query.page > 1;
        let has_next_page = u64::from(query.page) < total_pages;
        let prev_page = has_prev_page.then(|| query.page - 1);
        let next_page = has_next_page.then(|| query.page + 1);
        let link = |target: u32| page_link(request, base_url, target);
        ProductPage {
            status: "success",
            payload: page.items,
            total_docs: page.total,
            limit: query.limit,
            total_pages,
            page: query.page,
            prev_page,
            next_page,
            has_prev_page,
            has_next_page,
            prev_link: prev_page.map(link),
            next_link: next_page.map(link),
        }
    }
}

/// The request's own URL with `page` set to `target`.
pub fn page_link(request: &HttpRequest, base_url: &str, target: u32) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(request.query_string()).unwrap_or_default();
    pairs.retain(|(key, _)| key != "page");
    pairs.push(("page".to_owned(), target.to_string()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}{}?{}", base_url.trim_end_matches('/'), request.path(), query)
}

/// A page of products: filter, sort by price, paginate.
#[utoipa::path(get, path = "/api/products", tag = "products",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, default 10, capped at 100"),
        ("page" = Option<u32>, Query, description = "From 1"),
        ("sort" = Option<String>, Query, description = "asc or desc, by price"),
        ("query" = Option<String>, Query, description = "A category, or available/unavailable"),
        ("category" = Option<String>, Query, description = "Exact category"),
        ("available" = Option<bool>, Query, description = "In stock or not"),
        ("q" = Option<String>, Query, description = "Title contains (case-insensitive)"),
    ),
    responses((status = 200, body = ProductPage), (status = 400, body = ErrorResponse)))]
async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let catalog = &state.settings.catalog;
    let query = params.parse(catalog.default_page_size, catalog.max_page_size)?;
    let page = ask_store(&state.store, ListProducts { query: query.clone() }).await?;
    Ok(HttpResponse::Ok().json(ProductPage::new(
        &request,
        &state.settings.server.base_url,
        &query,
        page,
    )))
}

/// One product.
#[utoipa::path(get, path = "/api/products/{pid}", tag = "products",
    params(("pid" = String, Path, description = "24-hex id")),
    responses((status = 200, body = Success<Product>), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get(state: web::Data<AppState>, pid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_id("pid", &pid)?;
    let product = ask_store(&state.store, GetProduct { id }).await?;
    Ok(HttpResponse::Ok().json(success(product)))
}

/// Creates a product (admin); broadcasts `product:created`.
#[utoipa::path(post, path = "/api/products", tag = "products",
    request_body = NewProduct,
    responses((status = 201, body = Success<Product>), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse, description = "Duplicate code")))]
async fn create(
    state: web::Data<AppState>,
    _editor: ProductEditor,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let product = NewProduct::parse(&body)?;
    let created = ask_store(&state.store, CreateProduct { product }).await?;
    Ok(HttpResponse::Created().json(success(created)))
}

/// Changes the given fields (admin); broadcasts `product:updated`.
#[utoipa::path(put, path = "/api/products/{pid}", tag = "products",
    params(("pid" = String, Path)), request_body = ProductPatch,
    responses((status = 200, body = Success<Product>), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn update(
    state: web::Data<AppState>,
    _editor: ProductEditor,
    pid: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("pid", &pid)?;
    let patch = ProductPatch::parse(&body)?;
    let updated = ask_store(&state.store, UpdateProduct { id, patch }).await?;
    Ok(HttpResponse::Ok().json(success(updated)))
}

/// Deletes a product (admin); broadcasts `product:deleted`.
#[utoipa::path(delete, path = "/api/products/{pid}", tag = "products", params(("pid" = String, Path)),
    responses((status = 200, body = Success<Deleted>), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete(
    state: web::Data<AppState>,
    _editor: ProductEditor,
    pid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("pid", &pid)?;
    ask_store(&state.store, DeleteProduct { id }).await?;
    Ok(HttpResponse::Ok().json(success(Deleted { id: id.to_hex() })))
}

/// Uploads image files (multipart; PNG, JPEG, GIF, WebP) under
/// `UPLOADS_DIR` and appends their URLs to `thumbnails` (admin); broadcasts
/// `product:updated`.
#[utoipa::path(post, path = "/api/products/{pid}/upload", tag = "products", params(("pid" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "One or more image files, any field name"),
    responses((status = 200, body = Success<Product>), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse)))]
async fn upload(
    state: web::Data<AppState>,
    _editor: ProductEditor,
    pid: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("pid", &pid)?;
    // Refuse before reading the body when the product does not exist.
    ask_store(&state.store, GetProduct { id }).await?;
    let saved = uploads::save_images(payload, &state.settings.uploads).await?;
    let urls = saved.iter().map(|file| file.url.clone()).collect();
    match ask_store(&state.store, AddThumbnails { id, urls }).await {
        Ok(product) => Ok(HttpResponse::Ok().json(success(product))),
        Err(error) => {
            uploads::remove(&saved).await;
            Err(error.into())
        }
    }
}
