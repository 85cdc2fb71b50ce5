//! Several instances, one world: instances on one real `redis-server` (and
//! one store) share chat messages, presence, product events, logins and
//! login limits, survive one of them dying, and ride out a Redis restart.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    assert_each_once_in_order, product, Browser, RedisServer, ServerProcess, TestApp, WsClient,
    CLUSTER_SESSION_KEY, EVENT_TIMEOUT,
};

/// Joins the chat as `user`; returns the socket and the `presence` it got.
async fn join(app_address: &str, user: &str) -> (WsClient, Value) {
    let mut chat = WsClient::connect(app_address, "/ws/chat", None).await;
    chat.send_event("join", json!({ "user": user })).await;
    chat.expect_event("history").await;
    let presence = chat.expect_event("presence").await;
    (chat, presence)
}

/// Joins as `user` on the instance at `app_address` once its `presence`
/// lists every one of `expected` (presence travels between instances in
/// about one presence window; this retries for up to 5 s).
async fn join_when_listed(app_address: &str, user: &str, expected: &[&str]) -> (WsClient, Value) {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let (mut chat, presence) = join(app_address, user).await;
        let users = presence["users"].as_array().cloned().unwrap_or_default();
        if expected.iter().all(|name| users.contains(&json!(name))) {
            return (chat, presence);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a joiner on {app_address} never listed {expected:?}: {presence}"
        );
        chat.send_event("leave", json!(null)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads `presence:diff` frames until one names `user` under `key`
/// ("joined" or "left"), within `wait`.
async fn wait_for_presence(chat: &mut WsClient, key: &str, user: &str, wait: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = chat
            .next_message(left)
            .await
            .unwrap_or_else(|| panic!("no presence:diff with {user} {key} within {wait:?}"));
        let frame: Value = serde_json::from_str(message.to_text().expect("text frame")).expect("JSON frame");
        if frame["event"] == "presence:diff"
            && frame["data"][key]
                .as_array()
                .is_some_and(|users| users.iter().any(|u| u == user))
        {
            return frame["data"].clone();
        }
    }
}

/// Every frame `chat` receives within `wait`.
async fn frames_within(chat: &mut WsClient, wait: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut frames = Vec::new();
    // The outer deadline ends the wait; the inner one never fires first.
    while let Ok(message) =
        tokio::time::timeout_at(deadline, chat.next_message(wait + Duration::from_secs(5))).await
    {
        let message = message.expect("the socket stays open");
        frames.push(serde_json::from_str(message.to_text().expect("text frame")).expect("JSON frame"));
    }
    frames
}

/// The `message` texts `chat` receives until it has `count` of them.
async fn collect_messages(chat: &mut WsClient, count: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < count {
        let (event, data) = chat.next_event().await;
        if event == "message" {
            texts.push(data["message"].as_str().expect("text").to_owned());
        }
    }
    texts
}

#[actix_web::test]
async fn presence_spans_instances_and_a_joiner_sees_everyone() {
    let Some(redis) = RedisServer::start("presence_spans_instances").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(3, &redis, |_| {}).await;
    let (mut ana, _) = join(&apps[0].address, "ana@cluster.test").await;
    let (_bob, bob_presence) =
        join_when_listed(&apps[1].address, "bob@cluster.test", &["ana@cluster.test"]).await;
    assert_eq!(bob_presence["online"], 2, "{bob_presence}");
    let diff = wait_for_presence(&mut ana, "joined", "bob@cluster.test", EVENT_TIMEOUT).await;
    assert_eq!(diff["online"], 2, "{diff}");
    let (_cy, cy_presence) = join_when_listed(
        &apps[2].address,
        "cy@cluster.test",
        &["ana@cluster.test", "bob@cluster.test"],
    )
    .await;
    assert_eq!(cy_presence["online"], 3, "{cy_presence}");

    // The same user on two instances is one user; it leaves with its last tab.
    let (mut ana_again, _) = join(&apps[2].address, "ana@cluster.test").await;
    let (_dee, check) = join_when_listed(
        &apps[1].address,
        "dee@cluster.test",
        &["ana@cluster.test", "bob@cluster.test", "cy@cluster.test"],
    )
    .await;
    assert_eq!(check["online"], 4, "ana counted once: {check}");
    ana.send_event("leave", json!(null)).await;
    drop(ana);
    let (mut watcher, _) = join(&apps[1].address, "eve@cluster.test").await;
    for frame in frames_within(&mut watcher, Duration::from_millis(800)).await {
        assert!(
            !frame["data"]["left"].to_string().contains("ana@cluster.test"),
            "ana is still online on C: {frame}"
        );
    }
    ana_again.send_event("leave", json!(null)).await;
    wait_for_presence(&mut watcher, "left", "ana@cluster.test", EVENT_TIMEOUT).await;
}

#[actix_web::test]
async fn messages_from_every_instance_arrive_complete_and_in_one_order() {
    let Some(redis) = RedisServer::start("messages_in_one_order").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |settings| {
        settings.websocket.rate_per_second = 1000.0;
        settings.websocket.rate_burst = 1000.0;
    })
    .await;
    let (mut on_a, _) = join(&apps[0].address, "ana@order.test").await;
    let (mut on_b, _) = join(&apps[1].address, "bob@order.test").await;
    let (mut reader_a, _) = join(&apps[0].address, "cy@order.test").await;
    let (mut reader_b, _) = join(&apps[1].address, "dee@order.test").await;
    const EACH: usize = 40;
    for i in 0..EACH {
        on_a.send_event("message", json!({ "message": format!("a{i}") }))
            .await;
        on_b.send_event("message", json!({ "message": format!("b{i}") }))
            .await;
    }
    let seen_on_a = collect_messages(&mut reader_a, 2 * EACH).await;
    let seen_on_b = collect_messages(&mut reader_b, 2 * EACH).await;
    assert_eq!(seen_on_a, seen_on_b, "both instances deliver one order");
    for sender in ["a", "b"] {
        let own: Vec<&String> = seen_on_a.iter().filter(|text| text.starts_with(sender)).collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{sender}{i}")).collect();
        assert_eq!(
            own,
            expected.iter().collect::<Vec<_>>(),
            "each sender's messages complete, in order"
        );
    }
    // The history a joiner gets on either instance is that order too.
    let mut late = WsClient::connect(&apps[1].address, "/ws/chat", None).await;
    late.send_event("join", json!({ "user": "late@order.test" }))
        .await;
    let history = late.expect_event("history").await;
    let texts: Vec<String> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(texts, seen_on_a[seen_on_a.len() - texts.len()..].to_vec());
}

