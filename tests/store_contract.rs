//! The store contract: every scenario runs against every backend, the
//! embedded one always and MongoDB when `TEST_MONGODB_URI` is set (each
//! scenario in a fresh database), so both behave the same to clients.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ecommerce::domain::{Id, NewProduct, ProductPatch, ProductQuery, SortOrder};
use ecommerce::store::embedded::EmbeddedBackend;
use ecommerce::store::mongo::MongoBackend;
use ecommerce::store::{Backend, StoreError};
use serde_json::json;

/// Runs `scenario` on each backend, naming the backend if it fails.
async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(Arc<dyn Backend>) -> Fut,
    Fut: Future<Output = ()>,
{
    let temp = tempfile::tempdir().unwrap();
    let embedded = EmbeddedBackend::open(temp.path()).expect("embedded store opens");
    scenario(Arc::new(embedded)).await;

    match std::env::var("TEST_MONGODB_URI")
        .ok()
        .filter(|uri| !uri.is_empty())
    {
        Some(uri) => {
            let database = format!("contract_{}", uuid::Uuid::new_v4().simple());
            let mongo = MongoBackend::connect(&uri, &database, Duration::from_secs(5))
                .await
                .expect("MongoDB backend connects");
            eprintln!("store contract: running on MongoDB ({uri}, database {database})");
            scenario(Arc::new(mongo)).await;
        }
        None => eprintln!("store contract: MongoDB run SKIPPED (set TEST_MONGODB_URI to run it)"),
    }
}

fn new_product(code: &str, price: f64, stock: u32, category: &str) -> NewProduct {
    NewProduct::parse(&json!({
        "title": format!("Title {code}"),
        "description": "d",
        "code": code,
        "price": price,
        "stock": stock,
        "category": category,
    }))
    .expect("valid product")
}

async fn create(
    backend: &Arc<dyn Backend>,
    code: &str,
    price: f64,
    stock: u32,
    category: &str,
) -> ecommerce::domain::Product {
    let product = new_product(code, price, stock, category).into_product(Id::new(), ecommerce::domain::now());
    backend.create_product(product).await.expect("created")
}

#[tokio::test]
async fn created_products_read_back_identically() {
    on_every_backend(|backend| async move {
        backend.ping().await.expect("ping");
        let created = create(&backend, "A", 1.25, 3, "cat").await;
        let read = backend.get_product(created.id).await.expect("read");
        assert_eq!(read, created, "{}", backend.name());
    })
    .await;
}

