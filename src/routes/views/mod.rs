//! Server-rendered pages (`crate::templates` inside the layout): the shop
//! (`shop`) and the account pages (`account`), and how a page, the login
//! redirect or the error page becomes a response.

mod account;
mod shop;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};

pub use account::{login_form, login_submit, logout, logout_form, profile, register_form, register_submit};
pub use shop::{cart, catalog, chat, home, product, realtime_products};

use crate::domain::User;
use crate::routes::extractors::PageViewer;
use crate::routes::ApiError;
use crate::state::AppState;
use crate::templates::Templates;

/// Pages as HTTP responses.
pub trait HtmlPages {
    /// Renders `view` with `data` inside the layout; `viewer` fills the nav.
    fn page(&self, viewer: Option<&User>, view: &str, title: &str, data: Value) -> HttpResponse {
        self.page_with_status(StatusCode::OK, viewer, view, title, data)
    }

    /// The error page for a failed request, with the error's status.
    fn error(&self, viewer: Option<&User>, error: &ApiError) -> HttpResponse {
        let status = error.status_code();
        let data = json!({ "status": status.as_u16(), "message": error.client_message() });
        self.page_with_status(status, viewer, "error", "Error", data)
    }

    fn page_with_status(
        &self,
        status: StatusCode,
        viewer: Option<&User>,
        view: &str,
        title: &str,
        data: Value,
    ) -> HttpResponse;
}

impl HtmlPages for Templates {
    fn page_with_status(
        &self,
        status: StatusCode,
        viewer: Option<&User>,
        view: &str,
        title: &str,
        data: Value,
    ) -> HttpResponse {
        match self.render_page(view, title, viewer, &data) {
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

/// Any path nothing else answers: the 404 page, in the layout, with a way
/// back (JSON under `/api` is answered by the API's own fallback).
pub async fn not_found(
    request: HttpRequest,
    state: web::Data<AppState>,
    PageViewer(viewer): PageViewer,
) -> HttpResponse {
    let error = ApiError::NotFound(format!("there is no page at {}", request.path()));
    state.views.error(viewer.as_ref(), &error)
}

/// A 500 from anywhere but the API (whose errors are JSON) becomes the
/// error page, in the layout, unless it already is a page.
pub fn internal_error_page<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    let is_api = response.request().path().starts_with("/api/");
    let Some(state) = response.request().app_data::<web::Data<AppState>>().cloned() else {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    };
    if is_html || is_api {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let error = ApiError::Internal("the server failed to answer".to_owned());
    let page = state.views.error(None, &error);
    let (request, _) = response.into_parts();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, page).map_into_right_body(),
    ))
}

/// Why a page was not rendered.
enum PageError {
    /// The page needs a logged-in user: go to /login, then back to `next`.
    LoginFirst {
        next: String,
    },
    Failed(ApiError),
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError::Failed(error.into())
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
