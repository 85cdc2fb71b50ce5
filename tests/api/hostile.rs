//! Hostile input on the surfaces added since the last security pass:
//! Socket.IO long-polling (forged sids, poll storms, oversized and slow
//! POSTs, sessions opened and abandoned) and Redis (foreign entries on the
//! streams, Redis down at startup, passwords, the keys left behind).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::helpers::{
    json_of, metric_at, RedisServer, ServerProcess, TestApp, WsClient, CLUSTER_SESSION_KEY,
};

/// The long-polling URL of session `sid` on the server at `base`.
fn polling_url(base: &str, sid: &str) -> String {
    format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}")
}

/// A started polling session on the server at `base` (its handshake, then
/// a CONNECT to `/chat`): its sid.
async fn polling_session(http: &reqwest::Client, base: &str) -> String {
    let body = http
        .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .expect("handshake")
        .text()
        .await
        .expect("body");
    let open: Value = serde_json::from_str(body.strip_prefix('0').expect("open packet")).expect("JSON");
    let sid = open["sid"].as_str().expect("sid").to_owned();
    let posted = http
        .post(polling_url(base, &sid))
        .body("40/chat,")
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 200);
    sid
}

const SOCKETIO_SESSIONS: &str = "ecommerce_ws_sessions{endpoint=\"socketio\"} ";

#[actix_web::test]
async fn socket_io_polling_shrugs_off_forged_sids_poll_storms_and_bad_posts() {
    let app = TestApp::spawn_with(|settings| {
        settings.websocket.socketio_max_payload = 10_000;
        settings.server.body_timeout_ms = 500;
    })
    .await;
    let http = reqwest::Client::new();

    // Forged or unknown sids: a JSON 400, for polls, posts and upgrades.
    let long = "x".repeat(5000);
    for sid in ["", "nope", "../../etc/passwd", "%00%ff", long.as_str()] {
        let (status, body) = json_of(
            http.get(polling_url(&app.address, sid))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, 400, "{sid}: {body}");
        assert!(body["error"].as_str().is_some(), "{body}");
        let (status, _) = json_of(
            http.post(polling_url(&app.address, sid))
                .body("40")
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(status, 400);
    }

    // 50 polls at once for one session: one is served, the others are
    // refused (400) and the session is closed, as engine.io does.
    let sid = polling_session(&http, &app.address).await;
    let storm = futures_util::future::join_all((0..50).map(|_| async {
        http.get(polling_url(&app.address, &sid))
            .send()
            .await
            .expect("poll")
            .status()
    }))
    .await;
    assert!(
        storm
            .iter()
            .all(|status| status.as_u16() == 200 || status.as_u16() == 400),
        "{storm:?}"
    );
    assert!(
        storm.iter().any(|status| status.as_u16() == 400),
        "overlapping polls are refused"
    );
    let mut closed = false;
    for _ in 0..50 {
        if app.metric(SOCKETIO_SESSIONS).await == 0 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "the stormed session is closed");

    // A POST over maxPayload is refused before it is buffered; the session
    // carries on.
    let sid = polling_session(&http, &app.address).await;
    let huge = format!("42/chat,[\"message\",{{\"message\":\"{}\"}}]", "y".repeat(20_000));
    let response = http
        .post(polling_url(&app.address, &sid))
        .body(huge)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let poll = http
        .get(polling_url(&app.address, &sid))
        .send()
        .await
        .expect("poll");
    assert_eq!(poll.status(), 200, "the session lives on");

    // A POST whose body trickles in is cut off (408), holding nothing.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("tcp");
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n42/chat"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::AsyncReadExt;
        tcp.read(&mut answer).await
    })
    .await
    .expect("an answer within 5 s")
    .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200);
}

/// Counted on a server process of its own: its descriptors and memory are
/// its own, whatever else the tests do meanwhile.
#[actix_web::test]
async fn abandoned_polling_sessions_expire_and_give_their_descriptors_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start_with(
        &dir.path().join("data"),
        &dir.path().join("uploads"),
        crate::helpers::free_port(),
        &[
            ("APP__WEBSOCKET__HEARTBEAT_INTERVAL_MS", "200"),
            ("APP__WEBSOCKET__CLIENT_TIMEOUT_MS", "700"),
        ],
    );
    let pid = server.pid();
    let descriptors = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|dir| dir.count())
            .unwrap_or(0)
    };
    let resident_kib = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    // No pooled connections: each request comes and goes.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let base = server.address.clone();
    polling_session(&http, &base).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (fds_before, rss_before) = (descriptors(), resident_kib());
    let sids = futures_util::stream::iter(0..2000)
        .map(|_| polling_session(&http, &base))
        .buffer_unordered(32)
        .collect::<Vec<String>>()
        .await;
    let rss_full = resident_kib();
    // Nobody polls: every session misses its pongs and is dropped.
    let mut gone = false;
    for _ in 0..100 {
        if metric_at(&http, &base, SOCKETIO_SESSIONS).await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "abandoned sessions expire within the ping timeout");
    let (status, _) = json_of(http.get(polling_url(&base, &sids[0])).send().await.expect("poll")).await;
    assert_eq!(status, 400, "their sids are gone");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (fds_after, rss_after) = (descriptors(), resident_kib());
    eprintln!("2,000 abandoned sessions: fds {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_full} -> {rss_after} KiB");
    assert!(
        fds_after <= fds_before + 4,
        "descriptors: {fds_before} before, {fds_after} after"
    );
    // Nothing grows once they are gone, and they never cost much (the
    // allocator keeps some of what it was given, so RSS is not exact).
    assert!(
        rss_after <= rss_full + 1024 && rss_after <= rss_before + 16 * 1024,
        "memory: {rss_before} KiB before, {rss_full} with them, {rss_after} after"
    );
    server.terminate().await;
}

