//! Delivery guarantees on one instance: a connection's events are handled
//! in order (`join` and `message` sent together both succeed), and a
//! client that reconnects with the offset of the last event it saw gets
//! exactly the events it missed (in order, once, only those it may see),
//! then `recovered`, then live ones; offsets that cannot be resumed from
//! get `recovered: false` and the snapshot. Counted, not sampled.

use serde_json::{json, Value};

use crate::helpers::{TestApp, WsClient};

fn texts(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|frame| frame["event"] == "message")
        .map(|frame| frame["data"]["message"].as_str().expect("text").to_owned())
        .collect()
}

/// Joins as `user` and returns the client with the offset of its history.
async fn join(app: &TestApp, user: &str) -> (WsClient, String) {
    let mut client = app.ws("/ws/chat").await;
    client.send_event("join", json!({ "user": user })).await;
    let history = client.expect_frame("history").await;
    client.expect_event("presence").await;
    let offset = history["offset"]
        .as_str()
        .expect("history has an offset")
        .to_owned();
    (client, offset)
}

/// Joins again as `user` from `since`; returns the client and the frames
/// up to (and with) `recovered`.
async fn rejoin(app: &TestApp, user: &str, since: &str) -> (WsClient, Vec<Value>) {
    let mut client = app.ws("/ws/chat").await;
    client
        .send_event("join", json!({ "user": user, "since": since }))
        .await;
    let replay = client.frames_until("recovered").await;
    (client, replay)
}

/// Sends `count` messages from `sender` and waits until `sender` saw them
/// all come back; returns their frames.
async fn send_messages(sender: &mut WsClient, prefix: &str, count: usize) -> Vec<Value> {
    for n in 0..count {
        sender
            .send_event("message", json!({ "message": format!("{prefix}-{n}") }))
            .await;
    }
    let mut seen = Vec::new();
    while seen.len() < count {
        let frame = sender.next_frame().await;
        // Only these: an echo of an earlier message may still be on its way.
        let ours = frame["data"]["message"]
            .as_str()
            .is_some_and(|text| text.starts_with(&format!("{prefix}-")));
        if frame["event"] == "message" && ours {
            seen.push(frame);
        }
    }
    seen
}

#[actix_web::test]
async fn join_and_message_sent_together_both_succeed() {
    let app = TestApp::spawn().await;
    for user in ["visitor@pipelined.test", "second@pipelined.test"] {
        let mut client = app.ws("/ws/chat").await;
        // A visitor's join waits for the store (is the e-mail an account's?):
        // the message right behind it must wait its turn, not be refused.
        client.send_event("join", json!({ "user": user })).await;
        client
            .send_event("message", json!({ "message": format!("hello from {user}") }))
            .await;
        let frames = client.frames_until("message").await;
        let events: Vec<&str> = frames.iter().filter_map(|f| f["event"].as_str()).collect();
        assert!(!events.contains(&"error"), "nothing refused: {frames:?}");
        assert_eq!(texts(&frames), [format!("hello from {user}")]);
    }
    let (_, stored) = app.get_json("/api/messages").await;
    assert_eq!(stored["payload"].as_array().map(Vec::len), Some(2), "{stored}");
}

