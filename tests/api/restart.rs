//! The real binary, configured through its environment, keeps its data
//! across a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::helpers::{json_of, product};

/// Starts the server binary on a free port; returns it and its base URL,
/// read from the startup log line.
fn start_server(data_dir: &std::path::Path, uploads_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecommerce"))
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", data_dir)
        .env("UPLOADS_DIR", uploads_dir)
        .env("RUST_LOG", "info")
        .env_remove("MONGODB_URI")
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().expect("server log line").expect("readable log");
        if let Some(rest) = line.split("listening on ").nth(1) {
            assert!(line.contains("store: embedded"), "{line}");
            break rest.trim().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

#[actix_web::test]
async fn data_survives_a_restart_of_the_server() {
    let temp = tempfile::tempdir().unwrap();
    let (data, uploads) = (temp.path().join("data"), temp.path().join("uploads"));
    let client = reqwest::Client::new();

    let (mut first, address) = start_server(&data, &uploads);
    let response = client
        .post(format!("{address}/api/products"))
        .json(&product("KEEP"))
        .send()
        .await
        .unwrap();
    let (status, created) = json_of(response).await;
    assert_eq!(status, 201, "{created}");
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, address) = start_server(&data, &uploads);
    let id = created["payload"]["_id"].as_str().unwrap();
    let (status, body) = json_of(
        client
            .get(format!("{address}/api/products/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    second.kill().unwrap();
    let _ = second.wait();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"], created["payload"]);
}
