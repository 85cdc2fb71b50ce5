//! The security rules (DESIGN.md, "Security rules"), each shown closed by
//! the attack it stops: impersonation in the chat, other people's carts,
//! cross-site requests, login-limit bypass, cross-site logout, missing
//! headers, spoofed client addresses, and the no-admin hint.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{json_of, message_texts, product, Browser, TestApp, WsClient, ADMIN_EMAIL};

const EVIL: &str = "http://evil.example";

async fn chat_as(app: &TestApp, browser: Option<&Browser>, user: Option<&str>) -> WsClient {
    let jar = browser.map(|b| b.cookies.as_ref());
    let mut client = app.ws_with_cookies("/ws/chat", jar).await;
    let data = user.map_or(json!({}), |user| json!({ "user": user }));
    client.send_event("join", data).await;
    client
}

/// Joins and reads the welcome (`history`, `presence`); returns presence.
async fn joined(client: &mut WsClient) -> Value {
    client.expect_event("history").await;
    client.expect_event("presence").await
}

/// The next event that is not a presence notice.
async fn next_non_presence(client: &mut WsClient) -> (String, Value) {
    loop {
        let (event, data) = client.next_event().await;
        if event != "presence:diff" {
            return (event, data);
        }
    }
}

#[actix_web::test]
async fn nobody_joins_the_chat_as_an_account_they_are_not_logged_in_as() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@shop.test").await;

    // The attack: an anonymous socket claiming a registered e-mail.
    let mut impostor = chat_as(&app, None, Some("ANA@shop.test")).await;
    let error = impostor.expect_event("error").await;
    assert_eq!(error["field"], "user", "{error}");
    assert!(error["error"].as_str().unwrap().contains("log in"), "{error}");
    impostor
        .send_event("message", json!({"message": "I am Ana"}))
        .await;
    assert!(impostor.expect_event("error").await["error"]
        .as_str()
        .unwrap()
        .contains("join first"));

    // Logged in: joins as the account, and only as it.
    let mut real = chat_as(&app, Some(&ana), Some("someone@else.test")).await;
    assert_eq!(real.expect_event("error").await["field"], "user");
    real.send_event("join", json!({})).await;
    let presence = joined(&mut real).await;
    assert_eq!(presence["users"], json!(["ana@shop.test"]));

    // A visitor with an e-mail nobody has may chat.
    let mut visitor = chat_as(&app, None, Some("visitor@free.test")).await;
    joined(&mut visitor).await;
    visitor.send_event("message", json!({"message": "hello"})).await;
    let (event, message) = next_non_presence(&mut real).await;
    assert_eq!(
        (event.as_str(), &message["user"]),
        ("message", &json!("visitor@free.test"))
    );
    let (_, stored) = app.get_json("/api/messages").await;
    let senders: Vec<&Value> = stored["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["user"])
        .collect();
    assert_eq!(senders, [&json!("visitor@free.test")], "nothing stored as Ana");
}

#[actix_web::test]
async fn direct_messages_to_an_account_reach_only_its_logged_in_sessions() {
    let app = TestApp::spawn().await;
    // Bob chats anonymously, then the e-mail is registered (by Bob or by
    // someone else): the old anonymous socket is no longer Bob's account.
    let mut anonymous_bob = chat_as(&app, None, Some("bob@shop.test")).await;
    joined(&mut anonymous_bob).await;
    let bob = app.user_browser("bob@shop.test").await;
    let mut logged_in_bob = chat_as(&app, Some(&bob), None).await;
    joined(&mut logged_in_bob).await;
    let carol = app.user_browser("carol@shop.test").await;
    let mut carol_chat = chat_as(&app, Some(&carol), None).await;
    joined(&mut carol_chat).await;

    carol_chat
        .send_event("message", json!({"message": "psst", "to": "bob@shop.test"}))
        .await;
    let (event, dm) = next_non_presence(&mut logged_in_bob).await;
    assert_eq!((event.as_str(), &dm["message"]), ("message", &json!("psst")));
    let (event, own_copy) = next_non_presence(&mut carol_chat).await;
    assert_eq!(
        (event.as_str(), &own_copy["to"]),
        ("message", &json!("bob@shop.test"))
    );
    // The anonymous socket gets no DM, and may no longer speak as Bob.
    anonymous_bob
        .send_event("message", json!({"message": "still me?"}))
        .await;
    let (event, error) = next_non_presence(&mut anonymous_bob).await;
    assert_eq!(event, "error", "no DM, only the refusal: {error}");
    assert!(
        error["error"].as_str().unwrap().contains("belongs to an account"),
        "{error}"
    );
    // Bob's logged-in socket got the DM only once (presence notices aside).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), logged_in_bob.next_event()).await {
            Ok((event, data)) => assert_eq!(event, "presence:diff", "{data}"),
            Err(_) => continue,
        }
    }
}