/// Writes `fields` to `key` as a foreign client would (XADD).
async fn foreign_xadd(redis: &RedisServer, key: &str, fields: &[(&str, Vec<u8>)]) {
    let client = redis::Client::open(redis.url()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    let mut command = redis::cmd("XADD");
    command.arg(key).arg("*");
    for (field, value) in fields {
        command.arg(*field).arg(value.as_slice());
    }
    let _: String = command.query_async(&mut connection).await.expect("XADD");
}

#[actix_web::test]
async fn garbage_on_the_redis_streams_never_reaches_a_browser() {
    let Some(redis) = RedisServer::start("garbage_on_the_redis_streams_never_reaches_a_browser").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |_| {}).await;
    let mut watcher = WsClient::connect(&apps[0].address, "/ws/chat", None).await;
    watcher
        .send_event("join", json!({"user": "watcher@hostile.test"}))
        .await;
    watcher.expect_event("history").await;
    watcher.expect_event("presence").await;
    let mut products = WsClient::connect(&apps[0].address, "/ws/products", None).await;
    products.expect_event("products").await;

    // Each from its own "writer", so none is skipped as a duplicate.
    let writers = std::sync::atomic::AtomicU64::new(0);
    let envelope = |event: Value| {
        let writer = writers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        json!({"from": format!("intruder-{writer}"), "seq": 1, "event": event})
            .to_string()
            .into_bytes()
    };
    let garbage: Vec<Vec<(&str, Vec<u8>)>> = vec![
        vec![("x", b"no e field".to_vec())],
        vec![("e", b"not json".to_vec())],
        vec![("e", vec![0xff, 0xfe, 0x00, 0x80])],
        vec![("e", b"{\"from\": 7, \"seq\": \"one\"}".to_vec())],
        vec![("e", envelope(json!({"Nope": {}})))],
        vec![(
            "e",
            envelope(json!({"Chat": {"message": {"user": "<script>", "message": "x"}}})),
        )],
        vec![(
            "e",
            envelope(json!({"Chat": {
                "message": {"_id": "1", "user": "a@b.co", "message": "hi", "to": null, "createdAt": "x"},
                "sender_verified": false, "recipient_is_account": false
            }})),
        )],
        vec![(
            "e",
            envelope(json!({"Resync": null, "extra": "x".repeat(2_000_000)})),
        )],
        vec![("e", "{".repeat(100_000).into_bytes())],
    ];
    for stream in ["chat", "products", "carts", "control"] {
        let key = format!("ecommerce:{{{stream}}}:stream");
        for fields in &garbage {
            foreign_xadd(&redis, &key, fields).await;
        }
    }
    // Nothing reaches the browsers...
    for _ in 0..3 {
        let (event, data) = next_non_presence(&mut watcher, Duration::from_secs(1)).await;
        assert!(
            event.is_empty(),
            "a foreign entry reached the chat: {event} {data}"
        );
    }
    products.expect_silence(Duration::from_millis(500)).await;
    // ...and the instances read on: a real message still arrives.
    let mut sender = WsClient::connect(&apps[1].address, "/ws/chat", None).await;
    sender
        .send_event("join", json!({"user": "sender@hostile.test"}))
        .await;
    sender.expect_event("history").await;
    sender
        .send_event("message", json!({"message": "still here"}))
        .await;
    loop {
        let (event, data) = next_non_presence(&mut watcher, Duration::from_secs(5)).await;
        assert!(!event.is_empty(), "the real message did not arrive");
        if event == "message" {
            assert_eq!(data["message"], "still here");
            break;
        }
    }
    for app in &apps {
        let (status, health) = app.get_json("/health").await;
        assert_eq!(
            (status, health["payload"]["redis"].as_str()),
            (200, Some("connected"))
        );
    }
}

/// The next event that is not about presence, or ("", null) after `wait`.
async fn next_non_presence(client: &mut WsClient, wait: Duration) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return (String::new(), Value::Null);
        }
        match tokio::time::timeout(left, client.next_event()).await {
            Ok((event, _)) if event.starts_with("presence") => continue,
            Ok(found) => return found,
            Err(_) => return (String::new(), Value::Null),
        }
    }
}

