//! `POST /api/products/:pid/upload`: images only, size-limited, stored
//! under UPLOADS_DIR with generated names, served from /uploads.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{json_of, product, TestApp};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

fn form(name: &str, bytes: &[u8], mime: &str) -> Form {
    Form::new().part(
        "thumbnails",
        Part::bytes(bytes.to_vec())
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    )
}

async fn upload(app: &TestApp, id: &str, form: Form) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/products/{id}/upload")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    json_of(response).await
}

fn uploaded_files(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(&app.uploads_dir)
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn an_uploaded_image_is_saved_served_and_broadcast() {
    let app = TestApp::spawn().await;
    let created = app.create_product(&product("IMG")).await;
    let id = created["_id"].as_str().unwrap();
    let mut client = app.ws("/ws/products").await;
    client.expect_event("products").await;

    let (status, body) = upload(&app, id, form("../../evil.png", PNG, "image/png")).await;
    assert_eq!(status, 200, "{body}");
    let thumbnails = body["payload"]["thumbnails"].as_array().unwrap();
    assert_eq!(thumbnails.len(), 1);
    let url = thumbnails[0].as_str().unwrap();
    assert!(url.starts_with("/uploads/") && url.ends_with(".png"), "{url}");
    assert!(!url.contains("evil"), "the client's file name is not used: {url}");
    assert_eq!(uploaded_files(&app).len(), 1);

    let served = app.get(url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);

    let updated = client.expect_event("product:updated").await;
    assert_eq!(updated["thumbnails"], body["payload"]["thumbnails"]);
}

#[actix_web::test]
async fn non_images_oversized_files_and_unknown_products_are_refused() {
    let app = TestApp::spawn_with(|s| s.uploads.max_file_bytes = 1024).await;
    let created = app.create_product(&product("IMG2")).await;
    let id = created["_id"].as_str().unwrap();

    // Declared as PNG, but it is a script: refused by its bytes.
    let (status, body) = upload(&app, id, form("x.png", b"<svg onload=alert(1)>", "image/png")).await;
    assert_eq!(status, 415, "{body}");
    let mut big = PNG.to_vec();
    big.resize(4096, 0);
    let (status, body) = upload(&app, id, form("big.png", &big, "image/png")).await;
    assert_eq!(status, 413, "{body}");
    let (status, body) = upload(&app, id, Form::new().text("note", "no file")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = upload(&app, "65f0a0a0a0a0a0a0a0a0a0a0", form("a.png", PNG, "image/png")).await;
    assert_eq!(status, 404);
    let (status, _) = upload(&app, "bad", form("a.png", PNG, "image/png")).await;
    assert_eq!(status, 400);

    assert!(
        uploaded_files(&app).is_empty(),
        "nothing written: {:?}",
        uploaded_files(&app)
    );
    let (_, body) = app.get_json(&format!("/api/products/{id}")).await;
    assert_eq!(body["payload"]["thumbnails"], serde_json::json!([]));
}
