//! Settings layered from `config/default.toml`, an optional `CONFIG_FILE`,
//! and the environment, in that order (later layers win).
//!
//! The short environment names users know from the Node.js project (`PORT`,
//! `MONGODB_URI`, ...) are mapped explicitly; any other key can be set with
//! `APP__<SECTION>__<KEY>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, ConfigError, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;

/// Environment variables with a documented short name, and the key each sets.
const SHORT_ENV_NAMES: &[(&str, &str)] = &[
    ("HOST", "server.host"),
    ("PORT", "server.port"),
    ("MONGODB_URI", "store.mongodb_uri"),
    ("MONGODB_DB", "store.mongodb_db"),
    ("DATA_DIR", "store.data_dir"),
    ("UPLOADS_DIR", "uploads.dir"),
    ("SESSION_KEY", "session.key"),
    ("ADMIN_EMAIL", "users.admin_email"),
    ("ADMIN_PASSWORD", "users.admin_password"),
    ("REDIS_URL", "redis.url"),
];

/// The defaults, compiled in so the binary runs from any directory; the
/// file on disk (if present) is layered on top of them.
const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub uploads: UploadSettings,
    pub views: ViewSettings,
    pub catalog: CatalogSettings,
    pub websocket: WebSocketSettings,
    pub chat: ChatSettings,
    pub session: SessionSettings,
    pub users: UserSettings,
    pub redis: RedisSettings,
    pub delivery: DeliverySettings,
}

/// What is kept for clients that resume from an offset after a reconnect.
#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    /// Events kept per stream (`chat`, `products`).
    pub retain: usize,
    /// Seconds an event is kept at most.
    pub retain_s: u64,
    /// Events kept per cart stream (each is a whole cart: the last few
    /// are all a resuming cart page needs).
    pub cart_retain: usize,
    /// Cart streams kept at most (the least recently changed go first).
    pub cart_streams: usize,
}