#[tokio::test]
async fn codes_are_unique_on_create_and_update() {
    on_every_backend(|backend| async move {
        create(&backend, "SAME", 1.0, 1, "c").await;
        let other = create(&backend, "OTHER", 1.0, 1, "c").await;
        let duplicate = new_product("SAME", 2.0, 1, "c").into_product(Id::new(), ecommerce::domain::now());
        assert!(
            matches!(
                backend.create_product(duplicate).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            backend.name()
        );
        let patch = ProductPatch::parse(&json!({"code": "SAME"})).unwrap();
        assert!(matches!(
            backend.update_product(other.id, patch).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(backend.get_product(other.id).await.unwrap().code, "OTHER");
    })
    .await;
}

#[tokio::test]
async fn missing_documents_are_not_found() {
    on_every_backend(|backend| async move {
        let id = Id::new();
        assert_eq!(
            backend.get_product(id).await,
            Err(StoreError::NotFound("product"))
        );
        let patch = ProductPatch::parse(&json!({"price": 1})).unwrap();
        assert_eq!(
            backend.update_product(id, patch).await,
            Err(StoreError::NotFound("product"))
        );
        assert_eq!(
            backend.delete_product(id).await,
            Err(StoreError::NotFound("product"))
        );
        assert_eq!(
            backend.add_thumbnails(id, vec!["/x.png".into()]).await,
            Err(StoreError::NotFound("product"))
        );
    })
    .await;
}

#[tokio::test]
async fn updates_change_only_the_given_fields() {
    on_every_backend(|backend| async move {
        let created = create(&backend, "U", 5.0, 5, "c").await;
        let patch = ProductPatch::parse(&json!({"stock": 0, "status": false})).unwrap();
        let updated = backend.update_product(created.id, patch).await.unwrap();
        assert_eq!((updated.stock, updated.status), (0, false));
        assert_eq!(
            (updated.title.as_str(), updated.price),
            (created.title.as_str(), created.price)
        );
        assert_eq!(updated.created_at, created.created_at);
        assert!(updated.updated_at >= created.updated_at);
        assert_eq!(backend.get_product(created.id).await.unwrap(), updated);

        let with_images = backend
            .add_thumbnails(created.id, vec!["/uploads/a.png".into(), "/uploads/b.png".into()])
            .await
            .unwrap();
        let again = backend
            .add_thumbnails(created.id, vec!["/uploads/c.png".into()])
            .await
            .unwrap();
        assert_eq!(with_images.thumbnails.len(), 2);
        assert_eq!(
            again.thumbnails,
            vec!["/uploads/a.png", "/uploads/b.png", "/uploads/c.png"]
        );

        backend.delete_product(created.id).await.unwrap();
        assert_eq!(
            backend.get_product(created.id).await,
            Err(StoreError::NotFound("product"))
        );
    })
    .await;
}

#[tokio::test]
async fn listings_filter_sort_and_page_the_same_way() {
    on_every_backend(|backend| async move {
        // Equal prices check the tie-break (insertion order).
        let specs = [
            ("a", 3.0, 1, "x"),
            ("b", 1.0, 0, "y"),
            ("c", 2.0, 4, "x"),
            ("d", 2.0, 0, "x"),
            ("e", 5.0, 9, "y"),
        ];
        let mut ids = Vec::new();
        for (code, price, stock, category) in specs {
            ids.push(create(&backend, code, price, stock, category).await.id);
        }
        let codes =
            |items: Vec<ecommerce::domain::Product>| items.into_iter().map(|p| p.code).collect::<Vec<_>>();

        let page = backend
            .list_products(&ProductQuery::first_page(10))
            .await
            .unwrap();
        assert_eq!(
            (codes(page.items), page.total),
            (
                vec!["a", "b", "c", "d", "e"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                5
            )
        );

        let mut query = ProductQuery::first_page(2);
        query.sort = Some(SortOrder::PriceAscending);
        query.page = 2;
        assert_eq!(
            codes(backend.list_products(&query).await.unwrap().items),
            ["d", "a"]
        );
        query.sort = Some(SortOrder::PriceDescending);
        query.page = 1;
        assert_eq!(
            codes(backend.list_products(&query).await.unwrap().items),
            ["e", "a"]
        );

        let mut query = ProductQuery::first_page(10);
        query.category = Some("x".into());
        query.available = Some(true);
        let page = backend.list_products(&query).await.unwrap();
        assert_eq!(
            (codes(page.items), page.total),
            (vec!["a".to_owned(), "c".to_owned()], 2)
        );

        let mut query = ProductQuery::first_page(10);
        query.available = Some(false);
        assert_eq!(
            codes(backend.list_products(&query).await.unwrap().items),
            ["b", "d"]
        );

        let mut query = ProductQuery::first_page(10);
        query.title_contains = Some("TITLE E".into());
        assert_eq!(codes(backend.list_products(&query).await.unwrap().items), ["e"]);
        query.title_contains = Some("t.*".into());
        assert_eq!(backend.list_products(&query).await.unwrap().total, 0);

        let newest = backend.newest_products(3).await.unwrap();
        assert_eq!(codes(newest), ["e", "d", "c"]);
    })
    .await;
}

#[tokio::test]
async fn messages_are_stored_and_public_ones_paged_newest_first() {
    use ecommerce::domain::{Email, NewMessage};
    on_every_backend(|backend| async move {
        let ana = Email::parse("user", "ana@example.com").unwrap();
        let mut saved = Vec::new();
        for (text, to) in [
            ("one", None),
            ("secret", Some("bob@example.com")),
            ("two", None),
            ("three", None),
        ] {
            let data = json!({"message": text, "to": to});
            let message = NewMessage::parse(ana.clone(), &data, 100).unwrap();
            let stored = backend
                .save_message(message.into_message(Id::new(), ecommerce::domain::now()))
                .await
                .expect("saved");
            saved.push(stored);
        }
        let texts = |items: Vec<ecommerce::domain::ChatMessage>| {
            items.into_iter().map(|m| m.message).collect::<Vec<_>>()
        };
        let newest = backend.recent_messages(10, None).await.unwrap();
        assert_eq!(newest[0], saved[3], "{}: read back identically", backend.name());
        assert_eq!(
            texts(newest),
            ["three", "two", "one"],
            "direct messages are not public history"
        );
        assert_eq!(
            texts(backend.recent_messages(2, None).await.unwrap()),
            ["three", "two"]
        );
        assert_eq!(
            texts(backend.recent_messages(10, Some(saved[2].id)).await.unwrap()),
            ["one"]
        );
    })
    .await;
}

#[tokio::test]
async fn carts_respect_stock_and_count_every_concurrent_add() {
    use ecommerce::domain::{CartItems, Quantity};
    on_every_backend(|backend| async move {
        let name = backend.name();
        let cart = backend.create_cart(None).await.unwrap();
        assert_eq!(backend.cart_owner(cart.id).await.unwrap(), None, "{name}");
        let owner = Id::new();
        let owned = backend.create_cart(Some(owner)).await.unwrap();
        assert_eq!(backend.cart_owner(owned.id).await.unwrap(), Some(owner), "{name}");
        assert!(
            matches!(
                backend.cart_owner(Id::new()).await,
                Err(StoreError::NotFound("cart"))
            ),
            "{name}"
        );
        let mug = create(&backend, "MUG", 2.5, 40, "k").await;
        let cup = create(&backend, "CUP", 1.0, 1, "k").await;
        let one = Quantity::parse("q", &json!(1)).unwrap();
        let two = Quantity::parse("q", &json!(2)).unwrap();

        let adds = (0..20).map(|_| backend.add_to_cart(cart.id, mug.id, two));
        let results = futures_util::future::join_all(adds).await;
        assert!(results.iter().all(Result::is_ok), "{name}: {results:?}");
        let read = backend.get_cart(cart.id).await.unwrap();
        assert_eq!(read.products.len(), 1, "{name}: one line per product");
        assert_eq!(read.products[0].quantity.get(), 40, "{name}: every add counted");
        assert!(
            matches!(
                backend.add_to_cart(cart.id, mug.id, one).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );

        backend.add_to_cart(cart.id, cup.id, one).await.unwrap();
        let read = backend.get_cart(cart.id).await.unwrap();
        assert_eq!(
            read.products
                .iter()
                .map(|l| l.product.code.as_str())
                .collect::<Vec<_>>(),
            ["MUG", "CUP"]
        );
        assert_eq!(read.total(), 101.0);

        backend.delete_product(cup.id).await.unwrap();
        let read = backend.get_cart(cart.id).await.unwrap();
        assert_eq!(
            read.products.len(),
            1,
            "{name}: a deleted product's line is left out"
        );

        let items = CartItems::parse(&json!([{"product": mug.id.to_hex(), "quantity": 3}])).unwrap();
        let replaced = backend.replace_cart(cart.id, items).await.unwrap();
        assert_eq!(replaced.products[0].quantity.get(), 3);
        let set = backend.set_cart_quantity(cart.id, mug.id, two).await.unwrap();
        assert_eq!(set.products[0].quantity.get(), 2);
        assert_eq!(
            backend.remove_from_cart(cart.id, cup.id).await,
            Err(StoreError::NotFound("cart line"))
        );
        assert!(backend
            .remove_from_cart(cart.id, mug.id)
            .await
            .unwrap()
            .products
            .is_empty());
        assert_eq!(
            backend.clear_cart(Id::new()).await,
            Err(StoreError::NotFound("cart"))
        );
        assert_eq!(
            backend.get_cart(Id::new()).await,
            Err(StoreError::NotFound("cart"))
        );
        assert_eq!(
            backend.add_to_cart(cart.id, Id::new(), one).await,
            Err(StoreError::NotFound("product"))
        );
    })
    .await;
}

#[tokio::test]
async fn users_have_unique_emails_and_read_back_identically() {
    use ecommerce::domain::{Email, Role, StoredUser, User};
    on_every_backend(|backend| async move {
        let name = backend.name();
        assert!(!backend.any_users().await.unwrap(), "{name}");
        let user = |email: &str, role| StoredUser {
            user: User {
                id: Id::new(),
                first_name: "Ana".into(),
                last_name: "López".into(),
                email: Email::parse("email", email).unwrap(),
                age: 31,
                role,
                cart: Id::new(),
            },
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        };
        let ana = user("ana@example.com", Role::User);
        let created = backend.create_user(ana.clone()).await.unwrap();
        assert_eq!(created, ana.user);
        assert!(backend.any_users().await.unwrap());
        assert!(!backend.any_admin().await.unwrap(), "{name}: only a user so far");
        let admin = backend
            .create_user(user("admin@example.com", Role::Admin))
            .await
            .unwrap();
        assert!(
            matches!(
                backend.create_user(user("ana@example.com", Role::User)).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );

        let found = backend
            .find_user_by_email(&ana.user.email)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(found, ana, "{name}: the hash is stored and read back");
        assert_eq!(backend.get_user(admin.id).await.unwrap().role, Role::Admin);
        assert!(backend.any_admin().await.unwrap(), "{name}");
        let listed: Vec<String> = backend
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.email.to_string())
            .collect();
        assert_eq!(listed, ["ana@example.com", "admin@example.com"]);

        backend.delete_user(ana.user.id).await.unwrap();
        assert_eq!(
            backend.get_user(ana.user.id).await,
            Err(StoreError::NotFound("user"))
        );
        assert_eq!(
            backend.delete_user(ana.user.id).await,
            Err(StoreError::NotFound("user"))
        );
        assert!(backend
            .find_user_by_email(&ana.user.email)
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn listings_reflect_every_write_at_once() {
    on_every_backend(|backend| async move {
        let query = ProductQuery::first_page(10);
        let product = create(&backend, "L1", 1.0, 1, "c").await;
        assert_eq!(
            backend.list_products(&query).await.unwrap().items,
            vec![product.clone()]
        );
        // Read twice (a cached answer, where there is a cache), then change.
        backend.list_products(&query).await.unwrap();
        let patch = ProductPatch::parse(&json!({"price": 7})).unwrap();
        let updated = backend.update_product(product.id, patch).await.unwrap();
        assert_eq!(
            backend.list_products(&query).await.unwrap().items,
            vec![updated],
            "{}",
            backend.name()
        );
        let with_image = backend
            .add_thumbnails(product.id, vec!["/uploads/x.png".into()])
            .await
            .unwrap();
        assert_eq!(
            backend.list_products(&query).await.unwrap().items,
            vec![with_image]
        );
        let second = create(&backend, "L2", 2.0, 1, "c").await;
        assert_eq!(backend.list_products(&query).await.unwrap().total, 2);
        backend.delete_product(second.id).await.unwrap();
        assert_eq!(backend.list_products(&query).await.unwrap().total, 1);
    })
    .await;
}

#[tokio::test]
async fn login_sessions_are_kept_until_they_expire() {
    on_every_backend(|backend| async move {
        let name = backend.name();
        let now = ecommerce::domain::now();
        let later = now + chrono::Duration::minutes(30);
        assert_eq!(backend.load_session("k1", now).await.unwrap(), None, "{name}");
        backend
            .save_session("k1", r#"{"user_id":"a"}"#, later)
            .await
            .unwrap();
        assert_eq!(
            backend.load_session("k1", now).await.unwrap().as_deref(),
            Some(r#"{"user_id":"a"}"#),
            "{name}"
        );
        backend
            .save_session("k1", r#"{"user_id":"b"}"#, later)
            .await
            .unwrap();
        assert_eq!(
            backend.load_session("k1", now).await.unwrap().as_deref(),
            Some(r#"{"user_id":"b"}"#),
            "{name}: saving again replaces"
        );
        // Past its expiry a session is gone; touching moves the expiry.
        let after_expiry = later + chrono::Duration::seconds(1);
        assert_eq!(
            backend.load_session("k1", after_expiry).await.unwrap(),
            None,
            "{name}"
        );
        backend
            .touch_session("k1", after_expiry + chrono::Duration::minutes(5))
            .await
            .unwrap();
        assert!(
            backend.load_session("k1", after_expiry).await.unwrap().is_some(),
            "{name}"
        );
        backend.delete_session("k1").await.unwrap();
        assert_eq!(backend.load_session("k1", now).await.unwrap(), None, "{name}");
    })
    .await;
}
