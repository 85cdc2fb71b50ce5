//! What people see and operate: metrics after real traffic, the 404 page,
//! forgiving page paths, catching up on messages, and a graceful shutdown
//! that tells WebSocket clients to come back (1001).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{json_of, message_texts, product, Browser, ServerProcess, TestApp};

/// The value of the first metric line starting with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[actix_web::test]
async fn metrics_show_sessions_broadcasts_requests_and_closes() {
    let app = TestApp::spawn().await;
    let created = app.create_product(&product("MET-1")).await;
    let id = created["_id"].as_str().unwrap();
    assert_eq!(app.get_json(&format!("/api/products/{id}")).await.0, 200);
    assert_eq!(
        app.get_json("/api/products/65f0a0a0a0a0a0a0a0a0a0a0").await.0,
        404
    );

    let mut feed = app.ws("/ws/products").await;
    feed.expect_event("products").await;
    let mut chat = app.ws("/ws/chat").await;
    chat.send_event("join", json!({"user": "metrics@free.test"}))
        .await;
    chat.expect_event("history").await;
    chat.expect_event("presence").await;
    chat.send_event("message", json!({"message": "counted"})).await;
    loop {
        if chat.next_event().await.0 == "message" {
            break;
        }
    }
    app.put_json(&format!("/api/products/{id}"), &json!({"price": 3}))
        .await;
    feed.expect_event("product:updated").await;

    let text = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(&text, r#"ecommerce_ws_sessions{endpoint="chat"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, r#"ecommerce_ws_sessions{endpoint="products"}"#),
        Some(1.0)
    );
    assert!(
        metric(&text, r#"ecommerce_ws_frames_sent_total{endpoint="chat"}"#) >= Some(3.0),
        "{text}"
    );
    assert!(metric(&text, r#"ecommerce_ws_frames_sent_total{endpoint="products"}"#) >= Some(2.0));
    assert_eq!(
        metric(&text, r#"ecommerce_broadcasts_total{feed="chat"}"#),
        Some(1.0)
    );
    // The creation and the update, whoever was listening.
    assert_eq!(
        metric(&text, r#"ecommerce_broadcasts_total{feed="products"}"#),
        Some(2.0),
        "{text}"
    );
    // Routes are counted by pattern, never by raw path (ids would explode
    // the label set).
    let by_pattern =
        r#"ecommerce_http_requests_total{method="GET",route="/api/products/{pid}",status="200"}"#;
    assert_eq!(metric(&text, by_pattern), Some(1.0), "{text}");
    let not_found = r#"ecommerce_http_requests_total{method="GET",route="/api/products/{pid}",status="404"}"#;
    assert_eq!(metric(&text, not_found), Some(1.0));
    assert!(!text.contains(id), "no raw ids in labels");
    assert!(
        text.contains("ecommerce_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert_eq!(metric(&text, "ecommerce_store_errors_total"), Some(0.0));

    chat.send_raw(Message::Close(None)).await;
    let mut closed = None;
    for _ in 0..50 {
        let text = app.get("/metrics").await.text().await.unwrap();
        closed = metric(&text, r#"ecommerce_ws_closed_total{reason="client"}"#);
        if closed == Some(1.0) {
            assert_eq!(
                metric(&text, r#"ecommerce_ws_sessions{endpoint="chat"}"#),
                Some(0.0)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(closed, Some(1.0), "a client's close is counted: {text}");
}

#[actix_web::test]
async fn unknown_pages_get_the_404_page_and_the_api_json() {
    let app = TestApp::spawn().await;
    let response = app.get_with(&Browser::new().client, "/no/such/page").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"<nav class="nav">"#),
        "in the layout, with the nav: {html}"
    );
    assert!(html.contains("there is no page at /no/such/page"), "{html}");
    assert!(html.contains(r#"href="/""#), "a way back");
    let (status, body) = app.get_json("/api/no/such/thing").await;
    assert_eq!((status, &body["status"]), (404, &json!("error")), "{body}");
}

#[actix_web::test]
async fn old_spellings_and_trailing_slashes_reach_their_pages() {
    let app = TestApp::spawn().await;
    let visitor = Browser::new();
    for path in [
        "/realTimeProducts",
        "/realtimeproducts/",
        "/RealTimeProducts/",
        "/Chat",
        "/chat/",
        "/login/",
    ] {
        let response = app.get_with(&visitor.client, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.text().await.unwrap().contains("<h1>"),
            "{path} is a page"
        );
    }
    let (status, body) = app.get_json("/api/products/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    let created = app.create_product(&product("SLASH")).await;
    let id = created["_id"].as_str().unwrap();
    assert_eq!(app.get_json(&format!("/api/products/{id}/")).await.0, 200);
    assert_eq!(app.get("/assets/css/style.css/").await.status(), 200);
}

#[actix_web::test]
async fn pages_can_catch_up_on_public_and_own_direct_messages() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@shop.test").await;
    let bob = app.user_browser("bob@shop.test").await;
    let post = |client: &reqwest::Client, body: Value| {
        let request = client.post(app.url("/api/messages")).json(&body).send();
        async move { json_of(request.await.unwrap()).await.1["payload"].clone() }
    };
    let first = post(&ana.client, json!({"message": "one"})).await;
    post(&ana.client, json!({"message": "two"})).await;
    post(&ana.client, json!({"message": "for bob", "to": "bob@shop.test"})).await;
    post(&bob.client, json!({"message": "three"})).await;

    let (status, after) = app
        .get_json(&format!("/api/messages?after={}", first["_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    let texts = message_texts(&after["payload"]);
    assert_eq!(texts, ["two", "three"], "public only, oldest first");
    assert_eq!(app.get_json("/api/messages?after=x").await.0, 400);
    let both = format!(
        "/api/messages?after={0}&before={0}",
        first["_id"].as_str().unwrap()
    );
    assert_eq!(app.get_json(&both).await.0, 400);

    for (who, browser) in [("ana", &ana), ("bob", &bob)] {
        let (status, direct) = app.get_json_with(&browser.client, "/api/messages/direct").await;
        assert_eq!(status, 200);
        let texts = message_texts(&direct["payload"]);
        assert_eq!(texts, ["for bob"], "{who} sees the DM they sent or received");
    }
    let carol = app.user_browser("carol@shop.test").await;
    let (_, direct) = app.get_json_with(&carol.client, "/api/messages/direct").await;
    assert_eq!(direct["payload"], json!([]), "nobody else's");
    let visitor = Browser::new();
    let anonymous = app.get_with(&visitor.client, "/api/messages/direct").await;
    assert_eq!(anonymous.status(), 401);
}

#[actix_web::test]
async fn sigterm_closes_every_websocket_with_going_away_and_exits_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&temp.path().join("data"), &temp.path().join("uploads"), 0);
    let address = server.address.trim_start_matches("http://").to_owned();

    let mut sockets = Vec::new();
    for path in ["/ws/chat", "/ws/products"] {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}{path}"))
            .await
            .expect("connects");
        sockets.push(socket);
    }
    let exit = tokio::spawn(server.terminate());
    for mut socket in sockets {
        let code = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = socket.next().await {
                if let Ok(Message::Close(frame)) = message {
                    return frame.map(|frame| frame.code);
                }
            }
            None
        })
        .await
        .expect("closed within 5 s");
        assert_eq!(code, Some(CloseCode::Away), "1001: the pages reconnect");
    }
    let exit = exit.await.expect("the server exits after SIGTERM");
    assert!(exit.success(), "exit status {exit:?}");
}
