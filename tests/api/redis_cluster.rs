//! Past one Redis: instances over a real local Redis Cluster (3 masters, 3
//! replicas, Debian's `redis-server`, made by `redis-cli --cluster
//! create`) share one world as over one Redis, spread their streams over
//! the shards, and carry on through a shard's failover without losing an
//! event.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{assert_each_once_in_order, product, Browser, RedisCluster, TestApp, WsClient};

/// Joins the chat as `user`.
async fn join(address: &str, user: &str) -> WsClient {
    let mut chat = WsClient::connect(address, "/ws/chat", None).await;
    chat.send_event("join", json!({ "user": user })).await;
    chat.expect_event("history").await;
    chat.expect_event("presence").await;
    chat
}

/// The `message` texts `chat` receives until it has `count`, or `wait`
/// passes.
async fn messages(chat: &mut WsClient, count: usize, wait: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut texts = Vec::new();
    while texts.len() < count {
        // The outer deadline ends the wait; the inner one never fires first.
        let Ok(message) =
            tokio::time::timeout_at(deadline, chat.next_message(wait + Duration::from_secs(5))).await
        else {
            break;
        };
        let message = message.expect("the socket stays open");
        let frame: Value = serde_json::from_str(message.to_text().expect("text")).expect("JSON");
        if frame["event"] == "message" {
            texts.push(frame["data"]["message"].as_str().expect("text").to_owned());
        }
    }
    texts
}

#[actix_web::test]
async fn instances_share_one_world_over_a_redis_cluster_and_its_shards_share_the_load() {
    let Some(cluster) = RedisCluster::start("one_world_over_a_redis_cluster").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &cluster, |_| {}).await;

    // Chat across instances, in one order.
    let mut ana = join(&apps[0].address, "ana@shards.test").await;
    let mut bob = join(&apps[1].address, "bob@shards.test").await;
    for n in 0..5 {
        ana.send_event("message", json!({ "message": format!("a{n}") }))
            .await;
        bob.send_event("message", json!({ "message": format!("b{n}") }))
            .await;
    }
    let seen_by_ana = messages(&mut ana, 10, Duration::from_secs(10)).await;
    let seen_by_bob = messages(&mut bob, 10, Duration::from_secs(10)).await;
    assert_eq!(seen_by_ana.len(), 10, "{seen_by_ana:?}");
    assert_eq!(seen_by_ana, seen_by_bob, "one order on both instances");

    // A product written on A reaches B's product page.
    let mut feed_b = apps[1].ws("/ws/products").await;
    feed_b.expect_event("products").await;
    apps[0].create_product(&product("SHARDED-1")).await;
    assert_eq!(feed_b.expect_event("product:created").await["code"], "SHARDED-1");

    // A login on A is valid on B (login sessions live in the cluster).
    let user = apps[0].user_browser("shopper@shards.test").await;
    let (status, current) = apps[1].get_json_with(&user.client, "/api/sessions/current").await;
    assert_eq!(status, 200, "{current}");
    assert_eq!(current["payload"]["email"], "shopper@shards.test");
    // And limits count across instances: wrong passwords on both share
    // one budget.
    let intruder = Browser::new();
    let mut refused = 0;
    for attempt in 0..12 {
        let (status, _) = apps[attempt % 2]
            .post_json_with(
                &intruder.client,
                "/api/sessions/login",
                &json!({"email": "shopper@shards.test", "password": "wrong"}),
            )
            .await;
        refused += usize::from(status == 429);
    }
    assert!(refused > 0, "the login limit holds across instances");

    // The streams live on more than one shard.
    let keys = cluster.keys_by_master().await;
    let masters_of_streams: BTreeSet<u16> = keys
        .iter()
        .filter(|(_, key)| key.ends_with(":stream"))
        .map(|(port, _)| *port)
        .collect();
    assert!(
        masters_of_streams.len() >= 2,
        "streams spread over the shards: {keys:?}"
    );
}