#[actix_web::test]
async fn a_product_written_on_one_instance_reaches_the_others() {
    let Some(redis) = RedisServer::start("product_write_reaches_others").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |_| {}).await;
    // B's listing is read (and cached) before the write.
    assert_eq!(apps[1].product_count().await, 0);
    let mut feed_b = apps[1].ws("/ws/products").await;
    feed_b.expect_event("products").await;
    let created = apps[0].create_product(&product("CLUSTER-1")).await;
    let event = feed_b.expect_event("product:created").await;
    assert_eq!(event["_id"], created["_id"]);
    assert_eq!(apps[1].product_count().await, 1, "B's listing cache was cleared");
    let (status, _) = apps[0]
        .put_json(
            &format!("/api/products/{}", created["_id"].as_str().unwrap()),
            &json!({"price": 99}),
        )
        .await;
    assert_eq!(status, 200);
    let updated = feed_b.expect_event("product:updated").await;
    assert_eq!(updated["price"].as_f64(), Some(99.0));
    let (_, listing) = apps[1].get_json("/api/products").await;
    assert_eq!(listing["payload"][0]["price"].as_f64(), Some(99.0), "{listing}");
}

#[actix_web::test]
async fn a_login_on_one_instance_is_valid_on_the_others_and_limits_are_shared() {
    let Some(redis) = RedisServer::start("login_valid_everywhere").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |settings| {
        settings.users.login_attempts_per_email = 4;
        settings.users.login_attempts_per_address = 100;
    })
    .await;
    let user = apps[0].user_browser("shopper@cluster.test").await;
    let (status, current) = apps[1].get_json_with(&user.client, "/api/sessions/current").await;
    assert_eq!(status, 200, "{current}");
    assert_eq!(current["payload"]["email"], "shopper@cluster.test");
    // Logging out on B ends the session on A too.
    let (status, _) = apps[1]
        .post_json_with(&user.client, "/api/sessions/logout", &json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = apps[0].get_json_with(&user.client, "/api/sessions/current").await;
    assert_eq!(status, 401);

    // Wrong passwords spread over both instances share one budget of 4
    // (the login above took one).
    let intruder = Browser::new();
    let mut statuses = Vec::new();
    for attempt in 0..6 {
        let app = &apps[attempt % 2];
        let (status, _) = app
            .post_json_with(
                &intruder.client,
                "/api/sessions/login",
                &json!({"email": "shopper@cluster.test", "password": "wrong"}),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429, 429],
        "counted across instances"
    );
}

