//! `/ws/products`: snapshot, broadcasts of changes from REST and from the
//! socket itself, and every kind of bad frame.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{product, TestApp};

#[actix_web::test]
async fn a_new_session_gets_a_snapshot_of_the_newest_products() {
    let app = TestApp::spawn().await;
    let first = app.create_product(&product("S1")).await;
    let second = app.create_product(&product("S2")).await;
    let mut client = app.ws("/ws/products").await;
    let snapshot = client.expect_event("products").await;
    assert_eq!(snapshot, json!([second, first]), "newest first");
}

#[actix_web::test]
async fn rest_changes_reach_every_connected_client() {
    let app = TestApp::spawn().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = app.ws("/ws/products").await;
        assert_eq!(client.expect_event("products").await, json!([]));
        clients.push(client);
    }

    let created = app.create_product(&product("B1")).await;
    for client in &mut clients {
        assert_eq!(client.expect_event("product:created").await, created);
    }

    let id = created["_id"].as_str().unwrap();
    let (status, body) = app
        .put_json(&format!("/api/products/{id}"), &json!({"stock": 1}))
        .await;
    assert_eq!(status, 200);
    for client in &mut clients {
        assert_eq!(client.expect_event("product:updated").await, body["payload"]);
    }

    let (status, _) = app.delete(&format!("/api/products/{id}")).await;
    assert_eq!(status, 200);
    for client in &mut clients {
        assert_eq!(client.expect_event("product:deleted").await, json!({"_id": id}));
    }
}

#[actix_web::test]
async fn a_product_created_over_the_socket_is_stored_and_broadcast() {
    let app = TestApp::spawn().await;
    let mut author = app.ws_as_admin("/ws/products").await;
    let mut watcher = app.ws("/ws/products").await;
    author.expect_event("products").await;
    watcher.expect_event("products").await;

    author.send_event("product:create", product("WS1")).await;
    let created = author.expect_event("product:created").await;
    assert_eq!(watcher.expect_event("product:created").await, created);
    assert_eq!(created["code"], "WS1");

    let (_, list) = app.get_json("/api/products").await;
    assert_eq!(list["payload"], json!([created]), "the REST list shows it");

    author
        .send_event("product:delete", json!({"_id": created["_id"]}))
        .await;
    let deleted = json!({"_id": created["_id"]});
    assert_eq!(author.expect_event("product:deleted").await, deleted);
    assert_eq!(watcher.expect_event("product:deleted").await, deleted);
    assert_eq!(app.product_count().await, 0);
}

