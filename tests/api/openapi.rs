//! The OpenAPI description matches the running API: every documented
//! operation is routed, and the documented schemas have exactly the fields
//! real responses have.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{json_of, product, TestApp};

fn schema_fields(spec: &Value, name: &str) -> BTreeSet<String> {
    spec["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} is documented"))
        .keys()
        .cloned()
        .collect()
}

fn fields(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::spawn().await;
    let (status, spec) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    let id = "65f0a0a0a0a0a0a0a0a0a0a0";
    let mut operations = 0;
    for (path, methods) in spec["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{pid}", id)
            .replace("{cid}", id)
            .replace("{uid}", id);
        for method in methods.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !body.contains("no route for"),
                "{method} {path} is documented but not routed: {body}"
            );
            operations += 1;
        }
    }
    assert!(operations >= 22, "only {operations} operations documented");
}

#[actix_web::test]
async fn documented_schemas_match_real_responses() {
    let app = TestApp::spawn().await;
    let (_, spec) = app.get_json("/api/openapi.json").await;

    let created = app.create_product(&product("DOC-1")).await;
    assert_eq!(fields(&created), schema_fields(&spec, "Product"));
    let (_, page) = app.get_json("/api/products").await;
    assert_eq!(fields(&page), schema_fields(&spec, "ProductPageResponse"));

    let (_, cart) = app.post_json("/api/carts", &json!({})).await;
    let cart_id = cart["payload"]["_id"].as_str().unwrap();
    let (_, cart) = app
        .post_json(
            &format!(
                "/api/carts/{cart_id}/product/{}",
                created["_id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(fields(&cart["payload"]), schema_fields(&spec, "Cart"));
    assert_eq!(
        fields(&cart["payload"]["products"][0]),
        schema_fields(&spec, "CartLine")
    );

    let (_, message) = app.post_json("/api/messages", &json!({"message": "hi"})).await;
    assert_eq!(fields(&message["payload"]), schema_fields(&spec, "Message"));

    let (_, user) = json_of(
        app.client
            .get(app.url("/api/sessions/current"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fields(&user["payload"]), schema_fields(&spec, "User"));
    let (_, error) = app.get_json("/api/products/nope").await;
    assert_eq!(fields(&error), schema_fields(&spec, "ErrorResponse"));
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary_and_reads_the_description() {
    let app = TestApp::spawn().await;
    let bare = app.get("/api/docs").await;
    assert_eq!(bare.status(), 308, "/api/docs leads to the UI");
    assert_eq!(bare.headers()["location"], "/api/docs/");
    let response = app.get("/api/docs/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let initializer = app.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    let script = initializer.text().await.unwrap();
    assert!(script.contains("/api/openapi.json"), "{script}");
    let bundle = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the bundle is vendored, not a stub"
    );
}
