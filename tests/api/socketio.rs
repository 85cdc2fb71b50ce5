//! Socket.IO: the real socket.io-client (npm, pinned in
//! tests/socketio/package.json) driven by tests/socketio/client.mjs, the
//! Engine.IO handshake and transports spoken by hand, and a few hundred
//! malformed packets that must never crash the server.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{json_of, next_packet, Browser, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

/// Node.js with socket.io-client installed (npm install on first use), or
/// None after saying SKIPPED; in CI a missing Node.js fails the test.
async fn node_client(test: &str) -> Option<PathBuf> {
    let node = tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await;
    if !node.is_ok_and(|output| output.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: Node.js is missing in CI"
        );
        eprintln!("{test}: SKIPPED: node is not installed");
        return None;
    }
    let dir = client_dir();
    if !dir.join("node_modules/socket.io-client").exists() {
        let installed = tokio::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .await;
        assert!(
            installed.is_ok_and(|status| status.success()),
            "{test}: npm install in tests/socketio failed"
        );
    }
    Some(dir)
}

#[actix_web::test]
async fn the_real_socket_io_client_works_over_both_transports() {
    let Some(dir) = node_client("the_real_socket_io_client_works_over_both_transports").await else {
        return;
    };
    let app = TestApp::spawn().await;
    let output = tokio::process::Command::new("node")
        .arg(dir.join("client.mjs"))
        .args([&app.address, ADMIN_EMAIL, ADMIN_PASSWORD])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the client finishes within 60 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "socket.io-client checks failed:\n{stdout}\n{stderr}"
    );
    for check in [
        "ok default transports: polling, then upgraded to websocket",
        "ok polling-only client gets the products snapshot",
        "ok REST writes reach /products on both transports and update_products on /",
        "ok chat join acked; presence across a polling and a websocket client",
        "ok messages both ways",
        "ok an invalid message is acked with an error",
        "ok a disconnect is announced as left",
        "ok join and message emitted together both succeed (websocket and polling)",
        "ok connection state recovery: socket.recovered, the missed events once each, in order (websocket and polling)",
        "ok a forged pid is a fresh connection",
        "ok acks come after the frames their event causes (join: history and presence; message: the message)",
        "ok refusals are {error, field} in acks and error events; unknown events are ignored",
        "ok all checks passed",
    ] {
        assert!(stdout.contains(check), "missing {check:?} in:\n{stdout}");
    }
    // What the client sent was stored like any chat message.
    let (_, messages) = app.get_json("/api/messages?limit=100").await;
    let stored = messages["payload"].to_string();
    assert!(
        stored.contains("hello from ana") && stored.contains("hello from bob"),
        "{stored}"
    );
}

/// The open packet of a polling handshake, parsed.
async fn handshake(app: &TestApp, client: &reqwest::Client) -> Value {
    let response = client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .expect("handshake");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    let open = body
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("an open packet: {body}"));
    serde_json::from_str(open).expect("the open packet is JSON")
}

#[actix_web::test]
async fn the_handshake_announces_the_configured_heartbeat_and_payload_limit() {
    let app = TestApp::spawn_with(|settings| {
        settings.websocket.heartbeat_interval_ms = 7000;
        settings.websocket.client_timeout_ms = 10000;
        settings.websocket.socketio_max_payload = 4096;
    })
    .await;
    let browser = Browser::new();
    let open = handshake(&app, &browser.client).await;
    assert_eq!(open["pingInterval"], 7000);
    assert_eq!(open["pingTimeout"], 3000);
    assert_eq!(open["maxPayload"], 4096);
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    let sid = open["sid"].as_str().expect("sid").to_owned();
    // By default, socket.io's own limit (maxHttpBufferSize, 1e6 bytes).
    let defaults = TestApp::spawn().await;
    let default_open = handshake(&defaults, &Browser::new().client).await;
    assert_eq!(default_open["maxPayload"], 1_000_000);

    // A namespace is joined over polling: the answer comes with the next poll.
    let post = |body: &'static str| {
        browser
            .client
            .post(app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}")))
            .body(body)
            .send()
    };
    assert_eq!(post("40/chat,").await.expect("post").status(), 200);
    let poll = browser
        .client
        .get(app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}")))
        .send()
        .await
        .expect("poll")
        .text()
        .await
        .expect("body");
    assert!(poll.starts_with("40/chat,{\"sid\":"), "{poll}");

    // A body over maxPayload is refused.
    let big = "4".repeat(5000);
    let response = browser
        .client
        .post(app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}")))
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);

    // A page from another site may not open a session (it would carry the
    // visitor's cookie), by either transport.
    let foreign = browser
        .client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("handshake");
    assert_eq!(foreign.status(), 403);
    let refused = app
        .try_ws(
            "/socket.io/?EIO=4&transport=websocket",
            Some("https://evil.example"),
            None,
        )
        .await;
    assert_eq!(refused.err(), Some(403));

    // Wrong versions, transports and sessions get clear 400s.
    for path in [
        "/socket.io/?EIO=3&transport=polling",
        "/socket.io/?EIO=4&transport=carrier-pigeon",
        "/socket.io/?EIO=4&transport=polling&sid=nope",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }

    // The client bundle is served as a Socket.IO server serves it.
    let bundle = app.get("/socket.io/socket.io.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    assert!(bundle.text().await.unwrap().contains("socket.io"));
}

