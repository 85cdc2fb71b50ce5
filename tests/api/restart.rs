//! The real binary, configured through its environment, keeps its data
//! across a restart.

use crate::helpers::{json_of, product, ServerProcess};

#[actix_web::test]
async fn data_survives_a_restart_of_the_server() {
    let temp = tempfile::tempdir().unwrap();
    let (data, uploads) = (temp.path().join("data"), temp.path().join("uploads"));
    let client = reqwest::Client::new();

    let first = ServerProcess::start(&data, &uploads, 0);
    let address = first.address.clone();
    let response = client
        .post(format!("{address}/api/products"))
        .json(&product("KEEP"))
        .send()
        .await
        .unwrap();
    let (status, created) = json_of(response).await;
    assert_eq!(status, 201, "{created}");
    drop(first); // killed: no graceful shutdown

    let second = ServerProcess::start(&data, &uploads, 0);
    let address = second.address.clone();
    let id = created["payload"]["_id"].as_str().unwrap();
    let (status, body) = json_of(
        client
            .get(format!("{address}/api/products/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    drop(second);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"], created["payload"]);
}

/// Login sessions are kept in the store: restarted with the same
/// `SESSION_KEY`, the server still knows who the cookie belongs to; logging
/// out still ends the session for good.
#[actix_web::test]
async fn a_login_survives_a_restart_of_the_server() {
    let temp = tempfile::tempdir().unwrap();
    let (data, uploads) = (temp.path().join("data"), temp.path().join("uploads"));
    let key = "k".repeat(64);
    let env = [
        ("SESSION_KEY", key.as_str()),
        ("ADMIN_EMAIL", "keeper@shop.test"),
        ("ADMIN_PASSWORD", "keeper-password"),
    ];
    let browser = crate::helpers::Browser::new();
    let first = ServerProcess::start_with(&data, &uploads, 0, &env);
    let address = first.address.clone();
    let login = browser
        .client
        .post(format!("{address}/api/sessions/login"))
        .json(&serde_json::json!({"email": "keeper@shop.test", "password": "keeper-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(first.terminate().await.success());

    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let second = ServerProcess::start_with(&data, &uploads, port, &env);
    let current = |client: &reqwest::Client| client.get(format!("{address}/api/sessions/current")).send();
    let (status, me) = json_of(current(&browser.client).await.unwrap()).await;
    assert_eq!(status, 200, "still logged in after the restart: {me}");
    assert_eq!(me["payload"]["email"], "keeper@shop.test");
    let logout = browser
        .client
        .post(format!("{address}/api/sessions/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(current(&browser.client).await.unwrap().status(), 401);
    drop(second);
}
