//! Cheap exhaustion, probed as an attacker would: abandoned Socket.IO
//! handshakes, many sessions from one address, and one person posting
//! through many sessions (on one instance, and across two over Redis).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{next_packet, RedisServer, TestApp, WsClient};

/// The proxy the tests stand behind: its X-Forwarded-For is believed.
const PROXY: &str = "127.0.0.1";

impl TestApp {
    /// A WebSocket as if from `client` behind the trusted proxy;
    /// `Err(status)` when the upgrade is refused.
    async fn ws_from(&self, path: &str, client: &str) -> Result<WsClient, u16> {
        let mut request = format!("ws://127.0.0.1:{}{path}", self.port)
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("x-forwarded-for", client.parse().expect("header"));
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient::from_stream(stream)),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("websocket to {path}: {other}"),
        }
    }

    /// A Socket.IO long-polling handshake as if from `client`: its status,
    /// and its sid when answered.
    async fn handshake_from(&self, http: &reqwest::Client, client: &str) -> (u16, Option<String>) {
        let response = http
            .get(self.url("/socket.io/?EIO=4&transport=polling"))
            .header("x-forwarded-for", client)
            .send()
            .await
            .expect("handshake");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        let sid = body
            .strip_prefix('0')
            .and_then(|open| serde_json::from_str::<Value>(open).ok())
            .and_then(|open| open["sid"].as_str().map(str::to_owned));
        (status, sid)
    }
}