#[actix_web::test]
async fn a_direct_websocket_session_speaks_engine_io_and_socket_io() {
    let app = TestApp::spawn().await;
    let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", app.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
    let open = next_packet(&mut socket).await;
    assert!(
        open.starts_with("0{") && open.contains("\"upgrades\":[]"),
        "{open}"
    );
    socket.send(Message::text("40/chat,")).await.expect("send");
    assert!(next_packet(&mut socket).await.starts_with("40/chat,{\"sid\":"));
    socket
        .send(Message::text(r#"42/chat,1["join",{"user":"raw@sio.test"}]"#))
        .await
        .expect("send");
    // The frames the join causes, then its ack (as socket.io handlers run).
    assert!(next_packet(&mut socket)
        .await
        .starts_with(r#"42/chat,["history","#));
    assert!(next_packet(&mut socket)
        .await
        .starts_with(r#"42/chat,["presence","#));
    let ack = next_packet(&mut socket).await;
    assert_eq!(
        ack,
        r#"43/chat,1[{"status":"success","payload":{"user":"raw@sio.test"}}]"#
    );
    socket.send(Message::text("40/nope,")).await.expect("send");
    assert_eq!(
        next_packet(&mut socket).await,
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
}

/// Deterministic garbage: a small xorshift generator over a packet alphabet.
fn garbage(seed: &mut u64) -> String {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "b",
        "/",
        "/chat",
        "/products",
        ",",
        "[",
        "]",
        "{",
        "}",
        "\"",
        ":",
        "\u{1e}",
        "99999999999999999999",
        "null",
        "join",
        "message",
        "\\",
        "\u{0}",
        "é",
        "42",
        "43",
        "44",
        "[\"join\"",
        "{\"user\":",
        "probe",
    ];
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let length = (next() % 12) as usize;
    (0..length)
        .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
        .collect()
}

#[actix_web::test]
async fn hundreds_of_malformed_packets_get_an_error_or_a_close_never_a_crash() {
    let app = TestApp::spawn().await;
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let browser = Browser::new();
    // Over long-polling: each bad body is answered (200 or 400), and the
    // session it broke, if any, is gone.
    for _ in 0..200 {
        let open = handshake(&app, &browser.client).await;
        let sid = open["sid"].as_str().expect("sid").to_owned();
        let body = format!("40/chat,\u{1e}{}", garbage(&mut seed));
        let response = browser
            .client
            .post(app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}")))
            .body(body.clone())
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        assert!(status == 200 || status == 400, "{body:?}: {status}");
        if status == 400 {
            let error: Value = response.json().await.expect("a JSON error");
            assert!(error["error"].is_string(), "{error}");
        }
    }
    // Over WebSocket: each bad frame gets an answer or a close.
    let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", app.port);
    for _ in 0..200 {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("connects");
        let _open = next_packet(&mut socket).await;
        let packet = garbage(&mut seed);
        let _ = socket.send(Message::text(packet)).await;
        let _ = socket.close(None).await;
    }
    // Still serving, Socket.IO included.
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200);
    let open = handshake(&app, &browser.client).await;
    assert!(open["sid"].is_string());
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("ecommerce_ws_closed_total{reason=\"protocol_error\"}"),
        "bad packets are counted"
    );
}

#[actix_web::test]
async fn a_polling_client_that_goes_away_is_dropped_and_announced_as_left() {
    let app = TestApp::spawn_with(|settings| {
        settings.websocket.heartbeat_interval_ms = 300;
        settings.websocket.client_timeout_ms = 1300;
    })
    .await;
    let mut watcher = app.ws("/ws/chat").await;
    watcher
        .send_event("join", serde_json::json!({"user": "watcher@sio.test"}))
        .await;
    watcher.expect_event("history").await;
    watcher.expect_event("presence").await;

    // A polling client joins the chat, then its tab is closed: no more
    // polls, no pongs.
    let browser = Browser::new();
    let open = handshake(&app, &browser.client).await;
    let sid = open["sid"].as_str().expect("sid").to_owned();
    let url = app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let sent = browser
        .client
        .post(&url)
        .body("40/chat,\u{1e}42/chat,[\"join\",{\"user\":\"gone@sio.test\"}]")
        .send()
        .await
        .expect("post");
    assert_eq!(sent.status(), 200);
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("ecommerce_ws_sessions{endpoint=\"socketio\"} 1"),
        "{metrics}"
    );
    loop {
        let diff = watcher.expect_event("presence:diff").await;
        if diff["joined"].to_string().contains("gone@sio.test") {
            break;
        }
    }
    // Unanswered pings end the session within the ping timeout; the room
    // hears it left, the session is gone, and its id no longer works.
    loop {
        let diff = watcher.expect_event("presence:diff").await;
        if diff["left"].to_string().contains("gone@sio.test") {
            break;
        }
    }
    let (status, body) = json_of(browser.client.get(&url).send().await.expect("poll")).await;
    assert_eq!(status, 400, "{body}");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("ecommerce_ws_sessions{endpoint=\"socketio\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ecommerce_ws_closed_total{reason=\"timeout\"} 1"),
        "{metrics}"
    );
}

/// A session that began on a WebSocket is its socket's own actor; the
/// heartbeat and the session limits hold for it as for a polling one.
#[actix_web::test]
async fn a_websocket_client_that_stops_answering_pings_is_dropped_and_its_place_comes_back() {
    let app = TestApp::spawn_with(|settings| {
        settings.websocket.heartbeat_interval_ms = 300;
        settings.websocket.client_timeout_ms = 1300;
        settings.websocket.max_sessions = 1;
    })
    .await;
    let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", app.port);
    let (mut silent, _) = tokio_tungstenite::connect_async(&url).await.expect("connects");
    assert!(next_packet(&mut silent).await.starts_with("0{"));
    // The one place is taken.
    let refused = tokio_tungstenite::connect_async(&url).await;
    assert!(
        refused.is_err(),
        "a second session is refused while the first holds the place"
    );
    // It reads (so the pings arrive) but never answers them.
    let mut pings = 0;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = silent.next().await {
            match message {
                Ok(Message::Text(text)) if text == "2" => pings += 1,
                Ok(Message::Close(_)) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        true
    })
    .await
    .expect("closed within the ping timeout");
    assert!(closed && pings >= 1, "pings seen: {pings}");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("ecommerce_ws_closed_total{reason=\"timeout\"} 1"),
        "{metrics}"
    );
    // Its place is free again.
    let (mut next, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connects again");
    assert!(next_packet(&mut next).await.starts_with("0{"));
}

/// A WebSocket session that stops reading is closed (1008) once its
/// bounded queue is full, as a plain socket is.
#[actix_web::test]
async fn a_websocket_client_that_stops_reading_is_closed_not_buffered() {
    let app = TestApp::spawn_with(|settings| {
        settings.websocket.outbound_queue = 8;
        settings.websocket.close_timeout_ms = 60_000;
    })
    .await;
    let created = app.create_product(&crate::helpers::product("SIO-SLOW")).await;
    let path = format!("/api/products/{}", created["_id"].as_str().expect("id"));
    let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", app.port);
    let (mut slow, _) = tokio_tungstenite::connect_async(&url).await.expect("connects");
    assert!(next_packet(&mut slow).await.starts_with("0{"));
    slow.send(Message::text("40/products,")).await.expect("send");
    assert!(next_packet(&mut slow).await.starts_with("40/products,"));
    // ~9 KB per update, enough to fill the socket buffers, then the queue.
    let filler = "x".repeat(9_000);
    let updates = 1_500;
    for i in 0..updates {
        let (status, _) = app
            .put_json(
                &path,
                &serde_json::json!({ "description": format!("{i} {filler}") }),
            )
            .await;
        assert_eq!(status, 200);
    }
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => received += 1,
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame after {received} packets: {other:?}"),
        }
    };
    assert_eq!(
        close.map(|frame| u16::from(frame.code)),
        Some(1008),
        "closed for being too slow"
    );
    assert!(received < updates, "got {received} of {updates}: it was cut off");
}

