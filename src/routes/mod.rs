//! HTTP: the JSON API, the Handlebars pages, WebSocket upgrades, health,
//! metrics and the OpenAPI description. The only layer that knows HTTP:
//! errors from the layers below become responses here (`error`), and
//! `configure` is the one table of every route.

pub mod api;
pub mod body_deadline;
pub mod error;
pub mod extractors;
pub mod health;
pub mod metrics;
pub mod normalize;
pub mod openapi;
pub mod security;
pub mod socketio;
pub mod views;
pub mod ws;

use actix_files::Files;
use actix_web::{web, HttpResponse};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;

use crate::configuration::Settings;
use openapi::ApiDoc;
use security::CSP_REPORT_PATH;

/// Every route of the application.
pub fn configure(config: &mut web::ServiceConfig, settings: &Settings) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(256 * 1024)
                .error_handler(error::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .route("/health", web::get().to(health::health))
        .route("/metrics", web::get().to(metrics::metrics))
        .route(CSP_REPORT_PATH, web::post().to(metrics::csp_report))
        // Before the /api scope, which would otherwise answer 404.
        .route("/api/docs", web::get().to(|| async { redirect("/api/docs/") }))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", ApiDoc::openapi()))
        .service(
            web::scope("/api")
                .configure(api::products::configure)
                .configure(api::messages::configure)
                .configure(api::carts::configure)
                .configure(api::users::configure)
                .default_service(web::to(error::api_not_found)),
        )
        .route("/ws/products", web::get().to(ws::products))
        .route("/ws/chat", web::get().to(ws::chat))
        .route("/socket.io/socket.io.js", web::get().to(socketio::client_bundle))
        .service(
            web::resource("/socket.io")
                .route(web::get().to(socketio::get))
                .route(web::post().to(socketio::post))
                .route(web::method(actix_web::http::Method::OPTIONS).to(socketio::preflight)),
        )
        .route("/", web::get().to(views::home))
        .route("/realtimeproducts", web::get().to(views::realtime_products))
        .route("/chat", web::get().to(views::chat))
        .route("/products", web::get().to(views::catalog))
        .route("/products/{pid}", web::get().to(views::product))
        .route("/carts/{cid}", web::get().to(views::cart))
        .route("/login", web::get().to(views::login_form))
        .route("/login", web::post().to(views::login_submit))
        .route("/register", web::get().to(views::register_form))
        .route("/register", web::post().to(views::register_submit))
        .route("/logout", web::get().to(views::logout_form))
        .route("/logout", web::post().to(views::logout))
        .route("/profile", web::get().to(views::profile))
        .service(Files::new("/assets", &settings.views.assets_dir))
        .service(Files::new("/uploads", &settings.uploads.dir))
        .default_service(web::to(views::not_found));
}

fn redirect(location: &'static str) -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}
