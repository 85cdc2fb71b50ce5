//! Server-rendered pages: Handlebars views inside one layout
//! (`views/layouts/main.handlebars`), as express-handlebars does it: the
//! view renders to `body`, which the layout places with `{{{body}}}`.
//! Every `{{value}}` is HTML-escaped by Handlebars.

use std::path::Path;

use actix_web::{http::header::ContentType, web, HttpResponse};
use handlebars::{DirectorySourceOptions, Handlebars};
use serde_json::{json, Value};

use crate::domain::ProductQuery;
use crate::routes::{ask_store, ApiError};
use crate::startup::AppState;
use crate::store::ListProducts;

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
        let rendered = self.registry.render(view, &data).and_then(|body| {
            self.registry
                .render(LAYOUT, &json!({ "title": title, "body": body, "page": view }))
        });
        match rendered {
            Ok(html) => HttpResponse::Ok().content_type(ContentType::html()).body(html),
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

/// `/`: the product list.
pub async fn home(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let limit = state.settings.catalog.max_page_size;
    let page = ask_store(
        &state.store,
        ListProducts {
            query: ProductQuery::first_page(limit),
        },
    )
    .await?;
    let shown = page.items.len();
    Ok(state.views.page(
        "home",
        "Products",
        json!({ "products": page.items, "total": page.total, "shown": shown, "more": page.total > shown as u64 }),
    ))
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