#[actix_web::test]
async fn when_an_instance_dies_the_others_announce_its_users_left() {
    let Some(redis) = RedisServer::start("instance_dies").await else {
        return;
    };
    let ttl = 3;
    let apps = TestApp::spawn_cluster(1, &redis, |settings| {
        settings.redis.presence_ttl_s = ttl;
        // The binary below runs on the embedded store; so does this one.
        settings.store.mongodb_uri = String::new();
    })
    .await;
    let temp = tempfile::tempdir().expect("temp dir");
    let ttl_text = ttl.to_string();
    let redis_url = redis.url();
    let doomed = ServerProcess::start_with(
        &temp.path().join("data"),
        &temp.path().join("uploads"),
        0,
        &[
            ("REDIS_URL", &redis_url),
            ("APP__REDIS__PRESENCE_TTL_S", &ttl_text),
            ("SESSION_KEY", CLUSTER_SESSION_KEY),
        ],
    );
    let (mut watcher, _) = join(&apps[0].address, "watcher@dies.test").await;
    // Joins on the doomed instance are seen here.
    let (_victim, _) = join_when_listed(&doomed.address, "victim@dies.test", &["watcher@dies.test"]).await;
    wait_for_presence(&mut watcher, "joined", "victim@dies.test", EVENT_TIMEOUT).await;
    // kill -9: no leave, no close frame, nothing said.
    let mut doomed = doomed;
    doomed.child.kill().expect("kill -9");
    let killed_at = std::time::Instant::now();
    let diff = wait_for_presence(
        &mut watcher,
        "left",
        "victim@dies.test",
        Duration::from_secs(ttl + 6),
    )
    .await;
    assert_eq!(diff["online"], 1, "{diff}");
    eprintln!(
        "left announced {:?} after kill -9 (expiry {ttl} s)",
        killed_at.elapsed()
    );
}

