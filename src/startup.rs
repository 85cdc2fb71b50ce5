//! Builds the application: store, actors, HTTP server and its routes.
//! `Application::build` binds the configured address, so tests pass port 0
//! and read the real port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{middleware, web, App, HttpServer};
use tokio::sync::watch;

use actix_session::config::BrowserSession;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use secrecy::ExposeSecret;

use crate::auth::{self, Accounts, LoginLimiter, LoginSessions, RedisSessions, StoreSessionStore};
use crate::cluster::connection::RedisClient;
use crate::cluster::ClusterLink;
use crate::configuration::{SessionSettings, Settings, StoreBackendKind};
use crate::metrics::Metrics;
use crate::realtime::bus::Bus;
use crate::realtime::chat::limits::ChatLimits;
use crate::realtime::events::{ChatOutlet, FeedInterest, LocalRooms};
use crate::realtime::limits::SessionLimits;
use crate::realtime::session::SessionContext;
use crate::realtime::socketio::{Recoveries, SocketIoSessions};
use crate::realtime::stream::LocalClock;
use crate::realtime::{ChatRoom, ProductFeed};
use crate::routes;
use crate::routes::normalize::normalize_path;
use crate::routes::security::{self, client_address, SESSION_COOKIE};
use crate::state::{AppState, EndpointSessions, Endpoints};
use crate::store::{self, MongoStore};
use crate::templates::Templates;

/// The key that signs and encrypts session cookies: `SESSION_KEY`, or a
/// random one (with a warning) when unset.
fn session_key(settings: &SessionSettings, clustered: bool) -> Result<Key, StartupError> {
    let key = settings.key.expose_secret();
    if key.is_empty() && clustered {
        return Err(StartupError::SessionKey(
            "REDIS_URL is set but SESSION_KEY is not: every instance needs the same SESSION_KEY \
             to read the others' session cookies"
                .to_owned(),
        ));
    }
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

/// glibc's malloc raises its mmap threshold to the size of each large block
/// freed (up to 32 MiB), after which argon2's 19 MiB blocks come from the
/// heap and are kept when freed: a burst of logins would leave the RSS at
/// its peak. A fixed threshold keeps large blocks mmapped, so they go back
/// to the system as soon as they are freed.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter.
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
        if set != 1 {
            log::warn!("could not set the malloc mmap threshold");
        }
    }
}

/// After a wave of sessions has gone, hands the memory they used back to
/// the system: glibc keeps freed small blocks in its arenas (measured: RSS
/// stayed at its 69 MiB peak after 92,000 sessions of churn), and
/// `malloc_trim` returns the free pages. Checked every 30 s; trims only when
/// fewer sessions are open than at the last check, so a steady or growing
/// load never pays for it.
fn give_memory_back_when_sessions_drop(limits: Arc<SessionLimits>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(30));
        let mut last = limits.open();
        loop {
            ticker.tick().await;
            let open = limits.open();
            if open < last {
                // SAFETY: malloc_trim only releases free memory; it is safe
                // to call at any time.
                unsafe { libc::malloc_trim(0) };
            }
            last = open;
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = limits;
}

/// Connections the kernel queues while the server accepts, at most. The
/// usual 128 makes a burst of a thousand connects wait for SYN retries (1 s
/// each); the kernel still caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 8192;

