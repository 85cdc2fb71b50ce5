//! `/ws/chat` and `/api/messages`: join/leave presence (tabs, abrupt
//! disconnects, coalesced storms), ordered delivery, direct messages,
//! history, and every invalid case.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Browser, TestApp, WsClient};

/// Connects and joins as `user`; returns the client and its presence list
/// after consuming `history` and `presence`.
async fn join(app: &TestApp, user: &str) -> (WsClient, Value) {
    let mut client = app.ws("/ws/chat").await;
    client.send_event("join", json!({ "user": user })).await;
    let history = client.expect_event("history").await;
    let presence = client.expect_event("presence").await;
    assert!(history.is_array());
    (client, presence)
}

/// Joins and waits for the room to announce this join, so later notices
/// seen by this client are about others.
async fn join_settled(app: &TestApp, user: &str) -> WsClient {
    let (mut client, _) = join(app, user).await;
    let diff = client.expect_event("presence:diff").await;
    assert!(
        diff["joined"].as_array().unwrap().contains(&json!(user)),
        "{diff}"
    );
    client
}

fn users(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn joiners_get_history_presence_and_everyone_hears_of_them() {
    let app = TestApp::spawn().await;
    let (mut ana, presence) = join(&app, "Ana@Example.com").await;
    assert_eq!(
        presence,
        json!({"users": ["ana@example.com"], "online": 1}),
        "e-mails are lower-cased"
    );
    assert_eq!(
        ana.expect_event("presence:diff").await,
        json!({"joined": ["ana@example.com"], "left": [], "online": 1})
    );

    let (mut bob, presence) = join(&app, "bob@example.com").await;
    assert_eq!(presence["users"], json!(["ana@example.com", "bob@example.com"]));
    assert_eq!(presence["online"], 2);
    let diff = json!({"joined": ["bob@example.com"], "left": [], "online": 2});
    assert_eq!(ana.expect_event("presence:diff").await, diff);
    assert_eq!(bob.expect_event("presence:diff").await, diff);

    bob.send_event("leave", Value::Null).await;
    assert_eq!(
        ana.expect_event("presence:diff").await,
        json!({"joined": [], "left": ["bob@example.com"], "online": 1})
    );
    bob.expect_silence(Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn a_user_with_several_tabs_leaves_with_the_last_including_abrupt_ones() {
    let app = TestApp::spawn().await;
    let mut ana = join_settled(&app, "ana@example.com").await;
    let mut bob_tab1 = join_settled(&app, "bob@example.com").await;
    ana.expect_event("presence:diff").await;
    let (bob_tab2, presence) = join(&app, "bob@example.com").await;
    assert_eq!(presence["online"], 2, "a second tab is not a second user");
    ana.expect_silence(Duration::from_millis(400)).await;

    // One tab vanishes without a close frame: still online through the other.
    drop(bob_tab2);
    ana.expect_silence(Duration::from_millis(400)).await;
    bob_tab1.expect_silence(Duration::from_millis(10)).await;

    drop(bob_tab1);
    assert_eq!(
        ana.expect_event("presence:diff").await,
        json!({"joined": [], "left": ["bob@example.com"], "online": 1})
    );
}

#[actix_web::test]
async fn a_tab_that_stops_answering_pings_leaves() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.heartbeat_interval_ms = 100;
        s.websocket.client_timeout_ms = 300;
    })
    .await;
    let mut ana = join_settled(&app, "ana@example.com").await;
    let bob = join_settled(&app, "bob@example.com").await;
    assert_eq!(
        ana.expect_event("presence:diff").await["joined"],
        json!(["bob@example.com"])
    );
    // Bob's client keeps its TCP connection but stops reading (so stops
    // answering pings). Ana keeps reading, so she keeps answering.
    let diff = ana.expect_event("presence:diff").await;
    assert_eq!(
        diff,
        json!({"joined": [], "left": ["bob@example.com"], "online": 1})
    );
    drop(bob);
}