#[actix_web::test]
async fn the_messages_api_posts_only_as_the_logged_in_user() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@shop.test").await;

    let (status, body) = app
        .post_json_with(
            &ana.client,
            "/api/messages",
            &json!({"user": "boss@shop.test", "message": "fire them"}),
        )
        .await;
    assert_eq!(status, 403, "posting as someone else: {body}");
    let (status, body) = app
        .post_json_with(&ana.client, "/api/messages", &json!({"message": "from Ana"}))
        .await;
    assert_eq!(
        (status, &body["payload"]["user"]),
        (201, &json!("ana@shop.test")),
        "{body}"
    );
    let (status, _) = app
        .post_json_with(
            &ana.client,
            "/api/messages",
            &json!({"user": "Ana@Shop.test", "message": "me"}),
        )
        .await;
    assert_eq!(status, 201, "naming oneself is fine");

    let visitor = Browser::new();
    let (status, body) = app
        .post_json_with(
            &visitor.client,
            "/api/messages",
            &json!({"user": "ana@shop.test", "message": "x"}),
        )
        .await;
    assert_eq!(status, 403, "a visitor using an account's e-mail: {body}");
    let (status, _) = app
        .post_json_with(
            &visitor.client,
            "/api/messages",
            &json!({"user": "v@free.test", "message": "x"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, stored) = app.get_json("/api/messages").await;
    let texts = message_texts(&stored["payload"]);
    assert_eq!(texts, ["from Ana", "me", "x"]);
}

#[actix_web::test]
async fn with_anonymous_chat_off_visitors_only_read() {
    let app = TestApp::spawn_with(|settings| settings.chat.allow_anonymous = false).await;
    let visitor = Browser::new();
    let (status, _) = app
        .post_json_with(
            &visitor.client,
            "/api/messages",
            &json!({"user": "v@free.test", "message": "x"}),
        )
        .await;
    assert_eq!(status, 401);

    let mut reader = chat_as(&app, None, Some("v@free.test")).await;
    let presence = joined(&mut reader).await;
    assert_eq!(presence["users"], json!([]), "a reader is not listed");
    let ana = app.user_browser("ana@shop.test").await;
    let mut writer = chat_as(&app, Some(&ana), None).await;
    joined(&mut writer).await;
    writer.send_event("message", json!({"message": "public"})).await;
    let (event, message) = next_non_presence(&mut reader).await;
    assert_eq!(
        (event.as_str(), &message["message"]),
        ("message", &json!("public"))
    );
    reader.send_event("message", json!({"message": "me too"})).await;
    let (event, error) = next_non_presence(&mut reader).await;
    assert_eq!(event, "error");
    assert!(error["error"].as_str().unwrap().contains("log in"), "{error}");
}

async fn cart_of(app: &TestApp, browser: &Browser) -> String {
    let (_, me) = app.get_json_with(&browser.client, "/api/sessions/current").await;
    me["payload"]["cart"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_cart_is_readable_and_writable_only_by_its_owner_or_an_admin() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@shop.test").await;
    let bob = app.user_browser("bob@shop.test").await;
    let visitor = Browser::new();
    let cart = cart_of(&app, &ana).await;
    let mug = app.create_product(&product("SEC-MUG")).await;
    let line = format!("/api/carts/{cart}/product/{}", mug["_id"].as_str().unwrap());

    for (who, client, expected) in [("a visitor", &visitor.client, 401), ("Bob", &bob.client, 403)] {
        let read = app.get_with(client, &format!("/api/carts/{cart}")).await;
        assert_eq!(read.status(), expected, "{who} reads Ana's cart");
        let (status, _) = app.post_json_with(client, &line, &json!({})).await;
        assert_eq!(status, expected, "{who} adds to Ana's cart");
        let emptied = client
            .delete(app.url(&format!("/api/carts/{cart}")))
            .send()
            .await
            .unwrap();
        assert_eq!(emptied.status(), expected, "{who} empties Ana's cart");
    }
    let (status, body) = app
        .post_json_with(&ana.client, &line, &json!({"quantity": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get_json(&format!("/api/carts/{cart}")).await;
    assert_eq!(
        (status, body["payload"]["products"][0]["quantity"].clone()),
        (200, json!(2)),
        "the admin may"
    );

    // Creating a cart needs a login; the new cart is its creator's.
    let (status, _) = app
        .post_json_with(&visitor.client, "/api/carts", &json!({}))
        .await;
    assert_eq!(status, 401);
    let (status, created) = app.post_json_with(&bob.client, "/api/carts", &json!({})).await;
    assert_eq!(status, 201);
    let bobs = created["payload"]["_id"].as_str().unwrap();
    let bobs = format!("/api/carts/{bobs}");
    assert_eq!(app.get_with(&bob.client, &bobs).await.status(), 200);
    assert_eq!(app.get_with(&ana.client, &bobs).await.status(), 403);
    // The cart page follows the same rule.
    let page = app.get_with(&bob.client, &format!("/carts/{cart}")).await;
    assert_eq!(page.status(), 403);
}

#[actix_web::test]
async fn cart_watch_follows_the_cart_rule() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@shop.test").await;
    let cart = cart_of(&app, &ana).await;
    let mut stranger = app.ws("/ws/products").await;
    stranger.expect_event("products").await;
    stranger.send_event("cart:watch", json!({"_id": cart})).await;
    let refusal = stranger.expect_event("error").await;
    assert!(refusal["error"].as_str().unwrap().contains("log in"), "{refusal}");

    let mut owner = app.ws_with_cookies("/ws/products", Some(&ana.cookies)).await;
    owner.expect_event("products").await;
    owner.send_event("cart:watch", json!({"_id": cart})).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mug = app.create_product(&product("WATCH-MUG")).await;
    let line = format!("/api/carts/{cart}/product/{}", mug["_id"].as_str().unwrap());
    assert_eq!(app.post_json_with(&ana.client, &line, &json!({})).await.0, 200);
    loop {
        let (event, data) = owner.next_event().await;
        if event == "cart:updated" {
            assert_eq!(data["_id"], json!(cart));
            break;
        }
    }
    stranger.expect_event("product:created").await;
    stranger.expect_silence(Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn with_no_account_at_all_carts_stay_open() {
    let app = TestApp::spawn_with(|settings| {
        settings.users.admin_email = String::new();
    })
    .await;
    let visitor = Browser::new();
    let (status, cart) = app
        .post_json_with(&visitor.client, "/api/carts", &json!({}))
        .await;
    assert_eq!(status, 201);
    let id = cart["payload"]["_id"].as_str().unwrap();
    let other = Browser::new();
    let read = app.get_with(&other.client, &format!("/api/carts/{id}")).await;
    assert_eq!(read.status(), 200);
}

#[actix_web::test]
async fn pages_of_other_origins_cannot_use_the_sockets_or_the_cookie() {
    let app = TestApp::spawn_with(|settings| {
        settings.server.allowed_origins = vec!["https://partner.example".to_owned()];
    })
    .await;
    let own = format!("http://127.0.0.1:{}", app.port);
    for path in ["/ws/chat", "/ws/products"] {
        assert_eq!(
            app.try_ws(path, Some(EVIL), None).await.err(),
            Some(403),
            "{path} from {EVIL}"
        );
        assert!(
            app.try_ws(path, Some(&own), None).await.is_ok(),
            "{path} from its own page"
        );
        assert!(app
            .try_ws(path, Some("https://partner.example"), None)
            .await
            .is_ok());
        assert!(
            app.try_ws(path, None, None).await.is_ok(),
            "no Origin: not a browser page"
        );
    }

    // A cookie-authenticated write from another origin (CSRF on JSON).
    let forged = app
        .client
        .post(app.url("/api/products"))
        .header("origin", EVIL)
        .json(&product("CSRF-1"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(forged).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("cross-site"), "{body}");
    let (status, _) = app.get_json("/api/products?q=CSRF-1").await;
    assert_eq!(status, 200);
    assert_eq!(app.product_count().await, 0, "nothing was created");
    let same_site = app
        .client
        .post(app.url("/api/products"))
        .header("origin", &own)
        .json(&product("CSRF-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 201);

    // Login CSRF: logging a browser into the attacker's account.
    let victim = Browser::new();
    let login = victim
        .client
        .post(app.url("/login"))
        .header("origin", EVIL)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", crate::helpers::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    let register = victim
        .client
        .post(app.url("/api/users"))
        .header("origin", EVIL)
        .json(&json!({"first_name": "E", "last_name": "V", "email": "eve@evil.example", "age": 30, "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 403);
    let me = app.get_with(&victim.client, "/api/sessions/current").await;
    assert_eq!(me.status(), 401, "the victim's browser is not logged in");
}

#[actix_web::test]
async fn the_login_limit_counts_the_e_mail_as_login_reads_it() {
    let app = TestApp::spawn().await;
    app.user_browser("ana@shop.test").await;
    let attacker = Browser::new();
    // Ana's own login counted once; wrong passwords use up the rest.
    let mut refused = false;
    for _ in 0..10 {
        match app
            .log_in(&attacker.client, "ana@shop.test", "wrong-password")
            .await
        {
            401 => {}
            429 => {
                refused = true;
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused, "the limit is reached");
    for variant in ["  ana@shop.test  ", "ANA@Shop.Test", "ana@shop.test "] {
        let status = app.log_in(&attacker.client, variant, "user-password").await;
        assert_eq!(status, 429, "{variant:?} is the same e-mail");
    }
}

#[actix_web::test]
async fn a_link_cannot_log_anyone_out() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@shop.test").await;
    let page = app.get_with(&ana.client, "/logout").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"method="post" action="/logout""#),
        "a button to confirm"
    );
    let me = app.get_with(&ana.client, "/api/sessions/current").await;
    assert_eq!(me.status(), 200, "still logged in after GET /logout");
    let out = ana.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(out.status(), 303);
    let me = app.get_with(&ana.client, "/api/sessions/current").await;
    assert_eq!(me.status(), 401);
}

#[actix_web::test]
async fn pages_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let visitor = Browser::new();
    for path in [
        "/",
        "/chat",
        "/login",
        "/register",
        "/realtimeproducts",
        "/api/docs/",
    ] {
        let response = app.get_with(&visitor.client, path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        if path != "/api/docs/" {
            // Swagger UI alone injects styles; see routes/security.rs.
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        }
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
    let api = app.get("/api/products").await;
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    assert!(
        api.headers().get("content-security-policy").is_none(),
        "JSON needs no CSP"
    );
    let asset = app.get("/assets/css/style.css").await;
    assert_eq!(
        asset.headers()["x-content-type-options"],
        "nosniff",
        "uploads and assets too"
    );
}

#[actix_web::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let limited = |trusted: bool| {
        move |settings: &mut ecommerce::configuration::Settings| {
            // The test app's own admin login is one of 127.0.0.1's three.
            settings.users.login_attempts_per_address = 3;
            settings.users.login_attempts_per_email = 100;
            if trusted {
                settings.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        }
    };
    let attempt = |app: &TestApp, forwarded: &'static str| {
        let request = Browser::new()
            .client
            .post(app.url("/api/sessions/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": "nobody@shop.test", "password": "wrong-password"}))
            .send();
        async move { request.await.unwrap().status().as_u16() }
    };

    // Not trusted: the header is ignored, every attempt is 127.0.0.1's.
    let app = TestApp::spawn_with(limited(false)).await;
    let statuses = [
        attempt(&app, "10.0.0.1").await,
        attempt(&app, "10.0.0.2").await,
        attempt(&app, "10.0.0.3").await,
    ];
    assert_eq!(
        statuses,
        [401, 401, 429],
        "a spoofed header does not reset the limit"
    );

    // Trusted proxy: each client address has its own budget.
    let app = TestApp::spawn_with(limited(true)).await;
    let mut statuses = vec![attempt(&app, "10.0.0.1").await, attempt(&app, "10.0.0.2").await];
    for _ in 0..4 {
        statuses.push(attempt(&app, "192.0.2.1, 10.0.0.3").await);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429],
        "the nearest untrusted hop counts"
    );
}

#[actix_web::test]
async fn accounts_without_an_admin_are_told_how_to_make_one() {
    let app = TestApp::spawn_with(|settings| {
        settings.users.admin_email = String::new();
    })
    .await;
    let ana = app.user_browser("ana@shop.test").await;
    let (status, body) = app
        .post_json_with(&ana.client, "/api/products", &product("NOADMIN"))
        .await;
    assert_eq!(status, 403, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("ADMIN_EMAIL") && error.contains("ADMIN_PASSWORD"),
        "{error}"
    );
}

#[actix_web::test]
async fn csp_reports_are_counted_in_the_metrics() {
    let app = TestApp::spawn().await;
    let metric = |text: &str| {
        text.lines()
            .find(|line| line.starts_with("ecommerce_csp_violations_total"))
            .and_then(|line| line.split_whitespace().last())
            .map(str::to_owned)
    };
    let before = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&before).as_deref(), Some("0"), "{before}");
    let report = json!({"csp-report": {"document-uri": "http://x/", "violated-directive": "script-src"}});
    let sent = Browser::new()
        .client
        .post(app.url("/csp-report"))
        .header("content-type", "application/csp-report")
        .body(report.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 204);
    let after = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&after).as_deref(), Some("1"), "{after}");
}