#[actix_web::test]
async fn an_instance_started_while_redis_is_down_serves_then_joins() {
    let Some(mut redis) =
        RedisServer::unstarted("an_instance_started_while_redis_is_down_serves_then_joins", &[])
    else {
        return;
    };
    let app = TestApp::spawn_with(|settings| {
        settings.redis.url = redis.url().into();
        settings.session.key = CLUSTER_SESSION_KEY.to_owned().into();
    })
    .await;
    let (status, health) = app.get_json("/health").await;
    assert_eq!(status, 200, "it starts and serves: {health}");
    assert_eq!(health["payload"]["redis"], "unreachable");
    assert!(
        health["payload"]["redisProblem"]
            .as_str()
            .is_some_and(|problem| problem.contains("cannot reach Redis")),
        "{health}"
    );
    let (status, _) = app.get_json("/api/products").await;
    assert_eq!(status, 200);
    redis.restart().await;
    app.wait_for_redis("connected").await;
    let (_, health) = app.get_json("/health").await;
    assert!(health["payload"].get("redisProblem").is_none(), "{health}");
}

#[actix_web::test]
async fn a_password_in_redis_url_works_and_a_wrong_one_says_so() {
    let test = "a_password_in_redis_url_works_and_a_wrong_one_says_so";
    let Some(mut redis) = RedisServer::unstarted(test, &["--requirepass", "s3cret"]) else {
        return;
    };
    redis.restart().await;
    let right = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let app = TestApp::spawn_with(|settings| {
        settings.redis.url = right.clone().into();
        settings.session.key = CLUSTER_SESSION_KEY.to_owned().into();
    })
    .await;
    app.wait_for_redis("connected").await;

    let wrong = format!("redis://:guess@127.0.0.1:{}", redis.port);
    let refused = TestApp::spawn_with(|settings| {
        settings.redis.url = wrong.clone().into();
        settings.session.key = CLUSTER_SESSION_KEY.to_owned().into();
    })
    .await;
    let mut said = None;
    for _ in 0..50 {
        let (_, health) = refused.get_json("/health").await;
        if let Some(problem) = health["payload"]["redisProblem"].as_str() {
            said = Some(problem.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let said = said.expect("/health says why Redis is unreachable");
    assert!(said.contains("refused the credentials in REDIS_URL"), "{said}");
    assert!(!said.contains("guess"), "the password is not repeated: {said}");
}

#[actix_web::test]
async fn only_bounded_keys_remain_in_redis_after_20000_sessions_of_churn() {
    let Some(redis) =
        RedisServer::start("only_bounded_keys_remain_in_redis_after_20000_sessions_of_churn").await
    else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |settings| {
        settings.websocket.max_sessions_per_address = 0;
    })
    .await;
    // 20,000 sessions over the two instances: chat joins (presence) and
    // Socket.IO sessions that drop (their state is parked for recovery).
    let churned = futures_util::stream::iter(0..20_000)
        .map(|i| {
            let address = apps[i % 2].address.clone();
            async move {
                if i % 4 == 0 {
                    let url = format!(
                        "{}/socket.io/?EIO=4&transport=websocket",
                        address.replacen("http://", "ws://", 1)
                    );
                    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("socket.io");
                    use futures_util::SinkExt;
                    socket
                        .send(tokio_tungstenite::tungstenite::Message::text("40/chat,"))
                        .await
                        .expect("connect");
                    let _ = socket.next().await;
                    let _ = socket.next().await;
                } else {
                    let mut chat = WsClient::connect(&address, "/ws/chat", None).await;
                    chat.send_event("join", json!({"user": format!("churn{i}@keys.test")}))
                        .await;
                    chat.expect_event("history").await;
                }
            }
        })
        .buffer_unordered(200)
        .count()
        .await;
    assert_eq!(churned, 20_000);
    // Let the leaves settle, then list what is left.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = redis::Client::open(redis.url()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .expect("KEYS");
    let mut lasting = Vec::new();
    let mut expiring = 0;
    for key in &keys {
        let ttl: i64 = redis::cmd("TTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("TTL");
        if ttl < 0 {
            lasting.push(key.clone());
        } else {
            expiring += 1;
        }
    }
    // Lasting keys: the streams (trimmed to their retention), at most.
    assert!(lasting.len() <= 4, "keys that never expire: {lasting:?}");
    for key in &lasting {
        assert!(key.ends_with(":stream"), "{key} never expires");
        let length: u64 = redis::cmd("XLEN")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("XLEN");
        assert!(length <= 2_000, "{key} holds {length} entries");
    }
    // Expiring ones: the presence of the two instances and the parked
    // state of the 5,000 dropped Socket.IO sessions (for `retain_s`).
    assert!(expiring <= 5_000 + 16, "{expiring} expiring keys");
    let memory: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await
        .expect("INFO");
    eprintln!(
        "after churn: {} keys ({} lasting, {expiring} expiring); {}",
        keys.len(),
        lasting.len(),
        memory
            .lines()
            .find(|line| line.starts_with("used_memory_human"))
            .unwrap_or("")
    );
}