#[actix_web::test]
async fn a_shard_failing_over_to_its_replica_loses_no_event() {
    let Some(cluster) = RedisCluster::start("shard_failover").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &cluster, |settings| {
        // Nothing is delivered outside the cluster's one order meanwhile.
        settings.redis.local_delivery_after_ms = 20_000;
    })
    .await;
    let mut listeners = Vec::new();
    for (index, app) in apps.iter().enumerate() {
        for n in 0..2 {
            listeners.push(join(&app.address, &format!("listener{n}@shard{index}.test")).await);
        }
    }
    let mut feeds = Vec::new();
    for app in &apps {
        let mut feed = app.ws("/ws/products").await;
        feed.expect_event("products").await;
        feeds.push(feed);
    }
    let mut senders = [
        join(&apps[0].address, "sender@a.test").await,
        join(&apps[1].address, "sender@b.test").await,
    ];
    const PER_SENDER: usize = 60;
    // Messages go out every 60 ms from both instances (within the chat's
    // per-person limit) while the shards of the chat stream and of the
    // control stream fail over, one after the other.
    let sending = async {
        for n in 0..PER_SENDER {
            for (who, sender) in ["a", "b"].iter().zip(senders.iter_mut()) {
                sender
                    .send_event("message", json!({ "message": format!("{who}-{n}") }))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    };
    // (When both streams share a shard, the second failover hands it back.)
    let failing_over = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.fail_over("ecommerce:{chat}:stream").await;
        cluster.fail_over("ecommerce:{control}:stream").await;
    };
    tokio::join!(sending, failing_over);
    // A product change after the failovers reaches both instances.
    apps[1].create_product(&product("AFTER-FAILOVER")).await;
    for feed in &mut feeds {
        assert_eq!(
            feed.expect_event("product:created").await["code"],
            "AFTER-FAILOVER"
        );
    }

    let expected = 2 * PER_SENDER;
    let mut orders = Vec::new();
    for chat in listeners.iter_mut().chain(senders.iter_mut()) {
        let texts = messages(chat, expected, Duration::from_secs(30)).await;
        assert_each_once_in_order(&texts, expected, &["a", "b"], PER_SENDER);
        orders.push(texts);
    }
    assert!(
        orders.windows(2).all(|pair| pair[0] == pair[1]),
        "one order everywhere"
    );
    // Stored once each: the newest 100, then the page before them.
    let (_, newest) = apps[0].get_json("/api/messages?limit=100").await;
    let newest = newest["payload"].as_array().cloned().expect("messages");
    let oldest_id = newest[0]["_id"].as_str().expect("an id");
    let (_, older) = apps[0]
        .get_json(&format!("/api/messages?limit=100&before={oldest_id}"))
        .await;
    let mut stored: Vec<String> = older["payload"]
        .as_array()
        .expect("messages")
        .iter()
        .chain(&newest)
        .map(|message| message["message"].as_str().expect("text").to_owned())
        .collect();
    // (Each instance stores before it publishes: the store's order is not
    // the stream's.)
    stored.sort();
    let mut delivered = orders[0].clone();
    delivered.sort();
    assert_eq!(stored, delivered, "each stored once");
    for app in &apps {
        app.wait_for_redis("connected").await;
    }
}

/// Waits (up to 5 s) until `app`'s metric `line_start` reads `value`.
async fn wait_for_metric(app: &TestApp, line_start: &str, value: i64) {
    for _ in 0..50 {
        if app.metric(line_start).await == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{}: {line_start}is {}, not {value}",
        app.address,
        app.metric(line_start).await
    );
}

/// Waits until `app` reports following `count` cart streams.
async fn wait_for_followed_carts(app: &TestApp, count: i64) {
    wait_for_metric(app, "ecommerce_redis_followed_cart_streams ", count).await;
}

/// Waits until `app` reports reading `stream` (1) or not (0).
async fn wait_for_reading(app: &TestApp, stream: &str, reading: i64) {
    let metric = format!("ecommerce_redis_followed_stream{{stream=\"{stream}\"}} ");
    wait_for_metric(app, &metric, reading).await;
}

/// Posts a chat message over REST (as the admin the app is logged in as).
async fn post_message(app: &TestApp, text: &str) {
    let (status, body) = app.post_json("/api/messages", &json!({ "message": text })).await;
    assert_eq!(status, 201, "{body}");
}