#[actix_web::test]
async fn abandoned_handshakes_never_lock_real_users_out_and_expire() {
    let app = TestApp::spawn_with(|settings| {
        settings.server.trusted_proxies = vec![PROXY.parse().expect("ip")];
        // Few places for real sessions: handshakes must not take them.
        settings.websocket.max_sessions = 20;
        settings.websocket.handshake_grace_ms = 1500;
        settings.websocket.max_pending_handshakes_per_address = 10;
    })
    .await;
    let http = reqwest::Client::new();
    // 5,000 handshakes never followed by a poll, from 50 addresses.
    let flood = std::time::Instant::now();
    let attempts = futures_util::stream::iter(0..5000)
        .map(|i| {
            let (app, http) = (&app, &http);
            async move {
                app.handshake_from(http, &format!("203.0.113.{}", 1 + i % 50))
                    .await
                    .0
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<u16>>()
        .await;
    let answered = attempts.iter().filter(|status| **status == 200).count();
    let refused = attempts.iter().filter(|status| **status == 429).count();
    assert_eq!(answered + refused, 5000, "only 200 or 429: {attempts:?}");
    // 10 pending per address at a time, and again each time a grace ends.
    let graces = (flood.elapsed().as_secs_f64() / 1.5).ceil() as usize;
    assert!(
        (500..=500 * (graces + 1)).contains(&answered),
        "{answered} answered in {graces} graces"
    );
    assert!(app.metric("ecommerce_socketio_pending_handshakes ").await > 0);

    // Real users get in meanwhile: a plain chat session...
    let mut chat = app.ws("/ws/chat").await;
    chat.send_event("join", json!({"user": "real@user.test"})).await;
    chat.expect_event("history").await;
    // ...a Socket.IO client on a WebSocket...
    let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", app.port);
    let (mut direct, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("socket.io websocket");
    assert!(next_packet(&mut direct).await.starts_with("0{"));
    // ...and one on long-polling, from another address, that polls.
    let (status, sid) = app.handshake_from(&http, "198.51.100.7").await;
    assert_eq!(status, 200);
    let sid = sid.expect("sid");
    let session_url = app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let posted = http
        .post(&session_url)
        .header("x-forwarded-for", "198.51.100.7")
        .body("40/chat,")
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 200);
    let polled = http.get(&session_url).send().await.expect("poll");
    assert_eq!(polled.status(), 200);
    let body = polled.text().await.expect("body");
    assert!(body.starts_with("40/chat,{\"sid\""), "{body}");
    assert_eq!(
        app.metric("ecommerce_ws_sessions{endpoint=\"socketio\"} ").await,
        2,
        "the handshakes hold no session"
    );

    // Past the grace every abandoned handshake is forgotten, its place back.
    let (_, abandoned) = app.handshake_from(&http, "192.0.2.1").await;
    let abandoned = abandoned.expect("sid");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(app.metric("ecommerce_socketio_pending_handshakes ").await, 0);
    let late = http
        .get(app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={abandoned}")))
        .send()
        .await
        .expect("late poll");
    assert_eq!(late.status(), 400, "an expired handshake's sid is unknown");
    let (status, _) = app.handshake_from(&http, "203.0.113.1").await;
    assert_eq!(status, 200, "the address may handshake again");
}

#[actix_web::test]
async fn sessions_are_capped_per_address_by_default_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(|settings| {
        assert_eq!(settings.websocket.max_sessions_per_address, 100, "the default");
        settings.server.trusted_proxies = vec![PROXY.parse().expect("ip")];
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(
            app.ws_from("/ws/products", "203.0.113.9")
                .await
                .expect("within the cap"),
        );
    }
    assert_eq!(app.ws_from("/ws/chat", "203.0.113.9").await.err(), Some(429));
    // An IPv6 subscriber's /64 is one address.
    let mut v6 = Vec::new();
    for i in 0..100 {
        v6.push(
            app.ws_from("/ws/products", &format!("2001:db8:7:7::{i:x}"))
                .await
                .expect("within the cap"),
        );
    }
    assert_eq!(
        app.ws_from("/ws/chat", "2001:db8:7:7:ffff::1").await.err(),
        Some(429)
    );
    // Others are not held back by them.
    app.ws_from("/ws/chat", "203.0.113.10")
        .await
        .expect("another address");
    app.ws_from("/ws/chat", "2001:db8:7:8::1")
        .await
        .expect("another /64");
    // A place given back is free again.
    held.pop();
    let mut admitted = false;
    for _ in 0..50 {
        if app.ws_from("/ws/chat", "203.0.113.9").await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a closed session gives its place back");
}

/// Sends `count` messages `"{tag}-{n}"` on each session at once, then reads
/// until every one of them is accounted for: its own broadcast (a
/// `message` event: stored) or an `error` (refused). Returns (stored, refused, refusal texts).
async fn post_all(sessions: &mut [WsClient], tag: &str, count: usize) -> (usize, usize, Vec<String>) {
    for (s, session) in sessions.iter_mut().enumerate() {
        for n in 0..count {
            session
                .send_event("message", json!({"message": format!("{tag}{s}-{n}")}))
                .await;
        }
    }
    let (mut stored, mut refused, mut reasons) = (0, 0, Vec::new());
    for (s, session) in sessions.iter_mut().enumerate() {
        let own = format!("{tag}{s}-");
        let (mut mine, mut errors) = (0, 0);
        while mine + errors < count {
            let (event, data) = session.next_event().await;
            match event.as_str() {
                "message"
                    if data["message"]
                        .as_str()
                        .is_some_and(|text| text.starts_with(&own)) =>
                {
                    mine += 1
                }
                "error" => {
                    errors += 1;
                    reasons.push(data["error"].as_str().unwrap_or_default().to_owned());
                }
                _ => {}
            }
        }
        stored += mine;
        refused += errors;
    }
    (stored, refused, reasons)
}

async fn stored_with_prefix(app: &TestApp, prefix: &str) -> usize {
    let (_, page) = app.get_json("/api/messages?limit=100").await;
    page["payload"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["message"].as_str().is_some_and(|text| text.starts_with(prefix)))
        .count()
}

#[actix_web::test]
async fn one_person_with_many_sessions_posts_no_more_than_with_one() {
    let app = TestApp::spawn_with(|settings| {
        settings.websocket.rate_per_second = 1000.0;
        settings.websocket.rate_burst = 1000.0;
        settings.chat.messages_per_second_per_user = 2;
        settings.chat.message_burst_per_user = 5;
    })
    .await;
    let mut tabs = Vec::new();
    for _ in 0..5 {
        let mut tab = app.ws("/ws/chat").await;
        tab.send_event("join", json!({"user": "many@tabs.test"})).await;
        tab.expect_event("history").await;
        tabs.push(tab);
    }
    let started = std::time::Instant::now();
    let (stored, refused, reasons) = post_all(&mut tabs, "tab", 10).await;
    let allowed = 5 + (2.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    assert_eq!(stored + refused, 50, "every message is stored or refused");
    assert!(
        (5..=allowed).contains(&stored),
        "{stored} stored; one person may post 5 at once, then 2/s"
    );
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("too many messages as one person")),
        "{reasons:?}"
    );
    assert_eq!(
        stored_with_prefix(&app, "tab").await,
        stored,
        "refused ones were not stored"
    );

    // Socket.IO sessions count for the same person, and refusals come back
    // as the ack.
    let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", app.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("socket.io");
    next_packet(&mut socket).await;
    socket.send(Message::text("40/chat,")).await.expect("send");
    next_packet(&mut socket).await;
    socket
        .send(Message::text(r#"42/chat,1["join",{"user":"many@tabs.test"}]"#))
        .await
        .expect("send");
    while !next_packet(&mut socket).await.starts_with("43/chat,1") {}
    for id in 2..12 {
        let packet = format!(r#"42/chat,{id}["message",{{"message":"sio-{id}"}}]"#);
        socket.send(Message::text(packet)).await.expect("send");
    }
    let mut acks = Vec::new();
    while acks.len() < 10 {
        let packet = next_packet(&mut socket).await;
        if let Some(rest) = packet.strip_prefix("43/chat,") {
            let at = rest.find('[').expect("ack data");
            let data: Value = serde_json::from_str(&rest[at..]).expect("ack JSON");
            acks.push(data[0].clone());
        }
    }
    let refusals: Vec<&Value> = acks.iter().filter(|ack| ack["status"] == "error").collect();
    assert!(!refusals.is_empty(), "the budget was spent: {acks:?}");
    for refusal in &refusals {
        assert!(refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("too many messages")));
        assert!(refusal.get("field").is_some_and(Value::is_null), "{refusal}");
    }
    let accepted = acks.len() - refusals.len();
    assert_eq!(stored_with_prefix(&app, "sio-").await, accepted);
}

#[actix_web::test]
async fn people_behind_one_address_share_its_budget() {
    let app = TestApp::spawn_with(|settings| {
        settings.server.trusted_proxies = vec![PROXY.parse().expect("ip")];
        settings.websocket.rate_per_second = 1000.0;
        settings.websocket.rate_burst = 1000.0;
        settings.chat.messages_per_second_per_address = 1;
        settings.chat.message_burst_per_address = 4;
    })
    .await;
    let mut same_address = Vec::new();
    for i in 0..3 {
        let mut session = app.ws_from("/ws/chat", "203.0.113.77").await.expect("connects");
        session
            .send_event("join", json!({"user": format!("p{i}@nat.test")}))
            .await;
        session.expect_event("history").await;
        same_address.push(session);
    }
    let (stored, refused, reasons) = post_all(&mut same_address, "nat", 5).await;
    assert_eq!(stored + refused, 15);
    assert!((4..=6).contains(&stored), "{stored} stored from one address");
    assert!(
        reasons.iter().all(|r| r.contains("from your address")),
        "{reasons:?}"
    );
    // Another address is not held back.
    let mut elsewhere = vec![app.ws_from("/ws/chat", "198.51.100.2").await.expect("connects")];
    elsewhere[0]
        .send_event("join", json!({"user": "other@home.test"}))
        .await;
    elsewhere[0].expect_event("history").await;
    let (stored, refused, _) = post_all(&mut elsewhere, "home", 4).await;
    assert_eq!((stored, refused), (4, 0));
}

#[actix_web::test]
async fn the_limit_per_person_holds_across_instances_over_redis() {
    let Some(redis) = RedisServer::start("the_limit_per_person_holds_across_instances_over_redis").await
    else {
        return;
    };
    // 10 messages per 10-second window, cluster-wide.
    let apps = TestApp::spawn_cluster(2, &redis, |settings| {
        settings.websocket.rate_per_second = 1000.0;
        settings.websocket.rate_burst = 1000.0;
        settings.chat.messages_per_second_per_user = 1;
        settings.chat.message_burst_per_user = 10;
    })
    .await;
    let mut tabs = Vec::new();
    for i in 0..6 {
        let mut tab = apps[i % 2].ws("/ws/chat").await;
        tab.send_event("join", json!({"user": "roams@cluster.test"}))
            .await;
        tab.expect_event("history").await;
        tabs.push(tab);
    }
    // Start just after a window opens, so all the posts fall in one.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let into_window = Duration::from_millis((now.as_millis() % 10_000) as u64);
    if into_window > Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_secs(10) - into_window + Duration::from_millis(200)).await;
    }
    let (stored, refused, _) = post_all(&mut tabs, "roam", 8).await;
    assert_eq!(stored + refused, 48);
    // Each instance alone would have let 10 through (20 in all).
    assert_eq!(stored, 10, "the cluster's window allows 10");
    assert_eq!(stored_with_prefix(&apps[0], "roam").await, 10);
}