#[actix_web::test]
async fn instances_serve_alone_while_redis_is_down_then_rejoin() {
    let Some(mut redis) = RedisServer::start("redis_down_and_back").await else {
        return;
    };
    // Own events wait for Redis this long before they are delivered here
    // anyway (default 5 s: a blip changes nothing for anyone).
    let apps = TestApp::spawn_cluster(2, &redis, |settings| {
        settings.redis.local_delivery_after_ms = 1000
    })
    .await;
    let (mut ana, _) = join(&apps[0].address, "ana@outage.test").await;
    let (mut bob, _) = join(&apps[1].address, "bob@outage.test").await;
    wait_for_presence(&mut ana, "joined", "bob@outage.test", EVENT_TIMEOUT).await;

    let metrics = apps[0].get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("ecommerce_redis_connected 1"), "{metrics}");
    redis.stop();
    apps[0].wait_for_redis("unreachable").await;
    let (status, health) = apps[0].get_json("/health").await;
    assert_eq!(status, 200, "the instance still serves: {health}");
    let metrics = apps[0].get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("ecommerce_redis_connected 0"), "{metrics}");

    // Local service goes on: a message and a product change on A reach A's
    // own sessions, and are stored.
    let (mut cy, _) = join(&apps[0].address, "cy@outage.test").await;
    ana.send_event("message", json!({ "message": "during the outage" }))
        .await;
    assert_eq!(collect_messages(&mut cy, 1).await, ["during the outage"]);
    let mut feed_a = apps[0].ws("/ws/products").await;
    feed_a.expect_event("products").await;
    apps[0].create_product(&product("OUTAGE-1")).await;
    feed_a.expect_event("product:created").await;
    let (_, stored) = apps[1].get_json("/api/messages?limit=5").await;
    assert!(
        stored["payload"].to_string().contains("during the outage"),
        "acknowledged means stored: {stored}"
    );

    redis.restart().await;
    for app in &apps {
        app.wait_for_redis("connected").await;
    }
    // Cross-instance delivery resumes, both ways.
    bob.send_event("message", json!({ "message": "after the outage" }))
        .await;
    let seen = collect_messages(&mut cy, 1).await;
    assert_eq!(seen, ["after the outage"]);
    let mut feed_b = apps[1].ws("/ws/products").await;
    let snapshot = feed_b.expect_event("products").await;
    assert_eq!(
        snapshot.as_array().map(Vec::len),
        Some(1),
        "B's snapshot has A's outage write"
    );
    apps[0].create_product(&product("AFTER-1")).await;
    feed_b.expect_event("product:created").await;
    // Presence is whole again: a joiner on B sees A's users.
    join_when_listed(
        &apps[1].address,
        "dee@outage.test",
        &[
            "ana@outage.test",
            "bob@outage.test",
            "cy@outage.test",
            "dee@outage.test",
        ],
    )
    .await;
}

