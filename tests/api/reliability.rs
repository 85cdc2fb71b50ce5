//! Hostile or unlucky clients: oversized frames and bodies, connections
//! that never read or never close, floods of registrations, a store that
//! goes away. Each bound holds without the server's memory or file
//! descriptors growing.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

// Timing bounds here are the behaviour under test (a connection must be
// gone), with margins far above the measured figures, not benchmarks.

use crate::helpers::{ServerProcess, TestApp};

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A masked client frame header announcing `length` bytes of text.
fn text_frame_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // mask
    header
}

#[actix_web::test]
async fn a_frame_announcing_more_than_the_limit_is_refused_before_it_is_buffered() {
    let temp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&temp.path().join("data"), &temp.path().join("uploads"), 0);
    let address = server.address.trim_start_matches("http://").to_owned();
    let before = rss_kib(server.child.id());

    let mut clients = Vec::new();
    for _ in 0..3 {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws/chat"))
            .await
            .unwrap();
        clients.push(socket);
    }
    let chunk = vec![b'x'; 1 << 20];
    for socket in &mut clients {
        let MaybeTlsStream::Plain(tcp) = socket.get_mut() else {
            panic!("plain TCP")
        };
        tcp.write_all(&text_frame_header(256 << 20)).await.unwrap();
        // Keep sending payload; the server must not keep it.
        for _ in 0..24 {
            if tcp.write_all(&chunk).await.is_err() {
                break;
            }
        }
    }
    let peak = rss_kib(server.child.id());
    for socket in &mut clients {
        let code = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Close(frame)) => return frame.map(|frame| frame.code),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .unwrap_or(None);
        assert!(
            matches!(code, Some(CloseCode::Size) | None),
            "closed as too big (1009), or reset: {code:?}"
        );
    }
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "RSS grew {grown} KiB for 3 oversized frames (72 MiB sent)"
    );
}

#[actix_web::test]
async fn a_close_handshake_ends_the_connection_at_once() {
    let app = TestApp::spawn().await;
    let url = format!("ws://127.0.0.1:{}/ws/products", app.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(
        matches!(socket.next().await, Some(Ok(Message::Text(_)))),
        "the snapshot: the session is up"
    );
    let started = Instant::now();
    socket.send(Message::Close(None)).await.unwrap();
    let mut replied = false;
    // The client, as RFC 6455 asks, waits for the server to close TCP.
    while let Some(message) = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("ends")
    {
        match message {
            Ok(Message::Close(_)) => replied = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let MaybeTlsStream::Plain(tcp) = socket.get_mut() else {
        panic!("plain TCP")
    };
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buffer)).await;
    let took = started.elapsed();
    assert!(replied, "the server answered the close");
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server closed TCP: {read:?}"
    );
    assert!(
        took < Duration::from_millis(100),
        "the handshake took {took:?} to end the connection"
    );
}

/// The server process's open sockets (its connections and listener).
fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("proc fd")
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

