//! The Handlebars pages: layout with nav, escaped user text, static assets.

use crate::helpers::{product, TestApp};

async fn page(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    response.text().await.unwrap()
}

#[actix_web::test]
async fn home_lists_products_with_user_text_escaped() {
    let app = TestApp::spawn().await;
    let mut body = product("ESC");
    body["title"] = serde_json::json!("<script>alert('x')</script>");
    app.create_product(&body).await;
    let html = page(&app, "/").await;
    assert!(html.contains(r#"<nav class="nav">"#), "layout with nav");
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "user text is never raw HTML");
}

#[actix_web::test]
async fn realtime_page_and_its_assets_are_served() {
    let app = TestApp::spawn().await;
    let html = page(&app, "/realtimeproducts").await;
    assert!(html.contains(r#"<nav class="nav">"#));
    assert!(html.contains("/assets/js/realtimeproducts.js"));
    assert!(html.contains(r#"id="create-form""#));
    for asset in ["/assets/js/realtimeproducts.js", "/assets/css/style.css"] {
        assert_eq!(app.get(asset).await.status(), 200, "{asset}");
    }
}

#[actix_web::test]
async fn chat_page_is_served_with_its_script() {
    let app = TestApp::spawn().await;
    let html = page(&app, "/chat").await;
    assert!(html.contains(r#"id="join-form""#) && html.contains("/assets/js/chat.js"));
    assert_eq!(app.get("/assets/js/chat.js").await.status(), 200);
}