#[actix_web::test]
async fn bad_frames_get_an_error_event_and_change_nothing() {
    let app = TestApp::spawn().await;
    let existing = app.create_product(&product("EXIST")).await;
    let mut client = app.ws_as_admin("/ws/products").await;
    let mut watcher = app.ws("/ws/products").await;
    client.expect_event("products").await;
    watcher.expect_event("products").await;

    let mut invalid_price = product("NEW");
    invalid_price["price"] = json!(-1);
    let cases = [
        ("not json".to_owned(), None),
        (r#"{"data": {}}"#.to_owned(), None),
        (r#"{"event": "product:launch", "data": {}}"#.to_owned(), None),
        (
            json!({"event": "product:create", "data": invalid_price}).to_string(),
            Some("price"),
        ),
        (
            json!({"event": "product:create", "data": "x"}).to_string(),
            Some("body"),
        ),
        (
            json!({"event": "product:create", "data": product("EXIST")}).to_string(),
            None,
        ),
        (
            json!({"event": "product:delete", "data": {"_id": "nothex"}}).to_string(),
            Some("_id"),
        ),
        (
            json!({"event": "product:delete", "data": {}}).to_string(),
            Some("_id"),
        ),
        (
            json!({"event": "product:delete", "data": {"_id": "65f0a0a0a0a0a0a0a0a0a0a0"}}).to_string(),
            None,
        ),
    ];
    for (frame, field) in cases {
        client.send_text(&frame).await;
        let error = client.expect_event("error").await;
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{frame}: {error}"
        );
        match field {
            Some(field) => assert_eq!(error["field"], field, "{frame}: {error}"),
            None => assert!(
                error.get("field").is_some_and(serde_json::Value::is_null),
                "{frame}: {error}"
            ),
        }
    }
    client.send_raw(Message::binary(vec![1, 2, 3])).await;
    client.expect_event("error").await;

    // The session is still open and works; nothing was stored or broadcast.
    watcher.expect_silence(Duration::from_millis(300)).await;
    let (_, list) = app.get_json("/api/products").await;
    assert_eq!(list["payload"], json!([existing]));
    client.send_event("product:create", product("OK")).await;
    assert_eq!(client.expect_event("product:created").await["code"], "OK");
}

#[actix_web::test]
async fn oversized_frames_get_an_error_and_a_close() {
    let app = TestApp::spawn_with(|s| s.websocket.max_frame_bytes = 1024).await;
    let mut client = app.ws("/ws/products").await;
    client.expect_event("products").await;
    client.send_text(&"x".repeat(4096)).await;
    client.expect_event("error").await;
    match client.next_message(Duration::from_secs(5)).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(app.product_count().await, 0);
}

#[actix_web::test]
async fn flooding_clients_are_told_and_throttled() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.rate_per_second = 1.0;
        s.websocket.rate_burst = 5.0;
    })
    .await;
    let mut client = app.ws_as_admin("/ws/products").await;
    client.expect_event("products").await;
    for i in 0..20 {
        client
            .send_event("product:create", product(&format!("F{i}")))
            .await;
    }
    let mut created = 0;
    let mut rate_errors = 0;
    for _ in 0..6 {
        let (event, data) = client.next_event().await;
        match event.as_str() {
            "product:created" => created += 1,
            "error" => {
                assert!(data["error"].as_str().unwrap().contains("rate limit"), "{data}");
                rate_errors += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (created, rate_errors),
        (5, 1),
        "the burst passes, one warning for the rest"
    );
    client.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(app.product_count().await, 5);
}

#[actix_web::test]
async fn silent_clients_are_dropped_after_the_heartbeat_timeout() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.heartbeat_interval_ms = 100;
        s.websocket.client_timeout_ms = 300;
    })
    .await;
    let mut client = app.ws("/ws/products").await;
    client.expect_event("products").await;
    // Reading answers pings automatically, so a client that stops reading
    // is one that stops answering.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut closed = false;
    for _ in 0..20 {
        match client.next_message(Duration::from_secs(2)).await {
            None | Some(Message::Close(_)) => {
                closed = true;
                break;
            }
            Some(_) => continue,
        }
    }
    assert!(closed, "the server closed the silent session");
}

/// A client that stops reading is closed (1008) once its bounded queue is
/// full, instead of the server buffering frames for it without end.
#[actix_web::test]
async fn a_client_that_stops_reading_is_closed_not_buffered() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.outbound_queue = 8;
        // Long enough that the socket is not dropped for stalling first
        // (that bound has its own test in reliability.rs).
        s.websocket.close_timeout_ms = 60_000;
    })
    .await;
    let created = app.create_product(&product("SLOW")).await;
    let path = format!("/api/products/{}", created["_id"].as_str().unwrap());
    let mut slow = app.ws("/ws/products").await;
    // ~9 KB per update: enough updates to fill the socket buffers between
    // server and client, then the session's queue.
    let filler = "x".repeat(9_000);
    let updates = 1_500;
    for i in 0..updates {
        let (status, _) = app
            .put_json(&path, &json!({ "description": format!("{i} {filler}") }))
            .await;
        assert_eq!(status, 200);
    }
    let mut received = 0;
    let close = loop {
        match slow.next_message(Duration::from_secs(10)).await {
            Some(Message::Text(_)) => received += 1,
            Some(Message::Close(frame)) => break frame,
            Some(_) => {}
            None => panic!("the connection ended without a close frame after {received} frames"),
        }
    };
    assert_eq!(
        close.map(|frame| frame.code),
        Some(CloseCode::Policy),
        "closed for being too slow"
    );
    assert!(
        received < updates,
        "the slow client got {received} of {updates} updates: it was cut off"
    );
}
