//! End-to-end in headless Chromium (chromedriver + fantoccini): two people
//! chatting, and the realtime product page following REST and its own form.
//! Screenshots of every page go to `target/browser-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the tests
//! say so and pass locally; in CI (`CI` set) a missing browser fails them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{
    free_port, message_texts, product, ServerProcess, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(10);

/// A running chromedriver, stopped when dropped.
struct Driver {
    process: tokio::process::Child,
    port: u16,
    _profiles: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver, or None (after saying why) when it is missing.
    async fn start(test: &str) -> Option<Driver> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: Chromium/chromedriver are missing in CI (.ci/run installs them)"
            );
            eprintln!("{test}: SKIPPED: {CHROMIUM} or {CHROMEDRIVER} not installed (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let process = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(Driver {
            process,
            port,
            _profiles: tempfile::tempdir().expect("profiles dir"),
        })
    }

    /// A new browser window with a fresh profile (cookies of its own).
    async fn browser(&self) -> Client {
        let profile = tempfile::Builder::new()
            .tempdir_in(self._profiles.path())
            .expect("profile")
            .keep();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        // chromedriver speaks plain HTTP; the TLS stack only needs a provider
        // chosen, as two are linked in (ring and aws-lc).
        let _ = rustls::crypto::ring::default_provider().install_default();
        ClientBuilder::rustls()
            .expect("tls")
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Every page ran under the Content-Security-Policy without breaking it:
/// Chromium reports each violation to `/csp-report`, which the server
/// counts in `/metrics`.
async fn assert_no_csp_violations(app: &TestApp) {
    // Reports are sent in the background; give them time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let line = metrics
        .lines()
        .find(|line| line.starts_with("ecommerce_csp_violations_total"))
        .expect("the CSP counter is exported");
    assert!(line.ends_with(" 0"), "the pages broke their CSP: {line}");
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(artifacts().join(format!("{name}.png")), png).expect("save screenshot");
}

/// Evaluates `expression` in the page until it is truthy (or fails after WAIT).
async fn wait_until(browser: &Client, what: &str, expression: &str) {
    let script = format!("return Boolean({expression});");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if browser.execute(&script, vec![]).await.ok() == Some(Value::Bool(true)) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let page = browser.source().await.unwrap_or_default();
            panic!("waited {WAIT:?} for {what}; page:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Finds `css`, waiting up to WAIT for it to appear: on a loaded machine a
/// page can still be arriving when `goto` hands back. Fails with the page
/// it saw instead.
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    match browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(found) => found,
        Err(error) => {
            let url = browser.current_url().await.map(|u| u.to_string());
            let page = browser.source().await.unwrap_or_default();
            panic!("{css} did not appear within {WAIT:?} ({error}); at {url:?}, page:\n{page}");
        }
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    element(browser, css).await.text().await.expect("text")
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = element(browser, css).await;
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    element(browser, css).await.click().await.expect("click");
}

/// Whether a person sees the element (displayed: not hidden, not
/// `display: none`, in the layout), not merely whether it exists.
async fn visible(browser: &Client, css: &str) -> bool {
    browser
        .find(Locator::Css(css))
        .await
        .expect(css)
        .is_displayed()
        .await
        .expect("displayed?")
}

async fn join_chat(browser: &Client, app: &TestApp, email: &str) {
    browser.goto(&app.url("/chat")).await.expect("open /chat");
    fill(browser, "#email", email).await;
    click(browser, "#join-form button").await;
    wait_until(
        browser,
        "the online list",
        &format!("document.querySelector('#online').innerText.includes('{email}')"),
    )
    .await;
}

async fn log_in(browser: &Client, app: &TestApp, email: &str, password: &str) {
    browser.goto(&app.url("/login")).await.expect("open /login");
    fill(browser, "input[name=email]", email).await;
    fill(browser, "input[name=password]", password).await;
    click(browser, "form.stacked button").await;
    wait_until(
        browser,
        "the logged-in nav",
        "document.querySelector('#nav-profile') !== null",
    )
    .await;
}

#[actix_web::test]
async fn two_people_chat_in_the_browser() {
    let Some(driver) = Driver::start("two_people_chat_in_the_browser").await else {
        return;
    };
    let app = TestApp::spawn().await;
    let ana = driver.browser().await;
    let bob = driver.browser().await;

    join_chat(&ana, &app, "ana@example.com").await;
    join_chat(&bob, &app, "bob@example.com").await;
    wait_until(
        &ana,
        "bob's join notice",
        "document.querySelector('#messages').innerText.includes('bob@example.com joined')",
    )
    .await;
    assert!(
        text_of(&bob, "#online").await.contains("ana@example.com"),
        "bob sees ana online"
    );

    fill(&ana, "#message", "hello from ana").await;
    click(&ana, "#message-form button").await;
    for browser in [&ana, &bob] {
        wait_until(
            browser,
            "ana's message",
            "document.querySelector('#messages').innerText.includes('hello from ana')",
        )
        .await;
    }

    let script = "<script>window.pwned = true</script><img src=x onerror=\"window.pwned = true\">";
    fill(&bob, "#message", script).await;
    click(&bob, "#message-form button").await;
    for browser in [&ana, &bob] {
        wait_until(
            browser,
            "the script shown as text",
            "document.querySelector('#messages').innerText.includes('<script>window.pwned')",
        )
        .await;
        let pwned = browser
            .execute("return window.pwned === true;", vec![])
            .await
            .unwrap();
        assert_eq!(pwned, Value::Bool(false), "user text never runs");
    }
    screenshot(&ana, "chat-ana").await;
    screenshot(&bob, "chat-bob").await;

    bob.close().await.expect("close bob's browser");
    wait_until(
        &ana,
        "bob's leave notice",
        "document.querySelector('#messages').innerText.includes('bob@example.com left')",
    )
    .await;
    screenshot(&ana, "chat-after-bob-left").await;
    ana.close().await.expect("close");
    assert_no_csp_violations(&app).await;
}

#[actix_web::test]
async fn the_realtime_page_follows_rest_and_its_own_form() {
    let Some(driver) = Driver::start("the_realtime_page_follows_rest_and_its_own_form").await else {
        return;
    };
    let app = TestApp::spawn().await;
    let admin = driver.browser().await;
    let viewer = driver.browser().await;
    log_in(&admin, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for browser in [&admin, &viewer] {
        browser
            .goto(&app.url("/realtimeproducts"))
            .await
            .expect("open page");
        wait_until(
            browser,
            "the live badge",
            "document.querySelector('#connection').innerText === 'live'",
        )
        .await;
    }

    let mut body = product("REST-1");
    body["title"] = json!("Made in Postman");
    app.create_product(&body).await;
    for browser in [&admin, &viewer] {
        wait_until(
            browser,
            "the REST product",
            "document.querySelector('#product-list').innerText.includes('Made in Postman')",
        )
        .await;
    }

    fill(&admin, "#create-form input[name=title]", "Made on the page").await;
    fill(
        &admin,
        "#create-form input[name=description]",
        "typed in the form",
    )
    .await;
    fill(&admin, "#create-form input[name=code]", "FORM-1").await;
    fill(&admin, "#create-form input[name=price]", "12.5").await;
    fill(&admin, "#create-form input[name=stock]", "3").await;
    fill(&admin, "#create-form input[name=category]", "forms").await;
    click(&admin, "#create-form button").await;
    wait_until(
        &viewer,
        "the form's product",
        "document.querySelector('#product-list').innerText.includes('Made on the page')",
    )
    .await;
    let (_, list) = app.get_json("/api/products?q=made%20on%20the%20page").await;
    assert_eq!(list["totalDocs"], 1, "the form's product is stored");
    screenshot(&viewer, "realtimeproducts-viewer").await;

    let id = list["payload"][0]["_id"].as_str().unwrap().to_owned();
    click(&admin, &format!("li[data-id='{id}'] button")).await;
    wait_until(
        &viewer,
        "the deletion",
        "!document.querySelector('#product-list').innerText.includes('Made on the page')",
    )
    .await;
    assert_eq!(app.get_json(&format!("/api/products/{id}")).await.0, 404);
    screenshot(&admin, "realtimeproducts-admin").await;
    admin.close().await.expect("close");
    viewer.close().await.expect("close");
    assert_no_csp_violations(&app).await;
}

#[actix_web::test]
async fn every_page_renders_in_the_browser() {
    let Some(driver) = Driver::start("every_page_renders_in_the_browser").await else {
        return;
    };
    let app = TestApp::spawn().await;
    for i in 1..=3 {
        let mut body = product(&format!("PAGE-{i}"));
        body["title"] = json!(format!("Catalog item {i}"));
        app.create_product(&body).await;
    }
    let browser = driver.browser().await;
    for (name, path) in [("home", "/"), ("login", "/login"), ("register", "/register")] {
        browser.goto(&app.url(path)).await.expect("open");
        wait_until(&browser, "the nav", "document.querySelector('nav.nav') !== null").await;
        screenshot(&browser, name).await;
    }
    log_in(&browser, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&app.url("/products")).await.expect("catalog");
    click(&browser, ".add-to-cart").await;
    wait_until(
        &browser,
        "the cart link",
        "!document.querySelector('#cart-link').hidden",
    )
    .await;
    screenshot(&browser, "catalog").await;
    click(&browser, "#cart-link").await;
    wait_until(
        &browser,
        "the cart line",
        "document.querySelectorAll('#cart-lines tr').length === 1",
    )
    .await;
    wait_until(
        &browser,
        "the live cart",
        "document.querySelector('#connection').innerText === 'live'",
    )
    .await;
    screenshot(&browser, "cart").await;

    // A change from elsewhere (an API client) shows up on the open cart page.
    let cart = browser
        .execute("return document.querySelector('#cart').dataset.id;", vec![])
        .await
        .unwrap();
    let cart = cart.as_str().unwrap().to_owned();
    let (_, products) = app.get_json("/api/products?limit=3").await;
    let second = products["payload"][1]["_id"].as_str().unwrap();
    app.post_json(
        &format!("/api/carts/{cart}/product/{second}"),
        &json!({"quantity": 2}),
    )
    .await;
    wait_until(
        &browser,
        "the live cart update",
        "document.querySelectorAll('#cart-lines tr').length === 2",
    )
    .await;

    browser.goto(&app.url("/api/docs")).await.expect("api docs");
    wait_until(
        &browser,
        "Swagger UI showing every operation",
        "document.querySelectorAll('.opblock').length > 20",
    )
    .await;
    screenshot(&browser, "api-docs").await;

    browser.goto(&app.url("/profile")).await.expect("profile");
    wait_until(
        &browser,
        "the profile",
        &format!("document.body.innerText.includes('{ADMIN_EMAIL}')"),
    )
    .await;
    screenshot(&browser, "profile").await;

    // The old spelling reaches the page; an unknown page is the 404 page.
    browser
        .goto(&app.url("/realTimeProducts/"))
        .await
        .expect("old spelling");
    wait_until(
        &browser,
        "the live list",
        "document.querySelector('#connection').dataset.state === 'live'",
    )
    .await;
    browser.goto(&app.url("/no/such/page")).await.expect("404");
    assert!(visible(&browser, "nav.nav").await, "the 404 page has the nav");
    assert!(text_of(&browser, "body")
        .await
        .contains("there is no page at /no/such/page"));
    screenshot(&browser, "not-found").await;
    browser.goto(&app.url("/logout")).await.expect("logout page");
    assert!(visible(&browser, "#logout").await, "a button to log out");
    screenshot(&browser, "logout").await;
    browser.close().await.expect("close");
    assert_no_csp_violations(&app).await;
}

/// What a person sees on /chat before and after joining, and after the
/// server restarts under the open page: it says it is reconnecting, keeps
/// what was typed meanwhile, comes back by itself, rejoins, sends the kept
/// message and shows everything posted while it was away (more than the
/// 50 the history frame carries).
#[actix_web::test]
async fn the_chat_page_comes_back_by_itself_after_a_server_restart() {
    let Some(driver) = Driver::start("the_chat_page_comes_back_by_itself_after_a_server_restart").await
    else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let (data, uploads) = (temp.path().join("data"), temp.path().join("uploads"));
    let port = free_port();
    let server = ServerProcess::start(&data, &uploads, port);
    let address = server.address.clone();
    let page = driver.browser().await;
    page.goto(&format!("{address}/chat")).await.expect("open /chat");

    // Before joining: only the e-mail form shows.
    assert!(visible(&page, "#join-form").await, "the join form shows");
    for hidden in ["#chat-panel", "#message-form", "#online", "#me", "#leave"] {
        assert!(
            !visible(&page, hidden).await,
            "{hidden} must not show before joining"
        );
    }
    screenshot(&page, "chat-before-join").await;
    fill(&page, "#email", "ana@free.test").await;
    click(&page, "#join-form button").await;
    wait_until(
        &page,
        "the live badge",
        "document.querySelector('#connection').dataset.state === 'live'",
    )
    .await;
    wait_until(
        &page,
        "ana online",
        "document.querySelector('#online').innerText.includes('ana@free.test')",
    )
    .await;
    for shown in ["#chat-panel", "#message-form", "#online", "#me"] {
        assert!(visible(&page, shown).await, "{shown} shows once joined");
    }
    assert!(
        !visible(&page, "#join-form").await,
        "the join form is gone once joined"
    );
    assert_eq!(text_of(&page, "#me").await, "ana@free.test");

    // The server stops (SIGTERM: 1001) and the page says it is reconnecting.
    let exit = server.terminate().await;
    assert!(exit.success(), "{exit:?}");
    wait_until(
        &page,
        "the reconnecting state",
        "document.querySelector('#connection').dataset.state === 'offline' \
         && document.querySelector('#connection').innerText.includes('reconnecting')",
    )
    .await;
    fill(&page, "#message", "typed while offline").await;
    click(&page, "#message-form button").await;
    wait_until(
        &page,
        "the kept message",
        "document.querySelector('#messages li.pending') !== null",
    )
    .await;
    screenshot(&page, "chat-offline").await;

    // Back on the same port; 60 messages are posted before the page is back.
    let server = ServerProcess::start(&data, &uploads, port);
    let client = reqwest::Client::new();
    for i in 0..60 {
        let body = json!({"user": "bob@free.test", "message": format!("away {i}")});
        let response = client
            .post(format!("{address}/api/messages"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    wait_until(
        &page,
        "live again",
        "document.querySelector('#connection').dataset.state === 'live'",
    )
    .await;
    wait_until(
        &page,
        "every message posted while away",
        "[...document.querySelectorAll('#messages li.message')].map((li) => li.innerText).join('\\n').includes('away 0') \
         && document.querySelector('#messages').innerText.includes('away 59')",
    )
    .await;
    wait_until(
        &page,
        "the kept message sent",
        "document.querySelector('#messages li.pending') === null \
         && document.querySelector('#messages').innerText.includes('typed while offline')",
    )
    .await;
    let shown: Value = page
        .execute(
            "return document.querySelectorAll('#messages li.message').length;",
            vec![],
        )
        .await
        .expect("count");
    assert_eq!(shown, json!(61), "every message once, none twice");
    screenshot(&page, "chat-after-restart").await;
    let history: Value = client
        .get(format!("{address}/api/messages?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts = message_texts(&history["payload"]);
    // Sent once the page was back: stored exactly once (where, among the 60,
    // depends on how soon the page reconnected).
    let kept = texts
        .iter()
        .filter(|text| **text == "typed while offline")
        .count();
    assert_eq!(kept, 1, "the kept message is stored once: {texts:?}");
    page.close().await.expect("close");
    let metrics = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ecommerce_csp_violations_total 0"), "{metrics}");
    drop(server);
}

#[actix_web::test]
async fn a_course_style_socket_io_page_updates_live() {
    let Some(driver) = Driver::start("a_course_style_socket_io_page_updates_live").await else {
        return;
    };
    let app = TestApp::spawn().await;
    app.create_product(&product("SIO-PAGE-0")).await;
    let browser = driver.browser().await;
    // Plain socket.io-client code: io(), socket.on(...), the bundle from
    // /socket.io/socket.io.js.
    browser
        .goto(&app.url("/assets/examples/socketio.html"))
        .await
        .expect("open the page");
    wait_until(
        &browser,
        "the connection",
        "document.querySelector('#status').innerText === 'connected'",
    )
    .await;
    wait_until(
        &browser,
        "the snapshot",
        "document.querySelector('#products').innerText.includes('Product SIO-PAGE-0')",
    )
    .await;
    let mut body = product("SIO-PAGE-1");
    body["title"] = json!("Sent from Postman");
    let created = app.create_product(&body).await;
    wait_until(
        &browser,
        "the new product",
        "document.querySelector('#products').innerText.includes('Sent from Postman')",
    )
    .await;
    let id = created["_id"].as_str().expect("id");
    wait_until(
        &browser,
        "the update_products notice",
        &format!("document.querySelector('#updates').innerText.includes('product created: {id}')"),
    )
    .await;
    assert!(
        visible(&browser, "#products li[data-id]").await,
        "the list is shown"
    );
    // A deletion disappears from the page.
    app.delete(&format!("/api/products/{id}")).await;
    wait_until(
        &browser,
        "the deletion",
        "!document.querySelector('#products').innerText.includes('Sent from Postman')",
    )
    .await;
    assert!(text_of(&browser, "#updates").await.contains("product deleted"));
    screenshot(&browser, "socketio-course-page").await;
    browser.close().await.expect("close");
    assert_no_csp_violations(&app).await;
}
