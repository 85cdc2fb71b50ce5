//! `/api/carts`: every route, the stock and quantity rules, populate,
//! concurrency, the live `cart:updated` event, and the cart pages.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{product, TestApp};

async fn new_cart(app: &TestApp) -> String {
    let (status, body) = app.post_json("/api/carts", &json!({})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["payload"]["products"], json!([]));
    body["payload"]["_id"].as_str().unwrap().to_owned()
}

async fn stocked(app: &TestApp, code: &str, stock: u32) -> Value {
    let mut body = product(code);
    body["stock"] = json!(stock);
    app.create_product(&body).await
}

fn quantities(cart: &Value) -> Vec<(String, u64)> {
    cart["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["product"]["code"].as_str().unwrap().to_owned(),
                line["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn post_empty(app: &TestApp, path: &str) -> (u16, Value) {
    crate::helpers::json_of(app.client.post(app.url(path)).send().await.unwrap()).await
}

#[actix_web::test]
async fn lines_are_added_incremented_and_read_populated() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 10).await;
    let cup = stocked(&app, "CUP", 10).await;
    let (mug_id, cup_id) = (mug["_id"].as_str().unwrap(), cup["_id"].as_str().unwrap());

    let (status, body) = post_empty(&app, &format!("/api/carts/{cart}/product/{mug_id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        quantities(&body["payload"]),
        [("MUG".to_owned(), 1)],
        "no body adds one"
    );
    let (_, body) = app
        .post_json(
            &format!("/api/carts/{cart}/products/{mug_id}"),
            &json!({"quantity": 3}),
        )
        .await;
    assert_eq!(
        quantities(&body["payload"]),
        [("MUG".to_owned(), 4)],
        "/products/ alias, increments the line"
    );
    app.post_json(
        &format!("/api/carts/{cart}/product/{cup_id}"),
        &json!({"quantity": 2}),
    )
    .await;

    let (status, body) = app.get_json(&format!("/api/carts/{cart}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["payload"]["_id"], cart.as_str());
    assert_eq!(
        body["payload"]["products"][0]["product"], mug,
        "the product is populated"
    );
    assert_eq!(
        quantities(&body["payload"]),
        [("MUG".to_owned(), 4), ("CUP".to_owned(), 2)]
    );
}

#[actix_web::test]
async fn quantities_are_set_lines_removed_and_carts_emptied() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 10).await;
    let cup = stocked(&app, "CUP", 10).await;
    let (mug_id, cup_id) = (mug["_id"].as_str().unwrap(), cup["_id"].as_str().unwrap());
    app.post_json(&format!("/api/carts/{cart}/product/{mug_id}"), &json!({}))
        .await;

    let (status, body) = app
        .put_json(
            &format!("/api/carts/{cart}/product/{mug_id}"),
            &json!({"quantity": 7}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(quantities(&body["payload"]), [("MUG".to_owned(), 7)]);
    let (_, body) = app
        .put_json(
            &format!("/api/carts/{cart}/products/{cup_id}"),
            &json!({"quantity": 2}),
        )
        .await;
    assert_eq!(
        quantities(&body["payload"]),
        [("MUG".to_owned(), 7), ("CUP".to_owned(), 2)],
        "PUT adds a missing line"
    );

    let (status, body) = app.delete(&format!("/api/carts/{cart}/product/{mug_id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(quantities(&body["payload"]), [("CUP".to_owned(), 2)]);
    let (status, body) = app.delete(&format!("/api/carts/{cart}/product/{mug_id}")).await;
    assert_eq!(status, 404, "not in the cart any more: {body}");

    let (status, body) = app.delete(&format!("/api/carts/{cart}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["products"], json!([]));
    assert_eq!(
        app.get_json(&format!("/api/carts/{cart}")).await.0,
        200,
        "an emptied cart still exists"
    );
}

#[actix_web::test]
async fn replacing_lines_validates_every_line() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 5).await;
    let cup = stocked(&app, "CUP", 5).await;
    let (mug_id, cup_id) = (mug["_id"].as_str().unwrap(), cup["_id"].as_str().unwrap());
    let path = format!("/api/carts/{cart}");

    let (status, body) = app
        .put_json(
            &path,
            &json!({"products": [{"product": cup_id, "quantity": 2}, {"product": mug_id, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        quantities(&body["payload"]),
        [("CUP".to_owned(), 2), ("MUG".to_owned(), 1)]
    );

    let unknown = "65f0a0a0a0a0a0a0a0a0a0a0";
    for (lines, expected, field) in [
        (
            json!([{"product": mug_id, "quantity": 0}]),
            400,
            Some("products[0].quantity"),
        ),
        (
            json!([{"product": mug_id, "quantity": 1}, {"product": "nope", "quantity": 1}]),
            400,
            Some("products[1].product"),
        ),
        (
            json!([{"product": mug_id, "quantity": 1}, {"product": mug_id, "quantity": 1}]),
            400,
            Some("products[1].product"),
        ),
        (json!({"products": "all"}), 400, Some("products")),
        (json!([{"product": unknown, "quantity": 1}]), 404, None),
        (json!([{"product": mug_id, "quantity": 6}]), 409, None),
    ] {
        let (status, body) = app.put_json(&path, &lines).await;
        assert_eq!(status, expected, "{lines}: {body}");
        if let Some(field) = field {
            assert_eq!(body["details"]["field"], field);
        }
    }
    let (_, body) = app.get_json(&path).await;
    assert_eq!(
        quantities(&body["payload"]),
        [("CUP".to_owned(), 2), ("MUG".to_owned(), 1)],
        "refused replacements change nothing"
    );
}

#[actix_web::test]
async fn stock_quantity_and_id_rules() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 3).await;
    let mug_id = mug["_id"].as_str().unwrap();
    let unknown = "65f0a0a0a0a0a0a0a0a0a0a0";
    let line = format!("/api/carts/{cart}/product/{mug_id}");

    let (status, _) = app.post_json(&line, &json!({"quantity": 3})).await;
    assert_eq!(status, 200);
    let (status, body) = app.post_json(&line, &json!({"quantity": 1})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("stock"), "{body}");
    assert_eq!(app.put_json(&line, &json!({"quantity": 4})).await.0, 409);

    for quantity in [json!(0), json!(-2), json!(1.5), json!("2"), json!(null)] {
        let (status, body) = app.post_json(&line, &json!({ "quantity": quantity })).await;
        assert_eq!(status, 400, "POST quantity {quantity}: {body}");
        assert_eq!(body["details"]["field"], "quantity");
        assert_eq!(
            app.put_json(&line, &json!({ "quantity": quantity })).await.0,
            400,
            "PUT {quantity}"
        );
    }
    assert_eq!(app.put_json(&line, &json!({})).await.0, 400);

    for (path, expected) in [
        (format!("/api/carts/{unknown}/product/{mug_id}"), 404),
        (format!("/api/carts/{cart}/product/{unknown}"), 404),
        (format!("/api/carts/bad/product/{mug_id}"), 400),
        (format!("/api/carts/{cart}/product/bad"), 400),
    ] {
        assert_eq!(post_empty(&app, &path).await.0, expected, "POST {path}");
        assert_eq!(
            app.put_json(&path, &json!({"quantity": 1})).await.0,
            expected,
            "PUT {path}"
        );
        assert_eq!(app.delete(&path).await.0, expected, "DELETE {path}");
    }
    for (path, expected) in [
        (format!("/api/carts/{unknown}"), 404),
        ("/api/carts/bad".to_owned(), 400),
    ] {
        assert_eq!(app.get_json(&path).await.0, expected, "GET {path}");
        assert_eq!(app.put_json(&path, &json!([])).await.0, expected, "PUT {path}");
        assert_eq!(app.delete(&path).await.0, expected, "DELETE {path}");
    }
    let (_, body) = app.get_json(&format!("/api/carts/{cart}")).await;
    assert_eq!(quantities(&body["payload"]), [("MUG".to_owned(), 3)]);
}

#[actix_web::test]
async fn a_deleted_product_drops_out_of_the_cart() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 3).await;
    let cup = stocked(&app, "CUP", 3).await;
    for id in [&mug["_id"], &cup["_id"]] {
        app.post_json(
            &format!("/api/carts/{cart}/product/{}", id.as_str().unwrap()),
            &json!({}),
        )
        .await;
    }
    app.delete(&format!("/api/products/{}", mug["_id"].as_str().unwrap()))
        .await;
    let (status, body) = app.get_json(&format!("/api/carts/{cart}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(quantities(&body["payload"]), [("CUP".to_owned(), 1)]);
    let page = app.get(&format!("/carts/{cart}")).await;
    assert_eq!(page.status(), 200);
}

#[actix_web::test]
async fn fifty_concurrent_adds_all_count() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 1000).await;
    let path = format!("/api/carts/{cart}/product/{}", mug["_id"].as_str().unwrap());
    let adds = (0..50).map(|_| {
        let request = app.client.post(app.url(&path)).json(&json!({"quantity": 2}));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(adds).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, body) = app.get_json(&format!("/api/carts/{cart}")).await;
    assert_eq!(quantities(&body["payload"]), [("MUG".to_owned(), 100)]);
}

#[actix_web::test]
async fn concurrent_adds_never_exceed_the_stock() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 10).await;
    let path = format!("/api/carts/{cart}/product/{}", mug["_id"].as_str().unwrap());
    let adds = (0..30).map(|_| {
        let request = app.client.post(app.url(&path)).json(&json!({"quantity": 1}));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(adds).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 20, "{statuses:?}");
    let (_, body) = app.get_json(&format!("/api/carts/{cart}")).await;
    assert_eq!(quantities(&body["payload"]), [("MUG".to_owned(), 10)]);
}

#[actix_web::test]
async fn a_watched_cart_is_pushed_live_on_every_change() {
    let app = TestApp::spawn().await;
    let cart = new_cart(&app).await;
    let other_cart = new_cart(&app).await;
    let mug = stocked(&app, "MUG", 5).await;
    let mug_id = mug["_id"].as_str().unwrap();
    // The admin may watch any cart (owners: see the security tests).
    let mut page = app.ws_as_admin("/ws/products").await;
    page.expect_event("products").await;
    page.send_event("cart:watch", json!({"_id": cart})).await;
    let mut bystander = app.ws("/ws/products").await;
    bystander.expect_event("products").await;
    // cart:watch is processed before the next change reaches the feed.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (_, body) = app
        .post_json(
            &format!("/api/carts/{cart}/product/{mug_id}"),
            &json!({"quantity": 2}),
        )
        .await;
    let update = page.expect_event("cart:updated").await;
    assert_eq!(update, body["payload"]);
    assert_eq!(quantities(&update), [("MUG".to_owned(), 2)]);

    app.post_json(&format!("/api/carts/{other_cart}/product/{mug_id}"), &json!({}))
        .await;
    app.delete(&format!("/api/carts/{cart}")).await;
    let update = page.expect_event("cart:updated").await;
    assert_eq!(
        update["products"],
        json!([]),
        "only the watched cart's changes arrive"
    );
    bystander.expect_silence(Duration::from_millis(200)).await;

    page.send_event("cart:watch", json!({"_id": "nope"})).await;
    assert_eq!(page.expect_event("error").await["field"], "_id");
}

#[actix_web::test]
async fn catalog_detail_and_cart_pages_render() {
    let app = TestApp::spawn().await;
    for i in 0..12 {
        let mut body = product(&format!("C{i:02}"));
        body["title"] = json!(format!("Item <{i}>"));
        body["price"] = json!(i);
        app.create_product(&body).await;
    }
    let html = app
        .get("/products?limit=5&page=2&sort=desc")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Item &lt;6&gt;") && html.contains("Item &lt;2&gt;"),
        "{html}"
    );
    assert!(!html.contains("Item &lt;7&gt;") && !html.contains("Item &lt;1&gt;"));
    // Handlebars escapes `=` and `&` in attributes; browsers decode them.
    let links = html.replace("&#x3D;", "=").replace("&amp;", "&");
    assert!(
        links.contains(r#"href="/products?limit=5&sort=desc&page=1""#),
        "prev link: {html}"
    );
    assert!(
        links.contains(r#"href="/products?limit=5&sort=desc&page=3""#),
        "next link"
    );
    assert_eq!(html.matches("class=\"add-to-cart\"").count(), 5);
    assert_eq!(app.get("/products?limit=zero").await.status(), 400);

    let (_, list) = app.get_json("/api/products?limit=1").await;
    let id = list["payload"][0]["_id"].as_str().unwrap();
    let detail = app.get(&format!("/products/{id}")).await;
    assert_eq!(detail.status(), 200);
    assert!(detail.text().await.unwrap().contains("Item &lt;0&gt;"));
    assert_eq!(app.get("/products/65f0a0a0a0a0a0a0a0a0a0a0").await.status(), 404);

    let cart = new_cart(&app).await;
    app.post_json(
        &format!("/api/carts/{cart}/product/{id}"),
        &json!({"quantity": 2}),
    )
    .await;
    let html = app.get(&format!("/carts/{cart}")).await.text().await.unwrap();
    assert!(
        html.contains("Item &lt;0&gt;") && html.contains(r#"value="2""#),
        "{html}"
    );
    assert!(html.contains(r#"id="cart-total">$0.00"#), "{html}");
    assert_eq!(app.get("/carts/65f0a0a0a0a0a0a0a0a0a0a0").await.status(), 404);
}
