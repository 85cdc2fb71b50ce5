//! The products REST API: CRUD, validation, pagination and filters.

use serde_json::{json, Value};

use crate::helpers::{product, TestApp};

#[actix_web::test]
async fn create_get_update_delete_round_trip() {
    let app = TestApp::spawn().await;
    let created = app.create_product(&product("RT-1")).await;
    let id = created["_id"].as_str().expect("_id");
    assert_eq!(id.len(), 24);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(created["status"], true, "status defaults to true");
    assert_eq!(created["thumbnails"], json!([]));
    assert!(created["createdAt"].is_string());

    let (status, body) = app.get_json(&format!("/api/products/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["payload"], created);

    let (status, body) = app
        .put_json(&format!("/api/products/{id}"), &json!({"price": 99, "stock": 0}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["price"], 99.0);
    assert_eq!(body["payload"]["stock"], 0);
    assert_eq!(
        body["payload"]["title"], created["title"],
        "other fields unchanged"
    );
    assert_eq!(body["payload"]["_id"], created["_id"]);

    let (status, body) = app.delete(&format!("/api/products/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get_json(&format!("/api/products/{id}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["status"], "error");
}

#[actix_web::test]
async fn invalid_products_are_refused_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Value)> = vec![
        ("title", json!("")),
        ("title", json!(42)),
        ("description", json!("  ")),
        ("code", json!(null)),
        ("price", json!(-0.01)),
        ("price", json!("12")),
        ("stock", json!(2.5)),
        ("stock", json!(-1)),
        ("status", json!("true")),
        ("category", json!([])),
        ("thumbnails", json!("one.png")),
        ("thumbnails", json!(["javascript:alert(1)"])),
        ("_id", json!("65f000000000000000000000")),
        ("colour", json!("red")),
    ];
    for (field, value) in cases {
        let mut body = product("BAD-1");
        body[field] = value.clone();
        let (status, response) = app.post_json("/api/products", &body).await;
        assert_eq!(status, 400, "{field}={value}: {response}");
        assert_eq!(response["status"], "error");
        assert_eq!(response["details"]["field"], field, "{response}");
        assert!(response["error"].as_str().unwrap().contains(field), "{response}");
    }
    for missing in ["title", "description", "code", "price", "stock", "category"] {
        let mut body = product("BAD-2");
        body.as_object_mut().unwrap().remove(missing);
        let (status, response) = app.post_json("/api/products", &body).await;
        assert_eq!(status, 400, "without {missing}: {response}");
        assert_eq!(response["details"]["field"], missing);
    }
    assert_eq!(app.product_count().await, 0);
}

#[actix_web::test]
async fn malformed_bodies_get_json_errors() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/products"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::helpers::json_of(response).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "error");

    let response = app
        .client
        .post(app.url("/api/products"))
        .body("title=x")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::helpers::json_of(response).await;
    assert_eq!(status, 415, "{body}");

    let (status, body) = app.post_json("/api/products", &json!([1, 2])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"]["field"], "body");

    let (status, body) = app.get_json("/api/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "error");
    assert_eq!(app.product_count().await, 0);
}

#[actix_web::test]
async fn duplicate_codes_conflict_on_create_and_update() {
    let app = TestApp::spawn().await;
    app.create_product(&product("DUP")).await;
    let other = app.create_product(&product("OTHER")).await;

    let (status, body) = app.post_json("/api/products", &product("DUP")).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("DUP"));

    let id = other["_id"].as_str().unwrap();
    let (status, body) = app
        .put_json(&format!("/api/products/{id}"), &json!({"code": "DUP"}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (_, body) = app.get_json(&format!("/api/products/{id}")).await;
    assert_eq!(
        body["payload"]["code"], "OTHER",
        "a refused update changes nothing"
    );
    assert_eq!(app.product_count().await, 2);
}

#[actix_web::test]
async fn bad_ids_are_400_and_unknown_ids_404() {
    let app = TestApp::spawn().await;
    let unknown = "65f0a0a0a0a0a0a0a0a0a0a0";
    for path in ["/api/products/123", "/api/products/zzzzzzzzzzzzzzzzzzzzzzzz"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let (status, _) = app.put_json(path, &json!({"price": 1})).await;
        assert_eq!(status, 400);
        let (status, _) = app.delete(path).await;
        assert_eq!(status, 400);
    }
    let path = format!("/api/products/{unknown}");
    assert_eq!(app.get_json(&path).await.0, 404);
    assert_eq!(app.put_json(&path, &json!({"price": 1})).await.0, 404);
    assert_eq!(app.delete(&path).await.0, 404);
}

#[actix_web::test]
async fn updates_are_partial_and_validated() {
    let app = TestApp::spawn().await;
    let created = app.create_product(&product("UPD")).await;
    let path = format!("/api/products/{}", created["_id"].as_str().unwrap());
    for (body, field) in [
        (json!({"_id": "65f0a0a0a0a0a0a0a0a0a0a0"}), "_id"),
        (json!({"price": -3}), "price"),
        (json!({"title": ""}), "title"),
        (json!({}), "body"),
    ] {
        let (status, response) = app.put_json(&path, &body).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert_eq!(response["details"]["field"], field);
    }
    let (_, body) = app.get_json(&path).await;
    assert_eq!(body["payload"], created, "refused updates change nothing");

    let (status, body) = app
        .put_json(&path, &json!({"status": false, "thumbnails": ["/uploads/a.png"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["status"], false);
    assert_eq!(body["payload"]["thumbnails"], json!(["/uploads/a.png"]));
    assert_eq!(body["payload"]["price"], created["price"]);
}

/// Fifteen products: prices 1..=15, categories alternating, every third
/// out of stock.
async fn seed_catalog(app: &TestApp) {
    for i in 1..=15 {
        let mut body = product(&format!("P{i:02}"));
        body["price"] = json!(i);
        body["category"] = json!(if i % 2 == 0 { "even" } else { "odd" });
        body["stock"] = json!(if i % 3 == 0 { 0 } else { i });
        body["title"] = json!(if i == 7 { "Lucky Seven Mug" } else { "Plain item" });
        app.create_product(&body).await;
    }
}

fn prices(body: &Value) -> Vec<f64> {
    body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price"].as_f64().unwrap())
        .collect()
}

#[actix_web::test]
async fn listing_paginates_with_links() {
    let app = TestApp::spawn().await;
    seed_catalog(&app).await;

    let (status, body) = app.get_json("/api/products").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["payload"].as_array().unwrap().len(),
        10,
        "default limit is 10"
    );
    assert_eq!(
        prices(&body),
        (1..=10).map(f64::from).collect::<Vec<_>>(),
        "insertion order"
    );
    assert_eq!(body["totalPages"], 2);
    assert_eq!(body["page"], 1);
    assert_eq!(body["hasPrevPage"], false);
    assert_eq!(body["prevPage"], Value::Null);
    assert_eq!(body["prevLink"], Value::Null);
    assert_eq!(body["hasNextPage"], true);
    assert_eq!(body["nextPage"], 2);
    assert_eq!(body["nextLink"], "/api/products?page=2");

    let (_, body) = app
        .get_json("/api/products?limit=4&page=2&sort=desc&query=odd")
        .await;
    assert_eq!(prices(&body), vec![7.0, 5.0, 3.0, 1.0]);
    assert_eq!(body["totalDocs"], 8);
    assert_eq!(body["totalPages"], 2);
    assert_eq!(body["hasNextPage"], false);
    assert_eq!(body["nextLink"], Value::Null);
    assert_eq!(
        body["prevLink"],
        "/api/products?limit=4&sort=desc&query=odd&page=1"
    );

    let (_, body) = app.get_json("/api/products?page=9").await;
    assert_eq!(body["payload"], json!([]), "a page past the end is empty");
    assert_eq!(body["hasPrevPage"], true);
}

#[actix_web::test]
async fn listing_filters_and_sorts() {
    let app = TestApp::spawn().await;
    seed_catalog(&app).await;

    let (_, body) = app
        .get_json("/api/products?limit=100&sort=asc&query=available")
        .await;
    assert_eq!(
        prices(&body),
        vec![1.0, 2.0, 4.0, 5.0, 7.0, 8.0, 10.0, 11.0, 13.0, 14.0]
    );
    let (_, body) = app.get_json("/api/products?limit=100&query=unavailable").await;
    assert_eq!(prices(&body), vec![3.0, 6.0, 9.0, 12.0, 15.0]);
    let (_, body) = app
        .get_json("/api/products?limit=100&category=even&available=false")
        .await;
    assert_eq!(prices(&body), vec![6.0, 12.0]);
    let (_, body) = app.get_json("/api/products?limit=3&sort=desc").await;
    assert_eq!(prices(&body), vec![15.0, 14.0, 13.0]);
    let (_, body) = app.get_json("/api/products?q=lucky%20seven").await;
    assert_eq!(
        prices(&body),
        vec![7.0],
        "q matches title text, case-insensitively"
    );
    let (_, body) = app.get_json("/api/products?q=.*").await;
    assert_eq!(body["totalDocs"], 0, "q is literal text, not a pattern");
    let (_, body) = app.get_json("/api/products?query=nope").await;
    assert_eq!(body["totalDocs"], 0);
    assert_eq!(body["totalPages"], 1);
}

#[actix_web::test]
async fn listing_parameters_are_validated_and_limit_is_capped() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("page=-1", "page"),
        ("sort=sideways", "sort"),
        ("available=maybe", "available"),
    ] {
        let (status, body) = app.get_json(&format!("/api/products?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["details"]["field"], field);
    }
    let (status, body) = app.get_json("/api/products?limit=100000").await;
    assert_eq!(status, 200);
    assert_eq!(body["limit"], 100);
}