#[actix_web::test]
async fn the_first_account_registered_on_one_instance_closes_product_writes_on_all() {
    let Some(redis) = RedisServer::start("first_account_closes_writes").await else {
        return;
    };
    // A fresh install: no admin configured, so writes are open until
    // someone registers.
    let apps = TestApp::spawn_cluster(2, &redis, |settings| settings.users.admin_email = String::new()).await;
    let visitor = Browser::new();
    let (status, _) = apps[1]
        .post_json_with(&visitor.client, "/api/products", &product("OPEN-1"))
        .await;
    assert_eq!(status, 201, "open before any account exists");
    apps[0].user_browser("first@accounts.test").await;
    // B hears of it within moments (an event through Redis).
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    for attempt in 0.. {
        let (status, body) = apps[1]
            .post_json_with(
                &visitor.client,
                "/api/products",
                &product(&format!("OPEN-2-{attempt}")),
            )
            .await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 201, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never learnt that accounts exist"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn socket_io_sessions_take_part_in_the_cluster() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Some(redis) = RedisServer::start("socket_io_in_the_cluster").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |_| {}).await;
    // A Socket.IO client (its WebSocket transport) on A...
    let url = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        apps[0].port
    );
    let (mut socketio, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
    socketio.send(Message::text("40/chat,")).await.expect("send");
    socketio
        .send(Message::text(r#"42/chat,["join",{"user":"sio@cluster.test"}]"#))
        .await
        .expect("send");
    // ...and a plain WebSocket client on B see each other and talk.
    let (mut plain, _) =
        join_when_listed(&apps[1].address, "plain@cluster.test", &["sio@cluster.test"]).await;
    plain
        .send_event("message", json!({ "message": "from a plain socket on B" }))
        .await;
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let frame = tokio::time::timeout_at(deadline, socketio.next())
            .await
            .expect("the message reaches the Socket.IO client on A")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            if text.starts_with(r#"42/chat,["message","#) {
                assert!(text.contains("from a plain socket on B"), "{text}");
                break;
            }
        }
    }
}

/// Joins `user` on the instance at `address`, resuming from `since`, and
/// returns the replayed message texts (up to `recovered`) with the client.
async fn resume(address: &str, user: &str, since: &str) -> (WsClient, Vec<String>, Value) {
    let mut client = WsClient::connect(address, "/ws/chat", None).await;
    client
        .send_event("join", json!({ "user": user, "since": since }))
        .await;
    let mut texts = Vec::new();
    loop {
        let frame = client.next_frame().await;
        match frame["event"].as_str() {
            Some("message") => texts.push(frame["data"]["message"].as_str().unwrap().to_owned()),
            Some("recovered") => return (client, texts, frame["data"].clone()),
            _ => {}
        }
    }
}

/// The offset of the next message `client` receives (its text too).
async fn next_message_offset(client: &mut WsClient) -> (String, String) {
    loop {
        let frame = client.next_frame().await;
        if frame["event"] == "message" {
            return (
                frame["data"]["message"].as_str().unwrap().to_owned(),
                frame["offset"].as_str().expect("offset").to_owned(),
            );
        }
    }
}

#[actix_web::test]
async fn a_client_resumes_on_another_instance_from_its_offset() {
    let Some(redis) = RedisServer::start("resume_elsewhere").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &redis, |_| {}).await;
    let (mut ana, _) = join(&apps[0].address, "ana@elsewhere.test").await;
    let (mut bob, _) = join(&apps[1].address, "bob@elsewhere.test").await;
    bob.send_event("message", json!({ "message": "seen" })).await;
    let (text, since) = next_message_offset(&mut ana).await;
    assert_eq!(text, "seen");
    // Bob saw the same message with the same offset.
    assert_eq!(
        next_message_offset(&mut bob).await.1,
        since,
        "one offset on every instance"
    );
    drop(ana);
    for n in 0..5 {
        bob.send_event("message", json!({ "message": format!("missed-{n}") }))
            .await;
        next_message_offset(&mut bob).await;
    }
    // Ana comes back on the other instance.
    let (mut ana, replayed, recovered) = resume(&apps[1].address, "ana@elsewhere.test", &since).await;
    assert_eq!(
        replayed,
        (0..5).map(|n| format!("missed-{n}")).collect::<Vec<_>>()
    );
    assert_eq!(recovered["recovered"], true, "{recovered}");
    bob.send_event("message", json!({ "message": "live" })).await;
    assert_eq!(collect_messages(&mut ana, 1).await, ["live"]);
}