#[actix_web::test]
async fn a_chat_client_resumes_from_its_offset_and_misses_nothing() {
    let app = TestApp::spawn().await;
    let (mut ana, _) = join(&app, "ana@resume.test").await;
    let (mut bob, _) = join(&app, "bob@resume.test").await;
    let before = send_messages(&mut bob, "before", 3).await;
    // Ana saw the first of them, then her connection dropped.
    let seen = loop {
        let frame = ana.next_frame().await;
        if frame["event"] == "message" {
            break frame;
        }
    };
    assert_eq!(seen["offset"], before[0]["offset"], "one offset everywhere");
    let since = seen["offset"].as_str().expect("offset").to_owned();
    drop(ana);
    let missed = send_messages(&mut bob, "missed", 5).await;

    // Back, with the offset on the URL: the 2 + 5 she missed, in order,
    // once, then `recovered`, then presence; no history.
    let mut ana = app.ws(&format!("/ws/chat?since={since}")).await;
    ana.send_event("join", json!({ "user": "ana@resume.test" })).await;
    let replay = ana.frames_until("recovered").await;
    let expected: Vec<String> = before[1..]
        .iter()
        .chain(&missed)
        .map(|frame| frame["data"]["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts(&replay), expected);
    let offsets: Vec<&Value> = replay
        .iter()
        .filter(|f| f["event"] == "message")
        .map(|f| &f["offset"])
        .collect();
    let sent: Vec<&Value> = before[1..].iter().chain(&missed).map(|f| &f["offset"]).collect();
    assert_eq!(offsets, sent, "the same offsets as live");
    let recovered = &replay.last().unwrap()["data"];
    assert_eq!(recovered["recovered"], true, "{recovered}");
    assert_eq!(recovered["count"], 7);
    assert_eq!(recovered["stream"], "chat");
    ana.expect_event("presence").await;

    // Then live, with no gap and no duplicate.
    bob.send_event("message", json!({ "message": "live" })).await;
    let live = ana.frames_until("message").await;
    assert_eq!(texts(&live), ["live"]);

    // The same through the join's data.
    let last = live.last().unwrap()["offset"].as_str().unwrap().to_owned();
    drop(ana);
    send_messages(&mut bob, "again", 2).await;
    let (_, replay) = rejoin(&app, "ana@resume.test", &last).await;
    assert_eq!(texts(&replay), ["again-0", "again-1"]);
}

#[actix_web::test]
async fn a_replay_never_shows_a_direct_message_to_anyone_else() {
    let app = TestApp::spawn().await;
    let (mut ana, start) = join(&app, "ana@private.test").await;
    let (mut bob, _) = join(&app, "bob@private.test").await;
    let (cy, _) = join(&app, "cy@private.test").await;
    drop(cy);
    ana.send_event(
        "message",
        json!({ "message": "for bob only", "to": "bob@private.test" }),
    )
    .await;
    ana.send_event("message", json!({ "message": "for everyone" }))
        .await;
    bob.frames_until("message").await;
    bob.frames_until("message").await;

    let (_, replay) = rejoin(&app, "cy@private.test", &start).await;
    assert_eq!(texts(&replay), ["for everyone"], "{replay:?}");
    assert_eq!(replay.last().unwrap()["data"]["count"], 1);

    drop(bob);
    let (_, replay) = rejoin(&app, "bob@private.test", &start).await;
    assert_eq!(texts(&replay), ["for bob only", "for everyone"]);
}

#[actix_web::test]
async fn offsets_that_cannot_be_resumed_get_recovered_false_and_the_history() {
    let app = TestApp::spawn_with(|settings| settings.delivery.retain = 3).await;
    let (mut ana, start) = join(&app, "ana@offsets.test").await;
    let mut feed = app.ws("/ws/products").await;
    let products_offset = feed.expect_frame("products").await["offset"]
        .as_str()
        .expect("the snapshot has an offset")
        .to_owned();
    let sent = send_messages(&mut ana, "m", 5).await;
    let last = sent.last().unwrap()["offset"].as_str().unwrap().to_owned();
    // From the future: the last offset with a higher sequence number.
    let (epoch, seq) = last.rsplit_once('-').expect("an offset");
    let future = format!("{epoch}-{}", seq.parse::<u64>().unwrap() + 100);
    let cases = [
        (start.as_str(), "older than kept (only 3 are)"),
        ("garbage", "garbage"),
        ("", "empty"),
        (future.as_str(), "from the future"),
        (products_offset.as_str(), "another stream's"),
        ("L00000000-1", "another epoch's"),
        ("1733300000000-0", "a Redis id on a server without Redis"),
    ];
    for (since, what) in cases {
        let mut client = app.ws("/ws/chat").await;
        client
            .send_event("join", json!({ "user": "bob@offsets.test", "since": since }))
            .await;
        let recovered = client.expect_event("recovered").await;
        assert_eq!(recovered["recovered"], false, "{what}: {recovered}");
        assert!(recovered["reason"].is_string(), "{what}: {recovered}");
        let history = client.expect_event("history").await;
        assert_eq!(
            history.as_array().map(Vec::len),
            Some(5),
            "{what}: the history instead"
        );
        client.expect_event("presence").await;
    }
    let huge = "9".repeat(20_000);
    let mut client = app.ws(&format!("/ws/chat?since={huge}")).await;
    client
        .send_event("join", json!({ "user": "cy@offsets.test" }))
        .await;
    assert_eq!(client.expect_event("recovered").await["recovered"], false);
    // Not a string: a clear error, and the session stays usable.
    let mut client = app.ws("/ws/chat").await;
    client
        .send_event("join", json!({ "user": "dee@offsets.test", "since": 12 }))
        .await;
    let error = client.expect_event("error").await;
    assert_eq!(error["field"], "since", "{error}");
    client
        .send_event("join", json!({ "user": "dee@offsets.test" }))
        .await;
    client.expect_event("history").await;

    // The newest offset resumes with nothing to replay.
    let mut client = app.ws("/ws/chat").await;
    client
        .send_event("join", json!({ "user": "eve@offsets.test", "since": last }))
        .await;
    let recovered = client.expect_event("recovered").await;
    assert_eq!(
        (recovered["recovered"].clone(), recovered["count"].clone()),
        (json!(true), json!(0))
    );
}

#[actix_web::test]
async fn the_product_feed_resumes_from_its_offset_instead_of_a_snapshot() {
    let app = TestApp::spawn().await;
    let mut feed = app.ws("/ws/products").await;
    let snapshot = feed.expect_frame("products").await;
    let since = snapshot["offset"].as_str().expect("offset").to_owned();
    drop(feed);
    let mut created = Vec::new();
    for n in 0..3 {
        created.push(
            app.create_product(&crate::helpers::product(&format!("RESUME-{n}")))
                .await,
        );
    }
    let mut feed = app.ws(&format!("/ws/products?since={since}")).await;
    let replay = feed.frames_until("recovered").await;
    let codes: Vec<&str> = replay
        .iter()
        .filter(|f| f["event"] == "product:created")
        .map(|f| f["data"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["RESUME-0", "RESUME-1", "RESUME-2"], "{replay:?}");
    assert!(replay.iter().all(|f| f["event"] != "products"), "no snapshot");
    assert_eq!(replay.last().unwrap()["data"]["count"], 3);
    app.create_product(&crate::helpers::product("LIVE-1")).await;
    let live = feed.expect_event("product:created").await;
    assert_eq!(live["code"], "LIVE-1");

    // A garbage offset: recovered false, then the snapshot.
    let mut feed = app.ws("/ws/products?since=nonsense").await;
    assert_eq!(feed.expect_event("recovered").await["recovered"], false);
    let snapshot = feed.expect_event("products").await;
    assert_eq!(snapshot.as_array().map(Vec::len), Some(4));
}

#[actix_web::test]
async fn a_watched_cart_resumes_from_its_offset() {
    let app = TestApp::spawn().await;
    let product = app.create_product(&crate::helpers::product("CART-R")).await;
    let pid = product["_id"].as_str().unwrap().to_owned();
    let (_, cart) = app.post_json("/api/carts", &json!({})).await;
    let cid = cart["payload"]["_id"].as_str().unwrap().to_owned();
    let mut page = app.ws_as_admin("/ws/products").await;
    page.expect_event("products").await;
    page.send_event("cart:watch", json!({ "_id": cid })).await;
    // The watch is in place once a change shows.
    let mut first = None;
    for _ in 0..50 {
        app.post_json(&format!("/api/carts/{cid}/product/{pid}"), &json!({}))
            .await;
        let frame = page.next_frame().await;
        if frame["event"] == "cart:updated" {
            first = Some(frame);
            break;
        }
    }
    let first = first.expect("cart:updated");
    let since = first["offset"].as_str().expect("offset").to_owned();
    drop(page);
    app.post_json(
        &format!("/api/carts/{cid}/product/{pid}"),
        &json!({ "quantity": 1 }),
    )
    .await;
    let mut page = app.ws_as_admin("/ws/products").await;
    page.expect_event("products").await;
    page.send_event("cart:watch", json!({ "_id": cid, "since": since }))
        .await;
    let replay = page.frames_until("recovered").await;
    let updates: Vec<&Value> = replay.iter().filter(|f| f["event"] == "cart:updated").collect();
    assert_eq!(updates.len(), 1, "{replay:?}");
    let quantity = updates[0]["data"]["products"][0]["quantity"].as_u64();
    let before = first["data"]["products"][0]["quantity"].as_u64().unwrap();
    assert_eq!(quantity, Some(before + 1));
    let recovered = &replay.last().unwrap()["data"];
    assert_eq!(recovered["stream"], format!("cart:{cid}"));
    assert_eq!(recovered["recovered"], true);
}