/// Binds `address` with a listen backlog fit for connect storms.
fn listen(address: &str) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let address = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind"))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Every connection writes what it has at once (`TCP_NODELAY`), as
/// socket.io does: a small frame right behind another (a snapshot behind a
/// CONNECT answer) must not wait for the peer's delayed ACK (Nagle).
fn no_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Err(error) = tcp.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set: {error}");
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// Tells every WebSocket session the server is going away.
    shutdown: watch::Sender<bool>,
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
    #[error("REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Application {
    /// Opens the store, starts the actors and binds the HTTP server. Must run
    /// inside an actix system (`#[actix_web::main]`, `#[actix_web::test]`).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let metrics = Arc::new(Metrics::new()?);
        let backend = store::open_backend(&settings).await?;
        let store_name = backend.name();
        let store_failures = metrics.store_errors.clone();

        // The store publishes to the feed (through the bus, when instances
        // share one world), the feed reads its snapshot from the store, and
        // the bus and the room talk both ways: create the contexts first to
        // get the addresses, then start the actors.
        let redis_url = settings.redis.url.expose_secret().trim().to_owned();
        let bus_context = match redis_url.as_str() {
            "" => None,
            url => Some((Context::<Bus>::new(), RedisClient::open(url)?)),
        };
        let bus = bus_context.as_ref().map(|(context, _)| context.address());
        let feed_context = Context::<ProductFeed>::new();
        let store_events = match &bus {
            Some(bus) => bus.clone().recipient(),
            None => feed_context.address().recipient(),
        };
        let store = MongoStore::new(backend.clone(), store_events.clone(), store_failures.clone()).start();
        // With a bus, how long a room's stream is still read once nobody is on it.
        let unfollow_after = Duration::from_millis(settings.redis.unfollow_after_ms);
        // Offsets of events that no bus stamps (every event, without Redis).
        let clock = LocalClock::new();
        let product_feed = feed_context.run(ProductFeed::new(
            store.clone(),
            settings.catalog.snapshot_size,
            &settings.delivery,
            clock.clone(),
            metrics.broadcasts("products"),
            metrics.broadcasts("carts"),
            bus.as_ref().map(|bus| FeedInterest {
                follow_cart: bus.clone().recipient(),
                unfollow_cart: bus.clone().recipient(),
                read: bus.clone().recipient(),
                unfollow_after,
            }),
        ));
        let chat_context = Context::<ChatRoom>::new();
        let chat_room = chat_context.address();
        let outlet = bus.as_ref().map(|bus| ChatOutlet {
            messages: bus.clone().recipient(),
            presence: bus.clone().recipient(),
            read: bus.clone().recipient(),
            unfollow_after,
        });
        chat_context.run(ChatRoom::new(
            store.clone(),
            outlet,
            settings.chat.clone(),
            &settings.delivery,
            clock.clone(),
            metrics.broadcasts("chat"),
            metrics.broadcasts("presence"),
        ));
        let accounts = Arc::new(Accounts::default());
        let cluster = bus_context.map(|(context, client)| {
            let link = Arc::new(ClusterLink::new(settings.redis.prefix.clone()));
            let rooms = LocalRooms {
                products: product_feed.clone().recipient(),
                forget_snapshot: product_feed.clone().recipient(),
                chat: chat_room.clone().recipient(),
                presence: chat_room.clone().recipient(),
                reload_history: chat_room.clone().recipient(),
                chat_followed: chat_room.clone().recipient(),
                products_followed: product_feed.clone().recipient(),
                cart_followed: product_feed.clone().recipient(),
            };
            let own = context.address().recipient();
            context.run(Bus::new(
                &settings.redis,
                &settings.delivery,
                client,
                store.clone(),
                rooms,
                accounts.clone(),
                link.clone(),
                clock.clone(),
                own,
            ));
            link
        });
        // Every WebSocket session watches this; true closes them all (1001).
        let (shutdown, going_away) = watch::channel(false);
        let sessions = Arc::new(EndpointSessions {
            products: SessionContext {
                metrics: metrics.websocket("products"),
                shutdown: going_away.clone(),
            },
            chat: SessionContext {
                metrics: metrics.websocket("chat"),
                shutdown: going_away.clone(),
            },
            socketio: SessionContext {
                metrics: metrics.websocket("socketio"),
                shutdown: going_away,
            },
        });
        auth::prepare_accounts(store.clone(), accounts.clone(), settings.users.clone()).await;
        let key = session_key(&settings.session, !redis_url.is_empty())?;
        if let Some(link) = &cluster {
            if !link.wait_linked(Duration::from_secs(2)).await {
                log::warn!("cluster: Redis is not reachable yet; serving alone until it is");
            }
        }
        let login_sessions = match &cluster {
            None => LoginSessions::Store(StoreSessionStore::new(store.clone())),
            Some(link) => LoginSessions::Redis(RedisSessions::new(link.clone())),
        };

        let views = Templates::load(&settings.views.templates_dir).map_err(Box::new)?;
        std::fs::create_dir_all(&settings.uploads.dir)?;

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = listen(&address).map_err(|source| StartupError::Bind {
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

        let retain = Duration::from_secs(settings.delivery.retain_s);
        let socketio_recoveries = Arc::new(match &cluster {
            Some(link) => Recoveries::redis(link.clone(), retain),
            None => Recoveries::local(retain),
        });
        let workers = settings.server.workers;
        let shutdown_timeout = settings.server.shutdown_timeout_s;
        let tcp_nodelay = settings.server.tcp_nodelay;
        let close_timeout = Duration::from_millis(settings.websocket.close_timeout_ms);
        let session_settings = settings.session.clone();
        let login_limiter = LoginLimiter::new(&settings.users, cluster.clone());
        let session_limits = Arc::new(SessionLimits::new(&settings.websocket));
        let chat_limits = Arc::new(ChatLimits::new(&settings, cluster.clone()));
        let socketio = Arc::new(SocketIoSessions::new(settings.websocket.handshake_grace()));
        log::info!("WebSocket sessions: at most {}", session_limits.max());
        give_memory_back_when_sessions_drop(session_limits.clone());
        let shared = AppState {
            settings: Arc::new(settings),
            store,
            store_name,
            product_feed,
            chat_room,
            views: Arc::new(views),
            accounts,
            login_limiter: Arc::new(login_limiter),
            chat_limits,
            metrics,
            sessions,
            session_limits,
            cluster,
            socketio,
            socketio_recoveries,
        };
        let mut server = HttpServer::new(move || {
            // Runs once per worker thread: this worker's store actor.
            let store =
                MongoStore::new(backend.clone(), store_events.clone(), store_failures.clone()).start();
            let endpoints = web::Data::new(Endpoints::new(&shared, store.clone()));
            let state = web::Data::new(AppState {
                store,
                ..shared.clone()
            });
            let settings = &state.settings;
            let session_ttl = actix_web::cookie::time::Duration::minutes(session_settings.ttl_minutes);
            let session = SessionMiddleware::builder(login_sessions.clone(), key.clone())
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
                .wrap(middleware::ErrorHandlers::new().handler(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    routes::views::internal_error_page,
                ))
                .wrap(middleware::from_fn(security::security_headers))
                .wrap(middleware::from_fn(routes::body_deadline::body_deadline))
                .wrap(middleware::from_fn(routes::metrics::record_http))
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
                        // Long polls: one per Socket.IO client per heartbeat.
                        .exclude("/socket.io")
                        .exclude_regex("^/ws/"),
                )
                // Outermost: routing, logs and metrics see the normal form.
                .wrap(middleware::from_fn(normalize_path))
                .app_data(state.clone())
                .app_data(endpoints)
                .configure(|config| routes::configure(config, &state.settings))
        })
        .on_connect(move |connection, extensions| {
            if tcp_nodelay {
                no_delay(connection, extensions);
            }
        })
        .backlog(LISTEN_BACKLOG as u32)
        .listen(listener)?
        // Signals are handled in `run_until_stopped`, to close WebSockets
        // with 1001 before the server stops.
        .disable_signals()
        .shutdown_timeout(shutdown_timeout)
        .client_disconnect_timeout(close_timeout);
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: stops
    /// accepting, closes every WebSocket with 1001 ("going away", which the
    /// pages take as "reconnect"), lets in-flight requests finish (at most
    /// `server.shutdown_timeout_s`), and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown;
        actix_web::rt::spawn(async move {
            match stop_signal().await {
                Ok(signal) => log::info!("{signal}: closing WebSockets (1001) and finishing requests"),
                Err(error) => {
                    log::error!("cannot listen for shutdown signals: {error}");
                    return;
                }
            }
            let pause = handle.pause();
            let _ = shutdown.send(true);
            pause.await;
            // Let the sessions write their close frames before the workers stop.
            tokio::time::sleep(Duration::from_millis(250)).await;
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C); names the one that came.
async fn stop_signal() -> std::io::Result<&'static str> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupt = tokio::signal::ctrl_c() => interrupt.map(|()| "SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}
