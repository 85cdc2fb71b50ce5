//! Builds the application: store, actors, HTTP server and its routes.
//! `Application::build` binds the configured address, so tests pass port 0
//! and read the real port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix::prelude::*;
use actix_files::Files;
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};

use actix_session::config::BrowserSession;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use secrecy::ExposeSecret;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{self, Accounts, LoginLimiter, MemorySessionStore};
use crate::configuration::{SessionSettings, Settings, StoreBackendKind};
use crate::metrics::Metrics;
use crate::realtime::{ChatRoom, ProductFeed};
use crate::routes::security::{self, client_address, CSP_REPORT_PATH, SESSION_COOKIE};
use crate::routes::{self, error, openapi::ApiDoc};
use crate::state::AppState;
use crate::store::{self, MongoStore};
use crate::templates::Templates;

/// The key that signs and encrypts session cookies: `SESSION_KEY`, or a
/// random one (with a warning) when unset.
fn session_key(settings: &SessionSettings) -> Result<Key, StartupError> {
    let key = settings.key.expose_secret();
    if key.is_empty() {
        log::warn!("SESSION_KEY is not set: using a random key, so sessions end when the server stops");
        return Ok(Key::generate());
    }
    Key::try_from(key.as_bytes())
        .map_err(|_| StartupError::SessionKey("SESSION_KEY must be at least 64 bytes".to_owned()))
}

/// Every WebSocket session holds a socket: raise the soft open-file limit
/// to the hard one so the server is not capped at the usual 1024.
pub fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => log::info!("open-file limit raised to {limit} (about that many sessions at most)"),
        Err(error) => log::warn!("could not raise the open-file limit: {error}"),
    }
}

fn redirect_to(location: &'static str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

pub struct Application {
    port: u16,
    server: Server,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("views: {0}")]
    Views(#[from] Box<handlebars::TemplateError>),
    #[error("binding {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    SessionKey(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Application {
    /// Opens the store, starts the actors and binds the HTTP server. Must run
    /// inside an actix system (`#[actix_web::main]`, `#[actix_web::test]`).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let backend = store::open_backend(&settings).await?;
        let store_name = backend.name();

        // The store publishes to the feed and the feed reads its snapshot
        // from the store: create the feed's context first to get its
        // address, then start both.
        let feed_context = Context::<ProductFeed>::new();
        let store_events = feed_context.address().recipient();
        let store = MongoStore::new(backend.clone(), store_events.clone()).start();
        let product_feed = feed_context.run(ProductFeed::new(store.clone(), settings.catalog.snapshot_size));

        let chat_room = ChatRoom::new(store.clone(), settings.chat.clone()).start();
        let accounts = Arc::new(Accounts::default());
        auth::prepare_accounts(store.clone(), accounts.clone(), settings.users.clone()).await;
        let key = session_key(&settings.session)?;
        let sessions = MemorySessionStore::default();

        let views = Templates::load(&settings.views.templates_dir).map_err(Box::new)?;
        std::fs::create_dir_all(&settings.uploads.dir)?;

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener.local_addr()?.port();
        log::info!(
            "store: {store_name}{}; listening on http://{}:{port}",
            match settings.store_backend() {
                StoreBackendKind::Mongo { database, .. } => format!(" (database {database})"),
                StoreBackendKind::Embedded { data_dir } => format!(" (data dir {})", data_dir.display()),
            },
            settings.server.host,
        );

        let workers = settings.server.workers;
        let session_settings = settings.session.clone();
        let login_limiter = LoginLimiter::new(&settings.users);
        let metrics = Arc::new(Metrics::new()?);
        let shared = AppState {
            settings: Arc::new(settings),
            store,
            store_name,
            product_feed,
            chat_room,
            views: Arc::new(views),
            accounts,
            login_limiter: Arc::new(login_limiter),
            metrics,
        };
        let mut server = HttpServer::new(move || {
            // Runs once per worker thread: this worker's store actor.
            let state = web::Data::new(AppState {
                store: MongoStore::new(backend.clone(), store_events.clone()).start(),
                ..shared.clone()
            });
            let settings = &state.settings;
            let session_ttl = actix_web::cookie::time::Duration::minutes(session_settings.ttl_minutes);
            let session = SessionMiddleware::builder(sessions.clone(), key.clone())
                .cookie_name(SESSION_COOKIE.to_owned())
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(session_settings.secure_cookie)
                .session_lifecycle(BrowserSession::default().state_ttl(session_ttl))
                .build();
            let trusted_proxies = settings.server.trusted_proxies.clone();
            App::new()
                .wrap(session)
                .wrap(middleware::from_fn(security::refuse_foreign_origins))
                .wrap(middleware::from_fn(security::security_headers))
                // WebSocket upgrades are excluded: their "response" lasts as
                // long as the session and would hold the log state with it.
                .wrap(
                    middleware::Logger::new("%{client}xi \"%r\" %s %b %Dms")
                        .custom_request_replace("client", move |request| {
                            client_address(request.request(), &trusted_proxies)
                                .map(|ip| ip.to_string())
                                .unwrap_or_else(|| "-".to_owned())
                        })
                        .exclude("/health")
                        .exclude_regex("^/ws/"),
                )
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(256 * 1024)
                        .error_handler(error::json_error),
                )
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .route("/health", web::get().to(routes::health::health))
                .route("/metrics", web::get().to(routes::metrics::metrics))
                .route(CSP_REPORT_PATH, web::post().to(routes::metrics::csp_report))
                // Before the /api scope, which would otherwise answer 404.
                .route("/api/docs", web::get().to(|| async { redirect_to("/api/docs/") }))
                .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", ApiDoc::openapi()))
                .service(
                    web::scope("/api")
                        .configure(routes::api::products::configure)
                        .configure(routes::api::messages::configure)
                        .configure(routes::api::carts::configure)
                        .configure(routes::api::users::configure)
                        .default_service(web::to(error::api_not_found)),
                )
                .route("/ws/products", web::get().to(routes::ws::products))
                .route("/ws/chat", web::get().to(routes::ws::chat))
                .route("/", web::get().to(routes::views::home))
                .route(
                    "/realtimeproducts",
                    web::get().to(routes::views::realtime_products),
                )
                .route("/chat", web::get().to(routes::views::chat))
                .route("/products", web::get().to(routes::views::catalog))
                .route("/products/{pid}", web::get().to(routes::views::product))
                .route("/carts/{cid}", web::get().to(routes::views::cart))
                .route("/login", web::get().to(routes::views::login_form))
                .route("/login", web::post().to(routes::views::login_submit))
                .route("/register", web::get().to(routes::views::register_form))
                .route("/register", web::post().to(routes::views::register_submit))
                .route("/logout", web::get().to(routes::views::logout_form))
                .route("/logout", web::post().to(routes::views::logout))
                .route("/profile", web::get().to(routes::views::profile))
                .service(Files::new("/assets", &settings.views.assets_dir))
                .service(Files::new("/uploads", &settings.uploads.dir))
        })
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