#[actix_web::test]
async fn a_storm_of_joins_arrives_as_a_few_coalesced_frames() {
    let app = TestApp::spawn_with(|s| s.chat.presence_window_ms = 1000).await;
    let mut observer = join_settled(&app, "observer@example.com").await;
    let mut clients = Vec::new();
    for _ in 0..30 {
        clients.push(app.ws("/ws/chat").await);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .send_event("join", json!({ "user": format!("user{i:02}@example.com") }))
            .await;
    }
    let expected: BTreeSet<String> = (0..30).map(|i| format!("user{i:02}@example.com")).collect();
    let mut seen = BTreeSet::new();
    let mut frames = 0;
    while seen != expected {
        let diff = observer.expect_event("presence:diff").await;
        frames += 1;
        seen.extend(users(&diff["joined"]));
        assert!(frames <= 3, "30 joins took {frames} frames so far: {seen:?}");
    }
    observer.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn messages_reach_everyone_in_order_and_history_keeps_them() {
    let app = TestApp::spawn_with(|s| s.websocket.rate_burst = 100.0).await;
    let mut ana = join_settled(&app, "ana@example.com").await;
    let mut bob = join_settled(&app, "bob@example.com").await;
    ana.expect_event("presence:diff").await;

    for i in 0..30 {
        ana.send_event("message", json!({"message": format!("message {i}"), "to": null}))
            .await;
    }
    for client in [&mut ana, &mut bob] {
        for i in 0..30 {
            let message = client.expect_event("message").await;
            assert_eq!(message["message"], format!("message {i}"));
            assert_eq!(message["user"], "ana@example.com");
            assert_eq!(message["to"], Value::Null);
            assert!(message["_id"].as_str().is_some() && message["createdAt"].as_str().is_some());
        }
    }

    // Reconnect: the history holds what was sent, oldest first.
    drop(bob);
    let mut bob = app.ws("/ws/chat").await;
    bob.send_event("join", json!({"user": "bob@example.com"})).await;
    let history = bob.expect_event("history").await;
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, (0..30).map(|i| format!("message {i}")).collect::<Vec<_>>());
    let (_, stored) = app.get_json("/api/messages?limit=100").await;
    assert_eq!(stored["payload"], history, "the REST history agrees");
}

/// The `message` events `client` receives within `wait`, as `(to, text)`.
async fn messages_within(client: &mut WsClient, wait: Duration) -> Vec<(Value, String)> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    // The outer deadline ends the wait; the inner one never fires first.
    while let Ok(Some(message)) =
        tokio::time::timeout_at(deadline, client.next_message(wait + Duration::from_secs(1))).await
    {
        let frame: Value = serde_json::from_str(message.to_text().expect("text")).expect("JSON");
        if frame["event"] == "message" {
            let text = frame["data"]["message"].as_str().expect("text").to_owned();
            received.push((frame["data"]["to"].clone(), text));
        }
    }
    received
}

#[actix_web::test]
async fn messages_posted_together_reach_everyone_once_in_one_order() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.rate_burst = 100.0;
        // Batches of what is stored within 50 ms, however small the room.
        s.chat.broadcast_window_ms = 50;
        s.chat.broadcast_window_from_sessions = 0;
    })
    .await;
    let names = ["s0", "s1", "s2", "s3"];
    let mut senders = Vec::new();
    for name in names {
        senders.push(join_settled(&app, &format!("{name}@example.com")).await);
    }
    let mut reader = join_settled(&app, "reader@example.com").await;
    // Every sender posts at once, without waiting for anything; direct
    // messages ride along with the public ones.
    for round in 0..10 {
        for (name, sender) in names.iter().zip(senders.iter_mut()) {
            sender
                .send_event("message", json!({ "message": format!("{name}-{round}") }))
                .await;
        }
        senders[1]
            .send_event(
                "message",
                json!({ "message": format!("dm-{round}"), "to": "s0@example.com" }),
            )
            .await;
    }
    let wait = Duration::from_secs(3);
    let at_reader = messages_within(&mut reader, wait).await;
    let public: Vec<String> = at_reader.iter().map(|(_, text)| text.clone()).collect();
    crate::helpers::assert_each_once_in_order(&public, 40, &names, 10);
    assert!(
        at_reader.iter().all(|(to, _)| to.is_null()),
        "no direct message: {at_reader:?}"
    );
    // The parties of the direct messages get everything, in the same order.
    for index in [0, 1] {
        let received = messages_within(&mut senders[index], wait).await;
        let order: Vec<String> = received
            .iter()
            .filter(|(to, _)| to.is_null())
            .map(|(_, text)| text.clone())
            .collect();
        assert_eq!(order, public, "one order for everyone");
        let direct: Vec<String> = received
            .iter()
            .filter(|(to, _)| !to.is_null())
            .map(|(_, text)| text.clone())
            .collect();
        assert_eq!(direct, (0..10).map(|n| format!("dm-{n}")).collect::<Vec<_>>());
    }
    // The history keeps that order.
    let (_, stored) = app.get_json("/api/messages?limit=100").await;
    let history: Vec<String> = stored["payload"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| message["message"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(history, public);
}

#[actix_web::test]
async fn history_after_reconnect_is_the_last_messages_oldest_first() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.rate_burst = 100.0;
        s.chat.history_size = 5;
    })
    .await;
    let mut ana = join_settled(&app, "ana@example.com").await;
    for i in 0..8 {
        ana.send_event("message", json!({"message": format!("m{i}")}))
            .await;
        ana.expect_event("message").await;
    }
    drop(ana);
    let mut again = app.ws("/ws/chat").await;
    again.send_event("join", json!({"user": "ana@example.com"})).await;
    let history = again.expect_event("history").await;
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m3", "m4", "m5", "m6", "m7"]);
}

