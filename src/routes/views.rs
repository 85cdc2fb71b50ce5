//! Server-rendered pages: Handlebars views inside one layout
//! (`views/layouts/main.handlebars`), as express-handlebars does it: the
//! view renders to `body`, which the layout places with `{{{body}}}`.
//! Every `{{value}}` is HTML-escaped by Handlebars.

use std::path::Path;

use actix_web::{http::header::ContentType, http::StatusCode, web, HttpRequest, HttpResponse, ResponseError};
use handlebars::{DirectorySourceOptions, Handlebars};
use serde_json::{json, Value};

use crate::domain::{parse_id, ProductQuery};
use crate::routes::api::products::{ListParams, ProductPage};
use crate::routes::{ask_store, ApiError};
use crate::startup::AppState;
use crate::store::{GetCart, GetProduct, ListProducts};

const LAYOUT: &str = "layouts/main";

pub struct Views {
    registry: Handlebars<'static>,
}

impl Views {
    /// Loads every `*.handlebars` file under `dir`; a view is named by its
    /// path without the extension (`home`, `layouts/main`,
    /// `partials/nav`), and any of them can be used as a partial.
    pub fn load(dir: &Path) -> Result<Views, handlebars::TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        let mut options = DirectorySourceOptions::default();
        options.tpl_extension = ".handlebars".to_owned();
        registry.register_templates_directory(dir, options)?;
        registry.register_helper("money", Box::new(money));
        Ok(Views { registry })
    }

    /// Renders `view` with `data` inside the layout.
    pub fn page(&self, view: &str, title: &str, data: Value) -> HttpResponse {
        self.page_with_status(StatusCode::OK, view, title, data)
    }

    /// The error page for a failed request, with the error's status.
    pub fn error(&self, error: &ApiError) -> HttpResponse {
        let status = error.status_code();
        let data = json!({ "status": status.as_u16(), "message": error.client_message() });
        self.page_with_status(status, "error", "Error", data)
    }

    fn page_with_status(&self, status: StatusCode, view: &str, title: &str, data: Value) -> HttpResponse {
        let rendered = self.registry.render(view, &data).and_then(|body| {
            self.registry
                .render(LAYOUT, &json!({ "title": title, "body": body, "page": view }))
        });
        match rendered {
            Ok(html) => HttpResponse::build(status)
                .content_type(ContentType::html())
                .body(html),
            Err(error) => {
                log::error!("rendering view {view}: {error}");
                HttpResponse::InternalServerError()
                    .content_type(ContentType::plaintext())
                    .body("internal server error")
            }
        }
    }
}

handlebars::handlebars_helper!(money: |amount: f64| format!("{amount:.2}"));

/// Renders the page, or the error page when building it failed.
fn respond(state: &AppState, page: Result<HttpResponse, ApiError>) -> HttpResponse {
    page.unwrap_or_else(|error| state.views.error(&error))
}

/// `/`: the product list.
pub async fn home(state: web::Data<AppState>) -> HttpResponse {
    let page = async {
        let limit = state.settings.catalog.max_page_size;
        let query = ProductQuery::first_page(limit);
        let page = ask_store(&state.store, ListProducts { query }).await?;
        let data = json!({ "products": page.items, "total": page.total, "shown": page.items.len() });
        Ok(state.views.page("home", "Products", data))
    };
    respond(&state, page.await)
}

/// `/products`: the paginated catalog, with the API's query parameters.
pub async fn catalog(
    request: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> HttpResponse {
    let page = async {
        let settings = &state.settings.catalog;
        let query = params.parse(settings.default_page_size, settings.max_page_size)?;
        let page = ask_store(&state.store, ListProducts { query: query.clone() }).await?;
        let page = ProductPage::new(&request, "", &query, page);
        let data = json!({ "page": page, "params": params.into_inner() });
        Ok(state.views.page("products", "Catalog", data))
    };
    respond(&state, page.await)
}

/// `/products/:pid`: one product.
pub async fn product(state: web::Data<AppState>, pid: web::Path<String>) -> HttpResponse {
    let page = async {
        let id = parse_id("pid", &pid)?;
        let product = ask_store(&state.store, GetProduct { id }).await?;
        let title = product.title.clone();
        Ok(state.views.page("product", &title, json!({ "product": product })))
    };
    respond(&state, page.await)
}

/// `/carts/:cid`: the cart's lines and totals; kept live by `cart:watch`.
pub async fn cart(state: web::Data<AppState>, cid: web::Path<String>) -> HttpResponse {
    let page = async {
        let id = parse_id("cid", &cid)?;
        let cart = ask_store(&state.store, GetCart { id }).await?;
        let lines: Vec<Value> = cart
            .products
            .iter()
            .map(|line| {
                let subtotal = line.product.price * f64::from(line.quantity.get());
                json!({ "product": line.product, "quantity": line.quantity, "subtotal": subtotal })
            })
            .collect();
        let data = json!({ "cart": cart, "lines": lines, "total": cart.total() });
        Ok(state.views.page("cart", "Cart", data))
    };
    respond(&state, page.await)
}

/// `/realtimeproducts`: the live list and the create/delete form; the page's
/// script talks to `/ws/products`.
pub async fn realtime_products(state: web::Data<AppState>) -> HttpResponse {
    state
        .views
        .page("realTimeProducts", "Realtime products", json!({}))
}

/// `/chat`: asks for an e-mail, then the live chat over `/ws/chat`.
pub async fn chat(state: web::Data<AppState>) -> HttpResponse {
    let max_message_chars = state.settings.chat.max_message_chars;
    state
        .views
        .page("chat", "Chat", json!({ "maxMessageChars": max_message_chars }))
}