#[actix_web::test]
async fn a_listed_site_may_long_poll_across_origins() {
    // A course page served by another dev server (e.g. Live Server).
    const SITE: &str = "http://localhost:5500";
    let app = TestApp::spawn_with(|settings| settings.server.allowed_origins = vec![SITE.to_owned()]).await;
    let browser = Browser::new();
    let handshake = browser
        .client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .header("origin", SITE)
        .send()
        .await
        .expect("handshake");
    assert_eq!(handshake.status(), 200);
    let headers = handshake.headers().clone();
    assert_eq!(headers["access-control-allow-origin"], SITE);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let open: Value = serde_json::from_str(&handshake.text().await.expect("body")[1..]).expect("open packet");
    let url = app.url(&format!(
        "/socket.io/?EIO=4&transport=polling&sid={}",
        open["sid"].as_str().unwrap()
    ));
    let preflight = browser
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", SITE)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], SITE);
    let post = browser
        .client
        .post(&url)
        .header("origin", SITE)
        .body("40/products,")
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 200);
    assert_eq!(post.headers()["access-control-allow-origin"], SITE);
    // The server's own pages need no CORS headers, and get none.
    let own = browser
        .client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .header("origin", app.address.as_str())
        .send()
        .await
        .expect("handshake");
    assert_eq!(own.status(), 200);
    assert!(own.headers().get("access-control-allow-origin").is_none());
}