#[actix_web::test]
async fn direct_messages_reach_only_sender_and_recipient() {
    let app = TestApp::spawn().await;
    let mut ana = join_settled(&app, "ana@example.com").await;
    let mut bob = join_settled(&app, "bob@example.com").await;
    let mut eve = join_settled(&app, "eve@example.com").await;
    ana.expect_event("presence:diff").await;
    ana.expect_event("presence:diff").await;
    bob.expect_event("presence:diff").await;

    ana.send_event(
        "message",
        json!({"message": "just for you", "to": "Bob@example.com"}),
    )
    .await;
    let at_ana = ana.expect_event("message").await;
    let at_bob = bob.expect_event("message").await;
    assert_eq!(at_ana, at_bob);
    assert_eq!(at_bob["to"], "bob@example.com");
    eve.expect_silence(Duration::from_millis(300)).await;

    // Direct messages are stored but not in anyone's public history.
    let (_, stored) = app.get_json("/api/messages").await;
    assert_eq!(stored["payload"], json!([]));
}

#[actix_web::test]
async fn invalid_chat_input_gets_errors_and_nothing_is_stored_or_broadcast() {
    let app = TestApp::spawn_with(|s| s.chat.max_message_chars = 20).await;
    let mut watcher = join_settled(&app, "watcher@example.com").await;
    let mut client = app.ws("/ws/chat").await;

    let before_join = [
        (
            json!({"event": "message", "data": {"message": "hi"}}).to_string(),
            None,
        ),
        (json!({"event": "leave"}).to_string(), None),
        (
            json!({"event": "join", "data": {"user": "not-an-email"}}).to_string(),
            Some("user"),
        ),
        (
            json!({"event": "join", "data": {"user": 42}}).to_string(),
            Some("user"),
        ),
        (json!({"event": "join"}).to_string(), Some("user")),
        ("{broken".to_owned(), None),
        (json!({"event": "shout", "data": {}}).to_string(), None),
    ];
    for (frame, field) in before_join {
        client.send_text(&frame).await;
        let error = client.expect_event("error").await;
        assert!(!error["error"].as_str().unwrap().is_empty(), "{frame}");
        match field {
            Some(field) => assert_eq!(error["field"], field, "{frame}: {error}"),
            // One shape for every refusal: `field` is there, null.
            None => assert!(error.get("field").is_some_and(Value::is_null), "{frame}: {error}"),
        }
    }

    client
        .send_event("join", json!({"user": "mallory@example.com"}))
        .await;
    client.expect_event("history").await;
    client.expect_event("presence").await;
    let joined = watcher.expect_event("presence:diff").await;
    assert_eq!(joined["joined"], json!(["mallory@example.com"]));
    client.expect_event("presence:diff").await;

    let after_join = [
        (json!({"event": "message", "data": {"message": "   "}}), "message"),
        (
            json!({"event": "message", "data": {"message": "x".repeat(21)}}),
            "message",
        ),
        (json!({"event": "message", "data": {"message": 7}}), "message"),
        (
            json!({"event": "message", "data": {"message": "hi", "to": "nobody"}}),
            "to",
        ),
    ];
    for (frame, field) in after_join {
        client.send_text(&frame.to_string()).await;
        let error = client.expect_event("error").await;
        assert_eq!(error["field"], field, "{frame}: {error}");
    }
    client
        .send_event("join", json!({"user": "other@example.com"}))
        .await;
    assert!(client.expect_event("error").await["error"]
        .as_str()
        .unwrap()
        .contains("already joined"));

    watcher.expect_silence(Duration::from_millis(300)).await;
    let (_, stored) = app.get_json("/api/messages").await;
    assert_eq!(stored["payload"], json!([]), "nothing invalid was stored");

    // Still open and working.
    client.send_event("message", json!({"message": "fine"})).await;
    assert_eq!(watcher.expect_event("message").await["message"], "fine");
}

