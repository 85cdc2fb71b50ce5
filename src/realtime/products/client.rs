//! The product feed as one connection uses it, whatever its transport:
//! receiving the feed, `product:create` and `product:delete` (the REST
//! API's rule: an admin once accounts exist), and `cart:watch` (the cart
//! rule: its owner or an admin). Plain `/ws/products` sessions and
//! Socket.IO's `/products` namespace both drive a `ProductClient`.

use std::sync::Arc;

use actix::prelude::*;
use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::feed::{ProductFeed, Subscribe, Unsubscribe, WatchCart};
use crate::auth::{authorize_cart, may_write_products, Accounts};
use crate::domain::{parse_id, Id, NewProduct, User, ValidationError};
use crate::realtime::endpoint::{Endpoint, Step};
use crate::realtime::outbound::{next_session_id, Outbound, SessionId};
use crate::realtime::reply::{Outcome, Refusal};
use crate::store::{ask_store, CreateProduct, DeleteProduct, MongoStore};

/// What every product endpoint of an HTTP worker shares: one `Arc`, so a
/// session holds a pointer, not its own addresses.
pub struct ProductShared {
    pub feed: Addr<ProductFeed>,
    pub store: Addr<MongoStore>,
    pub accounts: Arc<Accounts>,
}

pub struct ProductClient {
    id: SessionId,
    shared: Arc<ProductShared>,
    /// Who opened the connection (from the session cookie at the handshake).
    viewer: Option<User>,
    /// Where the feed resumes from when it opens (`?since=`).
    since: Option<String>,
    /// The cart watched (`cart:watch`), once the watch is in place.
    watching: Option<Id>,
}

/// What a write or a watch waited for: its outcome, and the cart now
/// watched if it was a watch.
pub struct Done {
    outcome: Outcome,
    watching: Option<Id>,
}

impl From<Outcome> for Done {
    fn from(outcome: Outcome) -> Done {
        Done {
            outcome,
            watching: None,
        }
    }
}

impl ProductClient {
    pub fn new(shared: Arc<ProductShared>, viewer: Option<User>) -> ProductClient {
        ProductClient {
            id: next_session_id(),
            shared,
            viewer,
            since: None,
            watching: None,
        }
    }

    /// The cart this connection watches, if any.
    pub fn watching(&self) -> Option<Id> {
        self.watching
    }

    /// Receives the changes after `since` instead of a snapshot, if they
    /// are still kept (`/ws/products?since=`).
    pub fn resuming_from(mut self, since: Option<String>) -> ProductClient {
        self.since = since;
        self
    }
}

impl Endpoint for ProductClient {
    type Resume = Done;

    /// Starts receiving the feed: the snapshot, then every change.
    fn open(&mut self, session: Recipient<Outbound>) {
        self.shared.feed.do_send(Subscribe {
            id: self.id,
            session,
            since: self.since.take(),
        });
    }

    /// Stops receiving the feed.
    fn close(&mut self) {
        self.shared.feed.do_send(Unsubscribe { id: self.id });
    }

    fn resume(&mut self, done: Done, _: impl FnOnce() -> Recipient<Outbound>) -> Step<Done> {
        if done.watching.is_some() {
            self.watching = done.watching;
        }
        Step::Done(done.outcome)
    }

    /// Writes wait for the store before the connection's next event runs;
    /// their success reaches every client through the feed.
    fn on_event(&mut self, event: &str, data: &Value, _: impl FnOnce() -> Recipient<Outbound>) -> Step<Done> {
        match event {
            "product:create" | "product:delete" => {
                if let Err(refusal) = may_write_products(&self.shared.accounts, self.viewer.as_ref()) {
                    return Step::Done(Err(refusal.into()));
                }
                let store = self.shared.store.clone();
                if event == "product:create" {
                    match NewProduct::parse(data) {
                        Ok(product) => Step::Wait(
                            async move {
                                let created = ask_store(&store, CreateProduct { product }).await;
                                Done::from(created.map(|product| json!(product)).map_err(Refusal::from))
                            }
                            .boxed_local(),
                        ),
                        Err(error) => Step::Done(Err(error.into())),
                    }
                } else {
                    match parse_target(data) {
                        Ok(id) => Step::Wait(
                            async move {
                                let deleted = ask_store(&store, DeleteProduct { id }).await;
                                Done::from(deleted.map(|_| json!({ "_id": id.to_hex() })).map_err(Refusal::from))
                            }
                            .boxed_local(),
                        ),
                        Err(error) => Step::Done(Err(error.into())),
                    }
                }
            }
            "cart:watch" => match parse_target(data).and_then(|cart| Ok((cart, parse_since(data)?))) {
                Ok((cart, since)) => {
                    let (store, accounts) = (self.shared.store.clone(), self.shared.accounts.clone());
                    let (viewer, feed, id) = (self.viewer.clone(), self.shared.feed.clone(), self.id);
                    Step::Wait(
                        async move {
                            match authorize_cart(&store, &accounts, viewer.as_ref(), cart).await {
                                Ok(()) => {
                                    feed.do_send(WatchCart { id, cart, since });
                                    Done {
                                        outcome: Ok(json!({ "_id": cart.to_hex() })),
                                        watching: Some(cart),
                                    }
                                }
                                Err(refusal) => Done::from(Err(Refusal::new(format!(
                                    "cart:watch refused: {}",
                                    refusal.client_message()
                                )))),
                            }
                        }
                        .boxed_local(),
                    )
                }
                Err(error) => Step::Done(Err(error.into())),
            },
            other => Step::Done(Err(Refusal::unknown_event(format!(
                "unknown event {other:?}: the product feed accepts product:create, product:delete and cart:watch"
            )))),
        }
    }
}

#[derive(Deserialize)]
struct IdRequest {
    #[serde(rename = "_id")]
    id: String,
}

/// The offset a `cart:watch` resumes from (`{"_id", "since"}`), if any.
fn parse_since(data: &Value) -> Result<Option<String>, ValidationError> {
    match data.get("since") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(since)) => Ok(Some(since.clone())),
        Some(_) => Err(ValidationError::new(
            "since",
            "an offset is a string, as the server sent it",
        )),
    }
}

/// The `{"_id": "<id>"}` data of `product:delete` and `cart:watch`.
fn parse_target(data: &Value) -> Result<Id, ValidationError> {
    let request = IdRequest::deserialize(data)
        .map_err(|_| ValidationError::new("_id", r#"this event needs {"_id": "<id>"}"#))?;
    parse_id("_id", &request.id)
}