/// Scale-out: with a Redis URL, instances share broadcasts, presence,
/// login sessions and login limits through it.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// `REDIS_URL`; empty: one process on its own. A secret, since URLs may
    /// carry a password.
    pub url: SecretString,
    /// Prefix of every key and channel, so clusters can share one Redis.
    pub prefix: String,
    /// How long an instance's online users outlive its last refresh: when an
    /// instance dies, the others announce its users as left within this.
    pub presence_ttl_s: u64,
    /// How long an instance that cannot reach Redis holds its own events
    /// back (so that, if Redis answers within it, every instance still
    /// delivers them in one order) before delivering them to its own
    /// sessions anyway.
    pub local_delivery_after_ms: u64,
    /// How long an instance keeps reading the `chat` or `products` stream
    /// after its last session there left (topic routing), so a page that
    /// reloads does not stop and restart the reading.
    pub unfollow_after_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    /// `SESSION_KEY`: a secret, never printed (`Debug` shows it redacted).
    pub key: SecretString,
    pub ttl_minutes: i64,
    pub secure_cookie: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserSettings {
    pub admin_email: String,
    /// `ADMIN_PASSWORD`: a secret, never printed.
    pub admin_password: SecretString,
    pub login_attempts_per_email: u32,
    pub login_attempts_per_address: u32,
    pub registrations_per_address: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatSettings {
    /// Whether visitors who are not logged in may chat (with an e-mail that
    /// belongs to no account); false: they may only read.
    pub allow_anonymous: bool,
    pub presence_window_ms: u64,
    /// Messages stored within this window of the first go out as one
    /// broadcast (one write per session for all of them); 0: each at once.
    pub broadcast_window_ms: u64,
    /// The window applies while the room has at least this many sessions
    /// (below it a broadcast costs too little to be worth a wait).
    pub broadcast_window_from_sessions: usize,
    pub history_size: u32,
    pub max_page_size: u32,
    pub max_message_chars: usize,
    pub presence_list_max: usize,
    /// Chat messages one person may post per second (and at once), across
    /// their sessions and, with Redis, the instances.
    pub messages_per_second_per_user: u32,
    pub message_burst_per_user: u32,
    /// The same per client address.
    pub messages_per_second_per_address: u32,
    pub message_burst_per_address: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub base_url: String,
    /// Origins besides the server's own whose pages may open its WebSockets
    /// and send cookie-authenticated writes (e.g. `https://shop.example`).
    pub allowed_origins: Vec<String>,
    /// Peers (reverse proxies) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a request body may take to arrive (408 past it).
    pub body_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub shutdown_timeout_s: u64,
    /// `TCP_NODELAY` on every connection (socket.io's default).
    pub tcp_nodelay: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    pub mongodb_uri: String,
    pub mongodb_db: String,
    pub mongodb_timeout_ms: u64,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadSettings {
    pub dir: PathBuf,
    pub max_file_bytes: usize,
    pub max_files: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewSettings {
    pub templates_dir: PathBuf,
    pub assets_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogSettings {
    pub max_page_size: u32,
    pub default_page_size: u32,
    pub snapshot_size: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebSocketSettings {
    pub heartbeat_interval_ms: u64,
    pub client_timeout_ms: u64,
    pub max_frame_bytes: usize,
    /// Largest Socket.IO payload (a WebSocket frame or a long-polling
    /// POST), announced as `maxPayload`: socket.io's `maxHttpBufferSize`.
    pub socketio_max_payload: usize,
    pub outbound_queue: usize,
    pub rate_per_second: f64,
    pub rate_burst: f64,
    /// Most WebSocket sessions at once; 0: the open-file limit less a reserve.
    pub max_sessions: usize,
    /// Most WebSocket sessions from one client address; 0: no limit.
    pub max_sessions_per_address: usize,
    /// Whether loopback clients are limited per address too (by default
    /// they are the load tool, the tests or an unlisted reverse proxy).
    pub limit_loopback: bool,
    /// How long a Socket.IO long-polling handshake may wait for its first
    /// poll, POST or upgrade before it is forgotten.
    pub handshake_grace_ms: u64,
    /// Handshakes waiting for their first request, in all and per address.
    pub max_pending_handshakes: usize,
    pub max_pending_handshakes_per_address: usize,
    /// Once a session has closed, or while its socket accepts no byte, how
    /// long the connection may take before it is dropped.
    pub close_timeout_ms: u64,
}

/// Which backend the store uses, decided once from the settings.
#[derive(Debug, Clone)]
pub enum StoreBackendKind {
    Mongo { uri: String, database: String },
    Embedded { data_dir: PathBuf },
}

impl Settings {
    /// The compiled-in defaults alone, ignoring files and environment
    /// (tests start from these).
    pub fn defaults() -> Result<Settings, ConfigError> {
        Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()?
            .try_deserialize()
    }

    /// Reads the settings the running server uses.
    pub fn load() -> Result<Settings, ConfigError> {
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(Path::new("config/default.toml")).required(false));
        if let Ok(extra) = std::env::var("CONFIG_FILE") {
            builder = builder.add_source(File::from(PathBuf::from(extra)));
        }
        builder = builder.add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("server.allowed_origins")
                .with_list_parse_key("server.trusted_proxies"),
        );
        for (name, key) in SHORT_ENV_NAMES {
            if let Ok(value) = std::env::var(name) {
                builder = builder.set_override(*key, value)?;
            }
        }
        builder.build()?.try_deserialize()
    }

    pub fn store_backend(&self) -> StoreBackendKind {
        if self.store.mongodb_uri.trim().is_empty() {
            StoreBackendKind::Embedded {
                data_dir: self.store.data_dir.clone(),
            }
        } else {
            StoreBackendKind::Mongo {
                uri: self.store.mongodb_uri.clone(),
                database: self.store.mongodb_db.clone(),
            }
        }
    }
}

impl WebSocketSettings {
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    pub fn client_timeout(&self) -> Duration {
        Duration::from_millis(self.client_timeout_ms)
    }

    pub fn handshake_grace(&self) -> Duration {
        Duration::from_millis(self.handshake_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that reads the environment, so setting variables here
    /// races with nothing.
    #[test]
    fn environment_overrides_the_defaults() {
        std::env::set_var("PORT", "9191");
        std::env::set_var("MONGODB_URI", "mongodb://db.example:27017");
        std::env::set_var("APP__WEBSOCKET__HEARTBEAT_INTERVAL_MS", "2000");
        let settings = Settings::load().expect("settings load");
        std::env::remove_var("PORT");
        std::env::remove_var("MONGODB_URI");
        std::env::remove_var("APP__WEBSOCKET__HEARTBEAT_INTERVAL_MS");
        assert_eq!(settings.server.port, 9191);
        assert_eq!(settings.websocket.heartbeat_interval_ms, 2000);
        assert!(matches!(settings.store_backend(), StoreBackendKind::Mongo { .. }));
        let defaults = Settings::defaults().expect("defaults");
        let mut with_secrets = defaults.clone();
        with_secrets.session.key = "k".repeat(64).into();
        with_secrets.users.admin_password = "hunter2-password".to_owned().into();
        let printed = format!("{with_secrets:?}");
        assert!(
            !printed.contains("kkkk") && !printed.contains("hunter2"),
            "{printed}"
        );
        assert_eq!(defaults.server.port, 8080);
        assert!(matches!(
            defaults.store_backend(),
            StoreBackendKind::Embedded { .. }
        ));
    }
}
