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
    let (status, _) = app
        .post_json("/api/products", &crate::helpers::product("X1"))
        .await;
    assert_eq!(status, 503);
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["details"]["reachable"], false);
    // Bad input is still refused as bad input, before the store is asked.
    let (status, _) = app.get_json("/api/products/nothex").await;
    assert_eq!(status, 400);
}
