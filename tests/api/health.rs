use crate::helpers::{mongodb_uri, TestApp};

#[actix_web::test]
async fn health_reports_a_reachable_store() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 200, "{body}");
    let expected = if mongodb_uri().is_some() {
        "mongodb"
    } else {
        "embedded"
    };
    assert_eq!(body["payload"]["store"], expected);
    assert_eq!(body["payload"]["reachable"], true);
}

/// MongoDB down: requests get 503 JSON, the server itself keeps answering.
#[actix_web::test]
async fn unreachable_mongodb_gives_503_not_a_crash() {
    // Port 1 on loopback: nothing listens, connections are refused.
    let app = TestApp::spawn_with(|settings| {
        settings.store.mongodb_uri = "mongodb://127.0.0.1:1/?directConnection=true".to_owned();
        settings.store.mongodb_timeout_ms = 300;
    })
    .await;
    let (status, body) = app.get_json("/api/products").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "error");
    assert!(
        !body["error"].as_str().unwrap().contains("127.0.0.1"),
        "driver detail leaked: {body}"
    );
    let (status, _) = app.get_json("/api/messages").await;
    assert_eq!(status, 503);
    // Whether accounts exist is unknown: product writes stay protected.
    let (status, _) = app
        .post_json("/api/products", &crate::helpers::product("X1"))
        .await;
    assert_eq!(status, 401);
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["details"]["reachable"], false);
    // Bad input is still refused as bad input, before the store is asked.
    let (status, _) = app.get_json("/api/products/nothex").await;
    assert_eq!(status, 400);
}

/// MongoDB comes back: the same running server answers again. Needs a
/// MongoDB (`TEST_MONGODB_URI`); the outage is a proxy that is not there yet.
#[actix_web::test]
async fn the_server_recovers_when_mongodb_returns() {
    let Some(uri) = mongodb_uri() else {
        eprintln!("the_server_recovers_when_mongodb_returns: SKIPPED (set TEST_MONGODB_URI to run it)");
        return;
    };
    let upstream = uri
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .expect("host:port in TEST_MONGODB_URI")
        .to_owned();
    // A free port with nothing listening yet: MongoDB is "down".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|settings| {
        settings.store.mongodb_uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
        settings.users.login_attempts_per_email = 1000;
        settings.store.mongodb_timeout_ms = 500;
    })
    .await;
    assert_eq!(app.get_json("/api/products").await.0, 503);

    // MongoDB "returns": a proxy to the real one starts on that port.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    actix_web::rt::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            actix_web::rt::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    let mut status = 0;
    for _ in 0..40 {
        status = app.get_json("/api/products").await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, 200, "the server answers again once MongoDB is back");
    // The admin is created once the store answers (retried in the background).
    let mut login = 0;
    for _ in 0..40 {
        login = app
            .log_in(
                &app.client,
                crate::helpers::ADMIN_EMAIL,
                crate::helpers::ADMIN_PASSWORD,
            )
            .await;
        if login == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(login, 200, "the admin can log in once MongoDB is back");
    let created = app.create_product(&crate::helpers::product("BACK")).await;
    assert_eq!(created["code"], "BACK");
}

/// A TCP proxy to `upstream` on a free port, that `cut` takes down (its
/// listener and every connection), as a MongoDB outage would.
struct Proxy {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        actix_web::rt::spawn(async move {
            let mut stop = watch.clone();
            loop {
                tokio::select! {
                    _ = stop.wait_for(|cut| *cut) => return,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { return };
                        let (upstream, mut stop) = (upstream.clone(), watch.clone());
                        actix_web::rt::spawn(async move {
                            if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                    _ = stop.wait_for(|cut| *cut) => {}
                                }
                            }
                        });
                    }
                }
            }
        });
        Proxy { port, cut }
    }
}

/// A logged-in user's chat does not need the store: with MongoDB cut off,
/// the upgrade still succeeds and the user joins as their account.
#[actix_web::test]
async fn logged_in_users_keep_chatting_while_mongodb_is_down() {
    let Some(uri) = mongodb_uri() else {
        eprintln!(
            "logged_in_users_keep_chatting_while_mongodb_is_down: SKIPPED (set TEST_MONGODB_URI to run it)"
        );
        return;
    };
    let upstream = uri
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .expect("host:port in TEST_MONGODB_URI")
        .to_owned();
    let proxy = Proxy::start(upstream).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(move |settings| {
        settings.store.mongodb_uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
        settings.store.mongodb_timeout_ms = 500;
    })
    .await;
    assert_eq!(
        app.get_json("/api/sessions/current").await.0,
        200,
        "the admin is logged in"
    );
    let _ = proxy.cut.send(true);
    assert_eq!(app.get_json("/api/products").await.0, 503, "MongoDB is down");

    let mut chat = app.ws_as_admin("/ws/chat").await;
    chat.send_event("join", serde_json::json!({})).await;
    let (first, _) = chat.next_event().await;
    assert!(first == "history" || first == "error", "{first}");
    let presence = chat.expect_event("presence").await;
    assert_eq!(
        presence["users"],
        serde_json::json!([crate::helpers::ADMIN_EMAIL])
    );
}
