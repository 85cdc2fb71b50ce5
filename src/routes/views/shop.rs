//! The shop's pages: home, catalog, product, cart, realtime products, chat.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{respond, signed_in, HtmlPages};
use crate::auth;
use crate::domain::{parse_id, ProductQuery};
use crate::routes::api::products::{ListParams, ProductPage};
use crate::routes::extractors::PageViewer;
use crate::state::AppState;
use crate::store::{ask_store, GetCart, GetProduct, ListProducts};

/// `/`: the product list.
pub async fn home(state: web::Data<AppState>, PageViewer(viewer): PageViewer) -> HttpResponse {
    let page = async {
        let query = ProductQuery::first_page(state.settings.catalog.max_page_size);
        let page = ask_store(&state.store, ListProducts { query }).await?;
        let data = json!({ "products": page.items, "total": page.total, "shown": page.items.len() });
        Ok(state.views.page(viewer.as_ref(), "home", "Products", data))
    };
    respond(&state, viewer.as_ref(), page.await)
}

/// `/products`: the paginated catalog, with the API's query parameters.
pub async fn catalog(
    request: HttpRequest,
    state: web::Data<AppState>,
    PageViewer(viewer): PageViewer,
    params: web::Query<ListParams>,
) -> HttpResponse {
    let page = async {
        let user = signed_in(viewer.clone(), &request)?;
        let settings = &state.settings.catalog;
        let query = params.parse(settings.default_page_size, settings.max_page_size)?;
        let page = ask_store(&state.store, ListProducts { query: query.clone() }).await?;
        let page = ProductPage::new(&request, "", &query, page);
        let data = json!({ "page": page, "params": params.into_inner() });
        Ok(state.views.page(Some(&user), "products", "Catalog", data))
    };
    respond(&state, viewer.as_ref(), page.await)
}

/// `/products/:pid`: one product.
pub async fn product(
    request: HttpRequest,
    state: web::Data<AppState>,
    PageViewer(viewer): PageViewer,
    pid: web::Path<String>,
) -> HttpResponse {
    let page = async {
        let user = signed_in(viewer.clone(), &request)?;
        let id = parse_id("pid", &pid)?;
        let product = ask_store(&state.store, GetProduct { id }).await?;
        let title = product.title.clone();
        Ok(state
            .views
            .page(Some(&user), "product", &title, json!({ "product": product })))
    };
    respond(&state, viewer.as_ref(), page.await)
}

/// `/carts/:cid`: the cart's lines and totals, for its owner (or an
/// admin); kept live by `cart:watch`.
pub async fn cart(
    request: HttpRequest,
    state: web::Data<AppState>,
    PageViewer(viewer): PageViewer,
    cid: web::Path<String>,
) -> HttpResponse {
    let page = async {
        let user = signed_in(viewer.clone(), &request)?;
        let id = parse_id("cid", &cid)?;
        auth::authorize_cart(&state.store, &state.accounts, Some(&user), id).await?;
        let cart = ask_store(&state.store, GetCart { id }).await?;
        let lines: Vec<Value> = cart
            .products
            .iter()
            .map(|line| {
                let subtotal = line.product.price * f64::from(line.quantity.get());
                json!({ "product": line.product, "quantity": line.quantity, "subtotal": subtotal })
            })
            .collect();
        let data = json!({ "cart": cart, "lines": lines, "total": cart.total() });
        Ok(state.views.page(Some(&user), "cart", "Cart", data))
    };
    respond(&state, viewer.as_ref(), page.await)
}

/// `/realtimeproducts`: the live list and the create/delete form; the page's
/// script talks to `/ws/products`.
pub async fn realtime_products(state: web::Data<AppState>, PageViewer(viewer): PageViewer) -> HttpResponse {
    state.views.page(
        viewer.as_ref(),
        "realTimeProducts",
        "Realtime products",
        json!({}),
    )
}

/// `/chat`: asks for an e-mail (or uses the logged-in user's), then the live
/// chat over `/ws/chat`.
pub async fn chat(state: web::Data<AppState>, PageViewer(viewer): PageViewer) -> HttpResponse {
    let data = json!({ "maxMessageChars": state.settings.chat.max_message_chars });
    state.views.page(viewer.as_ref(), "chat", "Chat", data)
}