#[actix_web::test]
async fn every_session_gets_every_event_in_one_order_through_redis_pauses_and_killed_links() {
    let Some(redis) = RedisServer::start("redis_pauses").await else {
        return;
    };
    // Own events wait for Redis longer than the pause: nothing is
    // delivered out of the cluster's one order.
    let apps = TestApp::spawn_cluster(2, &redis, |settings| {
        settings.redis.local_delivery_after_ms = 20_000
    })
    .await;
    let mut listeners = Vec::new();
    for (index, app) in apps.iter().enumerate() {
        for n in 0..2 {
            listeners.push(
                join(&app.address, &format!("listener{n}@instance{index}.test"))
                    .await
                    .0,
            );
        }
    }
    let (mut sender_a, _) = join(&apps[0].address, "sender@a.test").await;
    let (mut sender_b, _) = join(&apps[1].address, "sender@b.test").await;
    const PER_PHASE: usize = 10;
    let mut sent = 0;
    let mut send_phase = |phase: &'static str| {
        let first = sent;
        sent += PER_PHASE;
        (phase, first)
    };
    async fn send(sender: &mut WsClient, who: &str, phase: &str, first: usize) {
        for n in first..first + PER_PHASE {
            sender
                .send_event("message", json!({ "message": format!("{who}-{phase}-{n}") }))
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (phase, first) = send_phase("calm");
    send(&mut sender_a, "a", phase, first).await;
    send(&mut sender_b, "b", phase, first).await;
    // Paused while both instances take writes.
    redis.pause();
    let (phase, first) = send_phase("paused");
    send(&mut sender_a, "a", phase, first).await;
    send(&mut sender_b, "b", phase, first).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.resume();
    let (phase, first) = send_phase("resumed");
    send(&mut sender_a, "a", phase, first).await;
    // Every link dropped at once.
    let killed = redis.kill_clients().await;
    assert!(
        killed >= 4,
        "the instances' readers and writers were connected ({killed})"
    );
    send(&mut sender_b, "b", phase, first).await;
    let (phase, first) = send_phase("after-kill");
    send(&mut sender_a, "a", phase, first).await;
    send(&mut sender_b, "b", phase, first).await;

    let expected = 2 * sent;
    let mut orders = Vec::new();
    for listener in listeners.iter_mut().chain([&mut sender_a, &mut sender_b]) {
        let mut texts = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while texts.len() < expected && tokio::time::Instant::now() < deadline {
            for frame in frames_within(listener, Duration::from_millis(500)).await {
                if frame["event"] == "message" {
                    texts.push(frame["data"]["message"].as_str().unwrap().to_owned());
                }
            }
        }
        // Counted: every one, once, each sender's in the order sent.
        assert_each_once_in_order(&texts, expected, &["a", "b"], sent);
        orders.push(texts);
    }
    assert!(
        orders.windows(2).all(|pair| pair[0] == pair[1]),
        "one order everywhere"
    );
    let (_, stored) = apps[0].get_json("/api/messages?limit=100").await;
    assert_eq!(
        stored["payload"].as_array().map(Vec::len),
        Some(expected),
        "every message stored once"
    );
}

#[actix_web::test]
async fn a_client_of_a_killed_instance_resumes_on_another_and_misses_nothing() {
    let Some(redis) = RedisServer::start("resume_after_kill").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(1, &redis, |settings| settings.store.mongodb_uri = String::new()).await;
    let temp = tempfile::tempdir().expect("temp dir");
    let redis_url = redis.url();
    let doomed = ServerProcess::start_with(
        &temp.path().join("data"),
        &temp.path().join("uploads"),
        0,
        &[("REDIS_URL", &redis_url), ("SESSION_KEY", CLUSTER_SESSION_KEY)],
    );
    let (mut sender, _) = join(&apps[0].address, "sender@killed.test").await;
    let (mut victim, _) = join(&doomed.address, "victim@killed.test").await;
    sender.send_event("message", json!({ "message": "before" })).await;
    let (text, since) = next_message_offset(&mut victim).await;
    assert_eq!(text, "before");
    let mut doomed = doomed;
    doomed.child.kill().expect("kill -9");
    for n in 0..5 {
        sender
            .send_event("message", json!({ "message": format!("while-down-{n}") }))
            .await;
    }
    // The page reconnects (to a live instance) with its offset.
    let (mut victim, replayed, recovered) = resume(&apps[0].address, "victim@killed.test", &since).await;
    let mut seen = replayed;
    if recovered["recovered"] == true && seen.len() < 5 {
        // Some were still on their way when it rejoined: they come live.
        seen.extend(collect_messages(&mut victim, 5 - seen.len()).await);
    }
    assert_eq!(recovered["recovered"], true, "{recovered}");
    assert_eq!(
        seen,
        (0..5).map(|n| format!("while-down-{n}")).collect::<Vec<_>>()
    );
    let later = frames_within(&mut victim, Duration::from_millis(300)).await;
    assert!(
        later.iter().all(|frame| frame["event"] != "message"),
        "no duplicate: {later:?}"
    );
}
