//! Users and sessions: registration, login, cookie attributes, logout,
//! roles on every protected route, rate limits, and no hash ever shown.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{json_of, product, Browser, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

fn registration(email: &str) -> Value {
    json!({"first_name": "Ana", "last_name": "López", "email": email, "age": 31, "password": "user-password"})
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    json_of(request.send().await.unwrap()).await
}

fn assert_no_hash(body: &Value) {
    let text = body.to_string();
    assert!(
        !text.contains("$argon2") && !text.contains("password"),
        "a response shows a password or hash: {text}"
    );
}

#[actix_web::test]
async fn registration_creates_a_user_with_a_cart_and_refuses_duplicates() {
    let app = TestApp::spawn().await;
    let anonymous = Browser::new();
    let (status, body) = send(
        anonymous
            .client
            .post(app.url("/api/users"))
            .json(&registration("ana@example.com")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_no_hash(&body);
    let user = &body["payload"];
    assert_eq!(user["email"], "ana@example.com");
    assert_eq!(user["role"], "user");
    let (status, cart) = app
        .get_json(&format!("/api/carts/{}", user["cart"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200, "the user's own cart exists: {cart}");

    let (status, body) = send(
        anonymous
            .client
            .post(app.url("/api/users"))
            .json(&registration("ANA@example.com")),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    for (field, value) in [
        ("email", json!("nope")),
        ("password", json!("short")),
        ("age", json!("old")),
        ("role", json!("admin")),
    ] {
        let mut body = registration("bob@example.com");
        body[field] = value;
        let (status, response) = send(anonymous.client.post(app.url("/api/users")).json(&body)).await;
        assert_eq!(status, 400, "{field}: {response}");
        assert_eq!(response["details"]["field"], field);
    }
}

#[actix_web::test]
async fn login_sets_a_safe_renewed_cookie_and_logout_invalidates_it() {
    let app = TestApp::spawn().await;
    app.user_browser("ana@example.com").await;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |email: &str, password: &str| {
        raw.post(app.url("/api/sessions/login"))
            .json(&json!({"email": email, "password": password}))
    };

    for (email, password) in [
        ("ana@example.com", "wrong-password"),
        ("nobody@example.com", "user-password"),
        ("bad", "x"),
    ] {
        let response = login(email, password).send().await.unwrap();
        assert_eq!(response.status(), 401, "{email}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "no session for a failed login"
        );
    }

    let response = login("ana@example.com", "user-password").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("ecommerce_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let (_, body) = json_of(response).await;
    assert_no_hash(&body);
    let session = cookie.split(';').next().unwrap().to_owned();

    let current = |session: &str| {
        raw.get(app.url("/api/sessions/current"))
            .header("cookie", session.to_owned())
    };
    let (status, body) = send(current(&session)).await;
    assert_eq!(
        (status, body["payload"]["email"].as_str()),
        (200, Some("ana@example.com")),
        "{body}"
    );
    assert_eq!(
        send(raw.get(app.url("/api/sessions/current"))).await.0,
        401,
        "anonymous"
    );

    // Logging in again renews the session id; the old one stops working.
    let again = login("ana@example.com", "user-password")
        .header("cookie", session.clone())
        .send()
        .await
        .unwrap();
    let renewed = again.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(renewed, session);
    assert_eq!(
        send(current(&session)).await.0,
        401,
        "the pre-login session id is dead"
    );
    assert_eq!(send(current(&renewed)).await.0, 200);

    let (status, _) = send(
        raw.post(app.url("/api/sessions/logout"))
            .header("cookie", renewed.clone()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(current(&renewed)).await.0,
        401,
        "a replayed cookie is dead after logout"
    );
}

#[actix_web::test]
async fn product_writes_need_an_admin() {
    let app = TestApp::spawn().await;
    let user = app.user_browser("user@example.com").await;
    let anonymous = Browser::new();
    let existing = app.create_product(&product("P1")).await;
    let id = existing["_id"].as_str().unwrap();
    let path = format!("/api/products/{id}");

    for (who, client, expected) in [("anonymous", &anonymous.client, 401), ("user", &user.client, 403)] {
        let (status, body) = send(client.post(app.url("/api/products")).json(&product("P2"))).await;
        assert_eq!(status, expected, "{who} create: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(
            send(client.put(app.url(&path)).json(&json!({"price": 1})))
                .await
                .0,
            expected,
            "{who} update"
        );
        assert_eq!(
            send(client.delete(app.url(&path))).await.0,
            expected,
            "{who} delete"
        );
        let form = reqwest::multipart::Form::new().text("x", "y");
        let (status, _) = send(client.post(app.url(&format!("{path}/upload"))).multipart(form)).await;
        assert_eq!(status, expected, "{who} upload");
        assert_eq!(
            send(client.get(app.url("/api/products"))).await.0,
            200,
            "{who} may read"
        );
    }
    let (_, body) = app.get_json(&path).await;
    assert_eq!(body["payload"], existing, "nothing changed");
    assert_eq!(app.product_count().await, 1);
}

#[actix_web::test]
async fn user_administration_is_for_admins() {
    let app = TestApp::spawn().await;
    let user = app.user_browser("user@example.com").await;
    let anonymous = Browser::new();
    let (_, me) = send(user.client.get(app.url("/api/sessions/current"))).await;
    let uid = me["payload"]["_id"].as_str().unwrap().to_owned();

    assert_eq!(send(anonymous.client.get(app.url("/api/users"))).await.0, 401);
    assert_eq!(send(user.client.get(app.url("/api/users"))).await.0, 403);
    let (status, list) = app.get_json("/api/users").await;
    assert_eq!(status, 200);
    assert_no_hash(&list);
    let emails: Vec<&str> = list["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [ADMIN_EMAIL, "user@example.com"]);

    let target = format!("/api/users/{uid}");
    assert_eq!(send(anonymous.client.delete(app.url(&target))).await.0, 401);
    assert_eq!(send(user.client.delete(app.url(&target))).await.0, 403);
    assert_eq!(app.delete("/api/users/nothex").await.0, 400);
    assert_eq!(app.delete(&target).await.0, 200);
    assert_eq!(app.delete(&target).await.0, 404);
    assert_eq!(
        send(user.client.get(app.url("/api/sessions/current"))).await.0,
        401,
        "a deleted user's session ends"
    );
}

#[actix_web::test]
async fn pages_need_a_login_and_carts_belong_to_their_owner() {
    let app = TestApp::spawn().await;
    let ana = app.user_browser("ana@example.com").await;
    let bob = app.user_browser("bob@example.com").await;
    let anonymous = Browser::new();
    let cart_of = |browser: &Browser| {
        let request = browser.client.get(app.url("/api/sessions/current"));
        async move {
            send(request).await.1["payload"]["cart"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (ana_cart, bob_cart) = (cart_of(&ana).await, cart_of(&bob).await);

    for path in ["/products", "/profile", &format!("/carts/{ana_cart}")] {
        let response = anonymous.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login?next=%2F"), "{path} -> {location}");
    }
    for path in ["/", "/chat", "/realtimeproducts", "/login", "/register"] {
        assert_eq!(
            anonymous.client.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path} is public"
        );
    }

    let page = |browser: &Browser, path: String| {
        let request = browser.client.get(app.url(&path));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(page(&ana, "/products".into()).await.status(), 200);
    let profile = page(&ana, "/profile".into()).await.text().await.unwrap();
    assert!(profile.contains("ana@example.com") && !profile.contains("$argon2"));
    let own = page(&ana, format!("/carts/{ana_cart}")).await;
    assert_eq!(own.status(), 200);
    assert!(
        own.text()
            .await
            .unwrap()
            .contains(&format!(r#"data-cart-id="{ana_cart}""#)),
        "the catalog adds to the user's cart"
    );
    assert_eq!(page(&ana, format!("/carts/{bob_cart}")).await.status(), 403);
    assert_eq!(
        app.get(&format!("/carts/{bob_cart}")).await.status(),
        200,
        "an admin sees any cart"
    );
}

#[actix_web::test]
async fn the_html_forms_register_log_in_and_out() {
    let app = TestApp::spawn().await;
    let browser = Browser::new();
    let form = [
        ("first_name", "Cleo"),
        ("last_name", "Díaz"),
        ("email", "cleo@example.com"),
        ("age", "40"),
        ("password", "cleo-password"),
    ];
    let response = browser
        .client
        .post(app.url("/register"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        browser
            .client
            .get(app.url("/profile"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "registered and logged in"
    );

    let response = browser.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        browser
            .client
            .get(app.url("/profile"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "logged out"
    );

    let wrong = browser
        .client
        .post(app.url("/login"))
        .form(&[("email", "cleo@example.com"), ("password", "nope-nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("wrong e-mail or password"));
    let login = [
        ("email", "cleo@example.com"),
        ("password", "cleo-password"),
        ("next", "/carts/x"),
    ];
    let response = browser
        .client
        .post(app.url("/login"))
        .form(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/carts/x",
        "back to where the login began"
    );
    let evil = [
        ("email", "cleo@example.com"),
        ("password", "cleo-password"),
        ("next", "//evil.example"),
    ];
    let response = browser
        .client
        .post(app.url("/login"))
        .form(&evil)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/products", "no open redirect");

    let duplicate = browser
        .client
        .post(app.url("/register"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
    assert!(duplicate.text().await.unwrap().contains("already exists"));
}

#[actix_web::test]
async fn login_attempts_are_rate_limited_per_email() {
    let app = TestApp::spawn_with(|s| s.users.login_attempts_per_email = 3).await;
    app.user_browser("ana@example.com").await; // one attempt, successful
    let browser = Browser::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            app.log_in(&browser.client, "ana@example.com", "wrong-password")
                .await,
        );
    }
    assert_eq!(statuses, [401, 401, 429]);
    assert_eq!(
        app.log_in(&browser.client, "ana@example.com", "user-password")
            .await,
        429,
        "even the right password waits"
    );
    assert_eq!(
        app.log_in(&browser.client, "other@example.com", "whatever-pw")
            .await,
        401,
        "other e-mails are not held up"
    );
}

#[actix_web::test]
async fn postman_style_crud_with_the_admin_cookie_broadcasts() {
    let app = TestApp::spawn().await;
    let mut listener = app.ws("/ws/products").await;
    listener.expect_event("products").await;
    // As Postman does it: log in, copy the cookie, send it by hand.
    let raw = reqwest::Client::new();
    let response = raw
        .post(app.url("/api/sessions/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, created) = send(
        raw.post(app.url("/api/products"))
            .header("cookie", &cookie)
            .json(&product("PM1")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(listener.expect_event("product:created").await, created["payload"]);
    let path = format!("/api/products/{}", created["payload"]["_id"].as_str().unwrap());
    let (status, _) = send(raw.delete(app.url(&path)).header("cookie", &cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(
        listener.expect_event("product:deleted").await["_id"],
        created["payload"]["_id"]
    );
}

#[actix_web::test]
async fn the_socket_form_follows_the_same_rules() {
    let app = TestApp::spawn().await;
    let user = app.user_browser("user@example.com").await;
    let mut anonymous = app.ws("/ws/products").await;
    let mut plain_user = app.ws_with_cookies("/ws/products", Some(&user.cookies)).await;
    let mut admin = app.ws_as_admin("/ws/products").await;
    for client in [&mut anonymous, &mut plain_user, &mut admin] {
        client.expect_event("products").await;
    }
    anonymous.send_event("product:create", product("W1")).await;
    assert!(anonymous.expect_event("error").await["error"]
        .as_str()
        .unwrap()
        .contains("log in"));
    plain_user.send_event("product:create", product("W2")).await;
    assert!(plain_user.expect_event("error").await["error"]
        .as_str()
        .unwrap()
        .contains("admin"));
    admin.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(app.product_count().await, 0);
    admin.send_event("product:create", product("W3")).await;
    assert_eq!(admin.expect_event("product:created").await["code"], "W3");
}

#[actix_web::test]
async fn a_logged_in_user_chats_as_their_email() {
    let app = TestApp::spawn().await;
    let user = app.user_browser("ana@example.com").await;
    let mut chat = app.ws_with_cookies("/ws/chat", Some(&user.cookies)).await;
    chat.send_event("join", json!({"user": "someone.else@example.com"}))
        .await;
    assert_eq!(chat.expect_event("error").await["field"], "user");
    chat.send_event("join", json!({})).await;
    chat.expect_event("history").await;
    assert_eq!(
        chat.expect_event("presence").await["users"],
        json!(["ana@example.com"])
    );
    chat.send_event("message", json!({"message": "hello"})).await;
    assert_eq!(chat.expect_event("message").await["user"], "ana@example.com");
}