async fn wait_for_sockets(pid: u32, wanted: usize, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if socket_count(pid) == wanted {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[actix_web::test]
async fn a_client_that_never_reads_is_dropped_within_the_bound() {
    let temp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &temp.path().join("data"),
        &temp.path().join("uploads"),
        0,
        &[
            ("APP__WEBSOCKET__CLOSE_TIMEOUT_MS", "1000"),
            ("APP__WEBSOCKET__OUTBOUND_QUEUE", "32"),
        ],
    );
    let pid = server.child.id();
    // Completes the handshake, then never reads again.
    let (stuck, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/products",
        server.address.trim_start_matches("http://")
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let with_client = socket_count(pid);

    // Product changes fan out to it until its socket and queue are full.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let description = "d".repeat(9_000);
    for i in 0..800 {
        let body = serde_json::json!({"title": "t", "description": description, "code": format!("STALL-{i}"),
            "price": 1, "stock": 1, "category": "c"});
        let response = client
            .post(format!("{}/api/products", server.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let flood_done = Instant::now();
    let gone = wait_for_sockets(pid, with_client - 1, Duration::from_secs(10)).await;
    assert!(
        gone.is_some(),
        "the non-reading client's connection is still open {:?} after the flood",
        flood_done.elapsed()
    );
    drop(stuck);
}

#[actix_web::test]
async fn a_burst_of_registrations_stays_within_bounded_memory() {
    let temp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &temp.path().join("data"),
        &temp.path().join("uploads"),
        0,
        &[("APP__USERS__REGISTRATIONS_PER_ADDRESS", "1000")],
    );
    let pid = server.child.id();
    let before = rss_kib(pid);
    let client = reqwest::Client::new();
    let registrations = (0..60).map(|i| {
        let body = serde_json::json!({"first_name": "A", "last_name": "B", "email": format!("burst{i}@shop.test"),
            "age": 30, "password": "a-long-password"});
        client.post(format!("{}/api/users", server.address)).json(&body).send()
    });
    let all = futures_util::future::join_all(registrations);
    tokio::pin!(all);
    let mut peak = before;
    let responses = loop {
        tokio::select! {
            responses = &mut all => break responses,
            _ = tokio::time::sleep(Duration::from_millis(20)) => peak = peak.max(rss_kib(pid)),
        }
    };
    let statuses: Vec<u16> = responses
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    // One argon2 hash takes ~19 MiB; one runs per core.
    let (grown_peak, kept) = (peak.saturating_sub(before), after.saturating_sub(before));
    assert!(
        grown_peak < 120 * 1024,
        "60 registrations took RSS up {grown_peak} KiB"
    );
    assert!(kept < 40 * 1024, "{kept} KiB kept after the burst");
}

#[actix_web::test]
async fn registrations_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    let visitor = crate::helpers::Browser::new();
    let mut statuses = Vec::new();
    for i in 0..11 {
        let body = serde_json::json!({"first_name": "A", "last_name": "B", "email": format!("r{i}@shop.test"),
            "age": 30, "password": "a-long-password"});
        statuses.push(app.post_json_with(&visitor.client, "/api/users", &body).await.0);
    }
    assert_eq!(&statuses[..10], [201; 10]);
    assert_eq!(statuses[10], 429, "the 11th in a minute");
}

#[actix_web::test]
async fn loose_input_is_refused() {
    let app = TestApp::spawn().await;
    for thumbnail in [
        "/\\evil.example/x.png",
        "http://",
        "//evil.example/x.png",
        "https:///x.png",
    ] {
        let mut body = crate::helpers::product("LOOSE");
        body["thumbnails"] = serde_json::json!([thumbnail]);
        let (status, response) = app.post_json("/api/products", &body).await;
        assert_eq!(status, 400, "{thumbnail}: {response}");
        assert_eq!(response["details"]["field"], "thumbnails");
    }
    let product = app.create_product(&crate::helpers::product("TYPED")).await;
    let (_, cart) = app.post_json("/api/carts", &serde_json::json!({})).await;
    let line = format!(
        "/api/carts/{}/product/{}",
        cart["payload"]["_id"].as_str().unwrap(),
        product["_id"].as_str().unwrap()
    );
    // The classic cross-site form trick: JSON sent as text/plain.
    let sneaky = app
        .client
        .post(app.url(&line))
        .header("content-type", "text/plain")
        .body(r#"{"quantity": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sneaky.status(), 415);
    let (status, cart) = app
        .get_json(&format!(
            "/api/carts/{}",
            cart["payload"]["_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (status, cart["payload"]["products"].clone()),
        (200, serde_json::json!([])),
        "nothing added"
    );
    for (path, method) in [
        ("/api/products", "POST"),
        ("/api/messages", "POST"),
        ("/api/sessions/login", "POST"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{method} {path}");
    }
}

#[actix_web::test]
async fn session_limits_refuse_upgrades_with_their_status() {
    let app = TestApp::spawn_with(|settings| settings.websocket.max_sessions = 3).await;
    let mut open = Vec::new();
    for path in ["/ws/chat", "/ws/products", "/ws/chat"] {
        open.push(app.try_ws(path, None, None).await.expect("within the limit"));
    }
    assert_eq!(
        app.try_ws("/ws/products", None, None).await.err(),
        Some(503),
        "over max_sessions"
    );
    drop(open.pop());
    let mut admitted = false;
    for _ in 0..50 {
        if let Ok(client) = app.try_ws("/ws/products", None, None).await {
            open.push(client);
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a closed session gives its place back");

    let app = TestApp::spawn_with(|settings| {
        settings.websocket.max_sessions_per_address = 2;
        settings.websocket.limit_loopback = true;
    })
    .await;
    let _first = app.try_ws("/ws/chat", None, None).await.expect("1st");
    let _second = app.try_ws("/ws/products", None, None).await.expect("2nd");
    assert_eq!(
        app.try_ws("/ws/chat", None, None).await.err(),
        Some(429),
        "over max_sessions_per_address"
    );
}

#[actix_web::test]
async fn a_body_that_never_finishes_is_cut_off() {
    let app = TestApp::spawn_with(|settings| {
        settings.server.body_timeout_ms = 500;
        settings.websocket.close_timeout_ms = 500;
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let started = Instant::now();
    tcp.write_all(
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mes",
    )
    .await
    .unwrap();
    // ...and nothing more. The server answers 408 and closes.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    assert!(read.is_ok(), "the connection is still open after {took:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
}

#[actix_web::test]
async fn a_body_announcing_more_than_its_limit_is_refused_before_it_is_read() {
    let app = TestApp::spawn().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    tcp.write_all(
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 268435456\r\n\r\n",
    )
    .await
    .unwrap();
    // Not one byte of the 256 MiB is sent: the answer comes from the header.
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer)).await;
    let n = read.expect("answered without the body").unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}