#[actix_web::test]
async fn chat_and_products_are_read_only_where_sessions_are_on_them_and_nothing_is_missed_at_the_edges() {
    let Some(cluster) = RedisCluster::start("room_topic_routing").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &cluster, |settings| {
        settings.redis.unfollow_after_ms = 300;
    })
    .await;
    // Nobody is on anything: nothing but the control stream is read.
    for app in &apps {
        wait_for_reading(app, "chat", 0).await;
        wait_for_reading(app, "products", 0).await;
    }

    // A chatter on B: B reads `chat`, A does not, though A writes to it.
    let mut chat = join(&apps[1].address, "reader@routing.test").await;
    wait_for_reading(&apps[1], "chat", 1).await;
    post_message(&apps[0], "r0").await;
    post_message(&apps[0], "r1").await;
    assert_eq!(messages(&mut chat, 2, Duration::from_secs(5)).await, ["r0", "r1"]);
    wait_for_reading(&apps[0], "chat", 0).await;
    let mut since = String::new();
    post_message(&apps[1], "r2").await;
    let frame = chat.expect_frame("message").await;
    assert_eq!(frame["data"]["message"], "r2");
    since.push_str(frame["offset"].as_str().expect("an offset"));

    // The chatter goes; B stops reading `chat` once the linger is over.
    drop(chat);
    wait_for_reading(&apps[1], "chat", 0).await;
    // Messages nobody reads: written by both instances.
    post_message(&apps[0], "r3").await;
    post_message(&apps[1], "r4").await;

    // Back on B with its offset: exactly what it missed, in order, then
    // `recovered`, then live messages.
    let mut chat = WsClient::connect(&apps[1].address, "/ws/chat", None).await;
    chat.send_event("join", json!({ "user": "reader@routing.test", "since": since }))
        .await;
    let replay = chat.frames_until("recovered").await;
    let missed: Vec<&str> = replay
        .iter()
        .filter(|frame| frame["event"] == "message")
        .map(|frame| frame["data"]["message"].as_str().expect("text"))
        .collect();
    assert_eq!(missed, ["r3", "r4"], "{replay:?}");
    assert_eq!(replay.last().expect("recovered")["data"]["recovered"], true);
    chat.expect_event("presence").await;
    post_message(&apps[0], "r5").await;
    assert_eq!(chat.expect_frame("message").await["data"]["message"], "r5");
    // A fresh joiner on A, which never read the chat, gets the whole
    // history, then live messages.
    let mut fresh = WsClient::connect(&apps[0].address, "/ws/chat", None).await;
    fresh
        .send_event("join", json!({ "user": "fresh@routing.test" }))
        .await;
    let history = fresh.expect_event("history").await;
    let texts: Vec<&str> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|message| message["message"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["r0", "r1", "r2", "r3", "r4", "r5"]);
    wait_for_reading(&apps[0], "chat", 1).await;

    // Products: a page on A; B does not read `products`.
    let before = apps[1].product_count().await;
    let mut page = apps[0].ws("/ws/products").await;
    page.expect_event("products").await;
    wait_for_reading(&apps[0], "products", 1).await;
    wait_for_reading(&apps[1], "products", 0).await;
    let created = apps[1].create_product(&product("ROUTED-P1")).await;
    assert_eq!(page.expect_event("product:created").await["code"], "ROUTED-P1");
    // B's listings are read fresh while it does not hear of A's changes:
    // a product A writes is listed by B at once.
    assert_eq!(apps[1].product_count().await, before + 1);
    apps[0].create_product(&product("ROUTED-P2")).await;
    assert_eq!(apps[1].product_count().await, before + 2);
    let id = created["_id"].as_str().expect("id");
    let (status, _) = apps[0].delete(&format!("/api/products/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(apps[1].product_count().await, before + 1);
}

#[actix_web::test]
async fn a_cart_is_read_only_where_it_is_watched_and_resumes_on_another_instance() {
    let Some(cluster) = RedisCluster::start("cart_topic_routing").await else {
        return;
    };
    let apps = TestApp::spawn_cluster(2, &cluster, |_| {}).await;
    let product = apps[0].create_product(&product("ROUTED-1")).await;
    let pid = product["_id"].as_str().expect("id").to_owned();
    let (_, cart) = apps[0].post_json("/api/carts", &json!({})).await;
    let cid = cart["payload"]["_id"].as_str().expect("id").to_owned();
    let add = |quantity: u64| {
        let (app, cid, pid) = (&apps[0], cid.clone(), pid.clone());
        async move {
            let (status, body) = app
                .post_json(
                    &format!("/api/carts/{cid}/product/{pid}"),
                    &json!({ "quantity": quantity }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    // Nobody watches: no instance reads the cart's stream, though A writes it.
    add(1).await;
    wait_for_followed_carts(&apps[0], 0).await;
    wait_for_followed_carts(&apps[1], 0).await;

    // A page on B watches it: B follows that stream, A still does not.
    let mut page = apps[1].ws_as_admin("/ws/products").await;
    page.expect_event("products").await;
    page.send_event("cart:watch", json!({ "_id": cid })).await;
    wait_for_followed_carts(&apps[1], 1).await;
    wait_for_followed_carts(&apps[0], 0).await;
    add(1).await;
    let seen = page.expect_frame("cart:updated").await;
    assert_eq!(seen["data"]["products"][0]["quantity"], 2, "{seen}");
    let since = seen["offset"].as_str().expect("an offset").to_owned();

    // The page goes; B stops reading the stream.
    drop(page);
    wait_for_followed_carts(&apps[1], 0).await;
    // Two changes nobody here watches.
    add(1).await;
    add(1).await;

    // It comes back on A, which never read that stream, with its offset:
    // exactly the two it missed, in order, then `recovered`, then live.
    let mut page = apps[0].ws_as_admin("/ws/products").await;
    page.expect_event("products").await;
    page.send_event("cart:watch", json!({ "_id": cid, "since": since }))
        .await;
    let replay = page.frames_until("recovered").await;
    let quantities: Vec<u64> = replay
        .iter()
        .filter(|frame| frame["event"] == "cart:updated")
        .map(|frame| {
            frame["data"]["products"][0]["quantity"]
                .as_u64()
                .expect("quantity")
        })
        .collect();
    assert_eq!(quantities, [3, 4], "{replay:?}");
    let recovered = &replay.last().expect("recovered")["data"];
    assert_eq!(recovered["recovered"], true, "{recovered}");
    assert_eq!(recovered["stream"], format!("cart:{cid}"));
    wait_for_followed_carts(&apps[0], 1).await;
    add(1).await;
    let live = page.expect_frame("cart:updated").await;
    assert_eq!(live["data"]["products"][0]["quantity"], 5, "{live}");

    // The cart's stream expires with its retention; it lives on a shard
    // of its lane's hash tag.
    let keys = cluster.keys_by_master().await;
    assert!(
        keys.iter()
            .any(|(_, key)| key.contains("{carts:") && key.contains(&cid)),
        "{keys:?}"
    );
}