#[actix_web::test]
async fn flooding_gets_an_error_and_the_excess_is_not_stored() {
    let app = TestApp::spawn_with(|s| {
        s.websocket.rate_per_second = 1.0;
        s.websocket.rate_burst = 3.0;
    })
    .await;
    let (mut client, _) = join(&app, "flood@example.com").await; // the join used one token
    for i in 0..10 {
        client
            .send_event("message", json!({"message": format!("spam {i}")}))
            .await;
    }
    let mut delivered = 0;
    let mut errors = 0;
    while delivered + errors < 3 {
        let (event, data) = client.next_event().await;
        match event.as_str() {
            "message" => delivered += 1,
            "error" => {
                assert!(data["error"].as_str().unwrap().contains("rate limit"));
                errors += 1;
            }
            _ => {}
        }
    }
    assert_eq!((delivered, errors), (2, 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, stored) = app.get_json("/api/messages").await;
    assert_eq!(stored["payload"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn the_messages_api_posts_like_the_socket_and_pages_history() {
    let app = TestApp::spawn().await;
    let mut ana = join_settled(&app, "ana@example.com").await;
    // A visitor, not logged in, names the e-mail it posts as.
    let visitor = Browser::new();

    let (status, body) = app
        .post_json_with(
            &visitor.client,
            "/api/messages",
            &json!({"user": "Postman@Example.com", "message": "from REST"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["payload"]["user"], "postman@example.com");
    assert_eq!(
        ana.expect_event("message").await,
        body["payload"],
        "broadcast like a socket message"
    );

    for (bad, field) in [
        (json!({"message": "no user"}), "user"),
        (json!({"user": "bad", "message": "x"}), "user"),
        (json!({"user": "a@b.co", "message": ""}), "message"),
        (json!({"user": "a@b.co", "message": "x", "to": "nope"}), "to"),
    ] {
        let (status, response) = app.post_json_with(&visitor.client, "/api/messages", &bad).await;
        assert_eq!(status, 400, "{bad}: {response}");
        assert_eq!(response["details"]["field"], field);
    }
    ana.expect_silence(Duration::from_millis(200)).await;

    for i in 0..4 {
        app.post_json_with(
            &visitor.client,
            "/api/messages",
            &json!({"user": "a@b.co", "message": format!("p{i}")}),
        )
        .await;
    }
    let (_, page) = app.get_json("/api/messages?limit=2").await;
    let texts = |page: &Value| {
        page["payload"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&page), ["p2", "p3"]);
    let oldest = page["payload"][0]["_id"].as_str().unwrap();
    let (_, older) = app
        .get_json(&format!("/api/messages?limit=2&before={oldest}"))
        .await;
    assert_eq!(texts(&older), ["p0", "p1"]);
    assert_eq!(app.get_json("/api/messages?before=xyz").await.0, 400);
    assert_eq!(app.get_json("/api/messages?limit=0").await.0, 400);
}

/// With the store down the room keeps moving: joins are answered at once
/// (history unavailable, presence as usual), presence flows, and a message
/// that cannot be stored is refused promptly and broadcast to nobody.
#[actix_web::test]
async fn the_chat_keeps_moving_while_the_store_is_down() {
    let app = TestApp::spawn_with(|s| {
        s.store.mongodb_uri = "mongodb://127.0.0.1:1/?directConnection=true".to_owned();
        // Each store call fails after 1 s: joins queued behind one another
        // would take 6 s; the room answers them all within one failure.
        s.store.mongodb_timeout_ms = 1000;
    })
    .await;
    // Six at once: none waits for another's history load.
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut client = app.ws("/ws/chat").await;
        client
            .send_event("join", json!({ "user": format!("outage{i}@example.com") }))
            .await;
        clients.push(client);
    }
    let started = std::time::Instant::now();
    for client in &mut clients {
        let unavailable = client.expect_event("error").await;
        assert!(
            unavailable["error"]
                .as_str()
                .unwrap()
                .contains("history is unavailable"),
            "{unavailable}"
        );
        client.expect_event("presence").await;
    }
    let joined = started.elapsed();
    assert!(joined < Duration::from_millis(2500), "six joins took {joined:?}");
    let mut watcher = clients.remove(0);
    let mut sender = clients.remove(0);
    // Presence still flows.
    loop {
        let diff = watcher.expect_event("presence:diff").await;
        if diff["online"] == 6 {
            break;
        }
    }
    sender.send_event("message", json!({"message": "lost?"})).await;
    let error = loop {
        let (event, data) = sender.next_event().await;
        if event == "error" {
            break data;
        }
    };
    assert!(error["error"].as_str().unwrap().contains("not sent"), "{error}");
    assert!(
        !error["error"].as_str().unwrap().contains("127.0.0.1"),
        "no driver detail: {error}"
    );
    while let Ok((event, data)) = tokio::time::timeout(Duration::from_millis(300), watcher.next_event()).await
    {
        assert_eq!(event, "presence:diff", "nothing else: {data}");
    }
}
