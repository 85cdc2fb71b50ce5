//! `TestApp`: the real application on port 0 with a temporary data dir,
//! driven over HTTP and WebSocket as a client would.
//!
//! With `TEST_MONGODB_URI` set, apps run on MongoDB instead of the embedded
//! store, each in a database of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ecommerce::configuration::Settings;
use ecommerce::startup::Application;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The admin every test app is configured with (ADMIN_EMAIL/ADMIN_PASSWORD).
pub const ADMIN_EMAIL: &str = "admin@shop.test";
pub const ADMIN_PASSWORD: &str = "admin-password";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// Logged in as the admin (product writes need one).
    pub client: reqwest::Client,
    admin_cookies: Arc<reqwest::cookie::Jar>,
    pub uploads_dir: PathBuf,
    /// Shared by the instances of one cluster.
    _temp: Arc<TempDir>,
}

/// A client with its own cookie jar, as a separate browser would be.
pub struct Browser {
    pub client: reqwest::Client,
    pub cookies: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Browser {
        let cookies = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(cookies.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser { client, cookies }
    }
}

/// The database a test app uses when `TEST_MONGODB_URI` is set: a new one.
pub fn mongodb_uri() -> Option<String> {
    std::env::var("TEST_MONGODB_URI")
        .ok()
        .filter(|uri| !uri.is_empty())
}

pub fn test_settings(temp: &TempDir) -> Settings {
    let mut settings = Settings::defaults().expect("default settings");
    settings.server.host = "127.0.0.1".to_owned();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.store.data_dir = temp.path().join("data");
    settings.uploads.dir = temp.path().join("uploads");
    settings.users.admin_email = ADMIN_EMAIL.to_owned();
    settings.users.admin_password = ADMIN_PASSWORD.to_owned().into();
    if let Some(uri) = mongodb_uri() {
        settings.store.mongodb_uri = uri;
        settings.store.mongodb_db = format!("test_{}", uuid::Uuid::new_v4().simple());
    }
    settings
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Spawns the app after `customize` adjusts its settings.
    pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
        let _ = env_logger::builder().is_test(true).try_init();
        let temp = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(&temp);
        customize(&mut settings);
        TestApp::start(settings, Arc::new(temp)).await
    }

    /// `count` instances of one world: one Redis, one store (the same
    /// data dir, or the same MongoDB database).
    pub async fn spawn_cluster(
        count: usize,
        redis: &impl SharedRedis,
        customize: impl Fn(&mut Settings),
    ) -> Vec<TestApp> {
        let _ = env_logger::builder().is_test(true).try_init();
        let temp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings = test_settings(&temp);
        settings.redis.url = redis.url().into();
        // One key for all, so each reads the others' cookies.
        settings.session.key = CLUSTER_SESSION_KEY.to_owned().into();
        customize(&mut settings);
        let mut apps = Vec::new();
        for _ in 0..count {
            apps.push(TestApp::start(settings.clone(), temp.clone()).await);
        }
        for app in &apps {
            app.wait_for_redis("connected").await;
        }
        apps
    }

