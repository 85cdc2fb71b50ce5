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
