//! Server-rendered pages: Handlebars views inside one layout
//! (`views/layouts/main.handlebars`), as express-handlebars does it: the
//! view renders to `body`, which the layout places with `{{{body}}}`.
//! Every `{{value}}` is HTML-escaped by Handlebars.

mod account;
mod shop;

use std::path::Path;

use actix_session::Session;
use actix_web::http::header::{self, ContentType};
use actix_web::{http::StatusCode, HttpRequest, HttpResponse, ResponseError};
use handlebars::{DirectorySourceOptions, Handlebars};
use serde_json::{json, Value};

pub use account::{login_form, login_submit, logout, profile, register_form, register_submit};
pub use shop::{api_docs, cart, catalog, chat, home, product, realtime_products};

use crate::auth;
use crate::domain::User;
use crate::routes::ApiError;
use crate::startup::AppState;

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

    /// Renders `view` with `data` inside the layout; `viewer` fills the nav.
    pub fn page(&self, viewer: Option<&User>, view: &str, title: &str, data: Value) -> HttpResponse {
        self.page_with_status(StatusCode::OK, viewer, view, title, data)
    }

    /// The error page for a failed request, with the error's status.
    pub fn error(&self, viewer: Option<&User>, error: &ApiError) -> HttpResponse {
        let status = error.status_code();
        let data = json!({ "status": status.as_u16(), "message": error.client_message() });
        self.page_with_status(status, viewer, "error", "Error", data)
    }

    pub fn page_with_status(
        &self,
        status: StatusCode,
        viewer: Option<&User>,
        view: &str,
        title: &str,
        data: Value,
    ) -> HttpResponse {
        let rendered = self.registry.render(view, &data).and_then(|body| {
            let layout = json!({ "title": title, "body": body, "page": view, "viewer": viewer });
            self.registry.render(LAYOUT, &layout)
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

/// Why a page was not rendered.
enum PageError {
    /// The page needs a logged-in user: go to /login, then back to `next`.
    LoginFirst {
        next: String,
    },
    Failed(ApiError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError::Failed(error)
    }
}

/// Renders the page, the login redirect or the error page.
fn respond(state: &AppState, viewer: Option<&User>, page: Result<HttpResponse, PageError>) -> HttpResponse {
    match page {
        Ok(response) => response,
        Err(PageError::LoginFirst { next }) => {
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            redirect(&format!("/login?{query}"))
        }
        Err(PageError::Failed(error)) => state.views.error(viewer, &error),
    }
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The logged-in user, or a redirect to the login page and back.
fn signed_in(viewer: Option<User>, request: &HttpRequest) -> Result<User, PageError> {
    viewer.ok_or_else(|| PageError::LoginFirst {
        next: request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
    })
}

/// Who is viewing, for the nav; a store failure shows as logged out.
async fn viewer(state: &AppState, session: &Session) -> Option<User> {
    auth::current_user(session, &state.store)
        .await
        .unwrap_or_else(|error| {
            log::warn!("could not read the session's user: {error}");
            None
        })
}