    /// Waits (up to 15 s) until `/health` reports Redis as `state`.
    pub async fn wait_for_redis(&self, state: &str) {
        for _ in 0..150 {
            let (_, health) = self.get_json("/health").await;
            let reported = health["payload"]["redis"]
                .as_str()
                .or_else(|| health["details"]["redis"].as_str());
            if reported == Some(state) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never reported Redis {state}", self.address);
    }

    async fn start(settings: Settings, temp: Arc<TempDir>) -> TestApp {
        let uploads_dir = settings.uploads.dir.clone();
        let application = Application::build(settings).await.expect("app builds");
        let port = application.port();
        actix_web::rt::spawn(application.run_until_stopped());
        let admin = Browser::new();
        let app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: admin.client,
            admin_cookies: admin.cookies,
            uploads_dir,
            _temp: temp,
        };
        // Best effort: an app whose store is down cannot log anyone in.
        let _ = app.log_in(&app.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }

    /// Logs `client` in through the JSON sessions API; returns the status.
    pub async fn log_in(&self, client: &reqwest::Client, email: &str, password: &str) -> u16 {
        let body = json!({ "email": email, "password": password });
        let response = client
            .post(self.url("/api/sessions/login"))
            .json(&body)
            .send()
            .await
            .expect("request");
        response.status().as_u16()
    }

    /// Registers a user through the API and returns a browser logged in as them.
    pub async fn user_browser(&self, email: &str) -> Browser {
        let browser = Browser::new();
        let body = json!({"first_name": "Test", "last_name": "User", "email": email, "age": 30, "password": "user-password"});
        let (status, response) = json_of(
            browser
                .client
                .post(self.url("/api/users"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201, "registering {email}: {response}");
        assert_eq!(self.log_in(&browser.client, email, "user-password").await, 200);
        browser
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        json_of(self.get(path).await).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        json_of(
            self.client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// GETs with another client (another browser, or a visitor).
    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json_with(&self, client: &reqwest::Client, path: &str) -> (u16, Value) {
        json_of(self.get_with(client, path).await).await
    }

    /// POSTs JSON with another client (another browser, or a visitor).
    pub async fn post_json_with(&self, client: &reqwest::Client, path: &str, body: &Value) -> (u16, Value) {
        json_of(
            client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        json_of(
            self.client
                .put(self.url(path))
                .json(body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        json_of(self.client.delete(self.url(path)).send().await.expect("request")).await
    }

    /// Creates a product over REST and returns it; panics unless 201.
    pub async fn create_product(&self, body: &Value) -> Value {
        let (status, response) = self.post_json("/api/products", body).await;
        assert_eq!(status, 201, "creating {body}: {response}");
        response["payload"].clone()
    }

    /// How many products the REST listing reports.
    pub async fn product_count(&self) -> u64 {
        let (status, body) = self.get_json("/api/products").await;
        assert_eq!(status, 200, "{body}");
        body["totalDocs"].as_u64().expect("totalDocs")
    }

    /// An anonymous WebSocket (no session cookie).
    pub async fn ws(&self, path: &str) -> WsClient {
        self.ws_with_cookies(path, None).await
    }

    /// A WebSocket carrying the admin's session cookie.
    pub async fn ws_as_admin(&self, path: &str) -> WsClient {
        let cookies = self.admin_cookies.clone();
        self.ws_with_cookies(path, Some(&cookies)).await
    }

    /// A WebSocket carrying the cookies of `jar`, as a browser's would.
    pub async fn ws_with_cookies(&self, path: &str, jar: Option<&reqwest::cookie::Jar>) -> WsClient {
        WsClient::connect(&self.address, path, jar).await
    }
}

impl TestApp {
    /// Opens a WebSocket with these headers; `Err(status)` when the upgrade
    /// is refused.
    pub async fn try_ws(
        &self,
        path: &str,
        origin: Option<&str>,
        jar: Option<&reqwest::cookie::Jar>,
    ) -> Result<WsClient, u16> {
        use reqwest::cookie::CookieStore;
        let mut request = format!("ws://127.0.0.1:{}{path}", self.port)
            .into_client_request()
            .expect("request");
        if let Some(cookie) = jar.and_then(|jar| jar.cookies(&self.address.parse().expect("url"))) {
            request.headers_mut().insert("cookie", cookie);
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("origin header"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("websocket to {path}: {other}"),
        }
    }
}

pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// The `message` texts of a list of messages (a `payload`), in order.
pub fn message_texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["message"].as_str().expect("message text").to_owned())
        .collect()
}

/// A valid product body; `code` must be unique per product.
pub fn product(code: &str) -> Value {
    json!({
        "title": format!("Product {code}"),
        "description": "A test product",
        "code": code,
        "price": 10.5,
        "stock": 5,
        "category": "test",
    })
}

pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl WsClient {
    pub fn from_stream(
        stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    ) -> WsClient {
        WsClient { stream }
    }

    /// Opens `path` on the server at `address` (`http://host:port`), with
    /// the cookies of `jar` if any.
    pub async fn connect(address: &str, path: &str, jar: Option<&reqwest::cookie::Jar>) -> WsClient {
        use reqwest::cookie::CookieStore;
        let mut request = format!("{}{path}", address.replacen("http://", "ws://", 1))
            .into_client_request()
            .expect("request");
        if let Some(cookie) = jar.and_then(|jar| jar.cookies(&address.parse().expect("url"))) {
            request.headers_mut().insert("cookie", cookie);
        }
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        WsClient { stream }
    }
}

/// Long enough for any event on a loaded CI machine, short enough to fail fast.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

impl WsClient {
    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_event(&mut self, event: &str, data: Value) {
        self.send_text(&json!({"event": event, "data": data}).to_string())
            .await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send");
    }

    /// The next message that is not a ping/pong, or None when closed.
    pub async fn next_message(&mut self, timeout: Duration) -> Option<Message> {
        loop {
            match tokio::time::timeout(timeout, self.stream.next()).await {
                Err(_) => panic!("no websocket message within {timeout:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(message))) => return Some(message),
            }
        }
    }

    /// The next event as (name, data); panics on anything else.
    pub async fn next_event(&mut self) -> (String, Value) {
        match self.next_message(EVENT_TIMEOUT).await {
            Some(Message::Text(text)) => {
                let frame: Value = serde_json::from_str(&text).expect("event is JSON");
                let name = frame["event"].as_str().expect("event name").to_owned();
                (name, frame["data"].clone())
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The next event as its whole frame (`event`, `data`, and `offset`
    /// for an event of a stream); panics on anything else.
    pub async fn next_frame(&mut self) -> Value {
        match self.next_message(EVENT_TIMEOUT).await {
            Some(Message::Text(text)) => serde_json::from_str(&text).expect("event is JSON"),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Frames until (and with) the first `event`.
    pub async fn frames_until(&mut self, event: &str) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next_frame().await;
            let done = frame["event"] == event;
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// The next frame, asserting its event name.
    pub async fn expect_frame(&mut self, name: &str) -> Value {
        let frame = self.next_frame().await;
        assert_eq!(frame["event"], name, "unexpected frame {frame}");
        frame
    }

    /// The next event, asserting its name.
    pub async fn expect_event(&mut self, name: &str) -> Value {
        let (event, data) = self.next_event().await;
        assert_eq!(event, name, "unexpected event {event}: {data}");
        data
    }

    /// Asserts that no event arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected no event, got {other:?}"),
            }
        }
    }
}

/// The server binary, started as a user would (configured by its
/// environment, embedded store), killed when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`, read from the startup log line.
    pub address: String,
}

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `ecommerce` on `port` (0: any free one) with this data.
    pub fn start(data_dir: &std::path::Path, uploads_dir: &std::path::Path, port: u16) -> ServerProcess {
        ServerProcess::start_with(data_dir, uploads_dir, port, &[])
    }

    /// Like `start`, with more environment variables.
    pub fn start_with(
        data_dir: &std::path::Path,
        uploads_dir: &std::path::Path,
        port: u16,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ecommerce"))
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("DATA_DIR", data_dir)
            .env("UPLOADS_DIR", uploads_dir)
            .env("RUST_LOG", "info")
            .env_remove("MONGODB_URI")
            .env_remove("ADMIN_EMAIL")
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("server starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines.next().expect("server log line").expect("readable log");
            if let Some(rest) = line.split("listening on ").nth(1) {
                assert!(line.contains("store: embedded"), "{line}");
                break rest.trim().to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess { child, address }
    }

    /// Sends SIGTERM (a graceful stop) and waits for the exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.expect("kill runs").success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not exit within 15 s of SIGTERM");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The `SESSION_KEY` of test clusters (64+ bytes).
pub const CLUSTER_SESSION_KEY: &str =
    "cluster-test-session-key-cluster-test-session-key-cluster-test-session-key";

/// A real `redis-server` (Debian's package) on a free port, with nothing
/// saved to disk; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
    /// More `redis-server` arguments (e.g. `--requirepass`).
    args: Vec<String>,
}

const REDIS_SERVER: &str = "redis-server";

impl RedisServer {
    /// Starts one, or says SKIPPED (`None`) when redis-server is not
    /// installed; in CI (`CI` set) a missing one fails the test.
    pub async fn start(test: &str) -> Option<RedisServer> {
        let mut server = RedisServer::unstarted(test, &[])?;
        server.restart().await;
        Some(server)
    }

    /// One on a free port, with these arguments, not started yet (start it
    /// with `restart`); `None` when SKIPPED as for `start`.
    pub fn unstarted(test: &str, args: &[&str]) -> Option<RedisServer> {
        let installed = std::process::Command::new(REDIS_SERVER)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: redis-server is missing in CI (.ci/run installs it)"
            );
            eprintln!("{test}: SKIPPED: redis-server not installed (apt-get install redis-server)");
            return None;
        }
        Some(RedisServer {
            port: free_port(),
            child: None,
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it at once (SIGKILL: connections drop, as in a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it
    /// accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not listen on {}", self.port);
    }
}

impl RedisServer {
    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("redis-server running");
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: sends a signal to our own child process.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "signal {signal} to redis-server");
    }

    /// Freezes it (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets it run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Drops every client connection (`CLIENT KILL TYPE normal`): the
    /// instances' readers and writers must reconnect and read on.
    pub async fn kill_clients(&self) -> u64 {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connects to redis");
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut connection)
            .await
            .expect("CLIENT KILL")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Asserts that `texts` (chat messages named `<sender>-...-<n>`) hold
/// `expected` messages, each once, and every sender's numbers `0..per_sender`
/// in the order sent.
pub fn assert_each_once_in_order(texts: &[String], expected: usize, senders: &[&str], per_sender: usize) {
    let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
    assert_eq!(
        texts.len(),
        expected,
        "received {} of {expected}: {texts:?}",
        texts.len()
    );
    assert_eq!(distinct.len(), expected, "no duplicate");
    for who in senders {
        let numbers: Vec<usize> = texts
            .iter()
            .filter(|text| text.starts_with(&format!("{who}-")))
            .map(|text| {
                let number = text.rsplit('-').next().expect("a number");
                number.parse().expect("a number")
            })
            .collect();
        assert_eq!(numbers, (0..per_sender).collect::<Vec<_>>(), "{who}'s in order");
    }
}

/// Where instances meet: one Redis, or a Redis Cluster.
pub trait SharedRedis {
    /// `REDIS_URL` for the instances.
    fn url(&self) -> String;
}

impl SharedRedis for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
}

/// A local Redis Cluster of Debian's `redis-server`: 3 masters with a
/// replica each, on free ports, made by `redis-cli --cluster create`;
/// killed when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts one and waits until every node says the cluster is ok, or
    /// says SKIPPED (`None`) as `RedisServer::start` does.
    pub async fn start(test: &str) -> Option<RedisCluster> {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir_path = dir.path().to_str().expect("utf-8 temp dir").to_owned();
        let mut nodes = Vec::new();
        for index in 0..6 {
            let config = format!("nodes-{index}.conf");
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config,
                "--cluster-node-timeout",
                "2000",
                "--dir",
                &dir_path,
            ];
            let mut node = RedisServer::unstarted(test, &args)?;
            node.restart().await;
            nodes.push(node);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli runs (it comes with redis-server)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_until_whole().await;
        Some(cluster)
    }

    async fn node(&self, port: u16) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connects to a cluster node")
    }

    /// Waits (up to 20 s) until every node reports `cluster_state:ok`,
    /// every slot served, and every replica in sync with its master.
    pub async fn wait_until_whole(&self) {
        for _ in 0..200 {
            let mut whole = true;
            for node in &self.nodes {
                let mut connection = self.node(node.port).await;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut connection)
                    .await
                    .unwrap_or_default();
                whole &= info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384");
                let replication: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut connection)
                    .await
                    .unwrap_or_default();
                whole &= replication.contains("role:master") && !replication.contains("connected_slaves:0")
                    || replication.contains("master_link_status:up");
                // And the node's view lists a replica for every range.
                let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut connection)
                    .await
                    .unwrap_or_default();
                whole &= !ranges.is_empty() && ranges.iter().all(|range| range.len() >= 4);
            }
            if whole {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the Redis Cluster never became whole");
    }

    /// The port of the master now serving `key`, and of its replicas.
    pub async fn shard_of(&self, key: &str) -> (u16, Vec<u16>) {
        let mut any = self.node(self.nodes[0].port).await;
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut any)
            .await
            .expect("CLUSTER KEYSLOT");
        // CLUSTER SLOTS: [[start, end, [host, port, id], [host, port, id]...]...]
        let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut any)
            .await
            .expect("CLUSTER SLOTS");
        let int = |value: &redis::Value| -> i64 { redis::from_redis_value(value).expect("an integer") };
        let port = |value: &redis::Value| -> u16 {
            let node: Vec<redis::Value> = redis::from_redis_value(value).expect("a node");
            u16::try_from(int(&node[1])).expect("a port")
        };
        for range in ranges {
            if (int(&range[0])..=int(&range[1])).contains(&i64::from(slot)) {
                return (port(&range[2]), range[3..].iter().map(port).collect());
            }
        }
        panic!("no shard serves slot {slot}");
    }

    /// Fails the shard of `key` over to its replica (`CLUSTER FAILOVER` on
    /// the replica: the manual, coordinated kind that loses nothing the
    /// master acknowledged), and waits until the cluster is whole again
    /// with the replica as master. Returns the new master's port.
    pub async fn fail_over(&self, key: &str) -> u16 {
        let (master, replicas) = self.shard_of(key).await;
        let replica = *replicas.first().expect("the shard has a replica");
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query_async(&mut self.node(replica).await)
            .await
            .expect("CLUSTER FAILOVER");
        for _ in 0..200 {
            let role: Vec<redis::Value> = redis::cmd("ROLE")
                .query_async(&mut self.node(replica).await)
                .await
                .expect("ROLE");
            let role: String = redis::from_redis_value(&role[0]).expect("a role");
            if role == "master" && self.shard_of(key).await.0 == replica {
                self.wait_until_whole().await;
                return replica;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{replica} never took over from {master}");
    }

    /// Every key on every master (not on replicas): (port, key).
    pub async fn keys_by_master(&self) -> Vec<(u16, String)> {
        let mut found = Vec::new();
        for node in &self.nodes {
            let mut connection = self.node(node.port).await;
            let role: Vec<redis::Value> = redis::cmd("ROLE")
                .query_async(&mut connection)
                .await
                .expect("ROLE");
            let role: String = redis::from_redis_value(&role[0]).expect("a role");
            if role != "master" {
                continue;
            }
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut connection)
                .await
                .expect("KEYS");
            found.extend(keys.into_iter().map(|key| (node.port, key)));
        }
        found
    }
}

impl SharedRedis for RedisCluster {
    fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes[..3]
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }
}

/// A raw Engine.IO WebSocket (Socket.IO spoken by hand).
pub type EngineSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next Engine.IO packet, skipping the server's pings (which may come
/// at any time); fails after 5 s.
pub async fn next_packet(socket: &mut EngineSocket) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a packet within 5 s")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            if text != "2" {
                return text.to_string();
            }
        }
    }
}

/// The value of the metric line starting with `line_start` (name and
/// labels, then a space) in `/metrics` of the server at `base`.
pub async fn metric_at(http: &reqwest::Client, base: &str, line_start: &str) -> i64 {
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{metrics}"))
}

impl TestApp {
    /// A metric of this app (see `metric_at`).
    pub async fn metric(&self, line_start: &str) -> i64 {
        metric_at(&reqwest::Client::new(), &self.address, line_start).await
    }
}
