//! `ProductFeed`: owns the product-page sessions (plain `/ws/products` and
//! Socket.IO's `/products` and `/`) and broadcasts every committed product
//! change to them.
//!
//! A connecting session first gets a `products` snapshot (the newest
//! products). The snapshot is read from the store once and cached until the
//! next change, so a storm of connects costs one query, not one each. Changes
//! that arrive while a snapshot is being read are kept and replayed after it
//! (clients apply events idempotently by `_id`), so no session misses one.
//!
//! A session may also watch one cart (`cart:watch`): it then gets
//! `cart:updated` with the populated cart after every change to it.
//!
//! Socket.IO clients on the default namespace get the course's own event
//! instead: `update_products` (`{id, msg}`) after every product change.

use std::collections::HashMap;

use actix::prelude::*;
use prometheus::IntCounter;
use serde::Serialize;

use super::NAMESPACE;
use crate::domain::Id;
use crate::realtime::events::ForgetSnapshot;
use crate::realtime::outbound::{offer, Outbound, SessionId};
use crate::realtime::protocol::Frame;
use crate::store::{MongoStore, NewestProducts, StoreEvent};

pub struct ProductFeed {
    store: Addr<MongoStore>,
    /// Counts product broadcasts and cart updates.
    broadcasts: IntCounter,
    cart_updates: IntCounter,
    snapshot_size: u32,
    /// Sessions that have their snapshot and receive every change.
    live: HashMap<SessionId, Recipient<Outbound>>,
    /// Sessions waiting for the snapshot being read.
    waiting: Vec<(SessionId, Recipient<Outbound>)>,
    /// The catch-up a new session needs: snapshot, then changes since.
    catch_up: Option<Vec<Frame>>,
    /// Changes seen while a snapshot read is in flight; `None` when idle.
    changes_during_read: Option<Vec<Frame>>,
    /// Socket.IO sessions on the default namespace (`update_products`).
    update_listeners: HashMap<SessionId, Recipient<Outbound>>,
    /// Which sessions watch which cart, both ways.
    cart_watchers: HashMap<Id, Vec<SessionId>>,
    watched_cart: HashMap<SessionId, Id>,
}

/// A session wants `cart:updated` events for `cart` (replacing any cart it
/// watched before).
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchCart {
    pub id: SessionId,
    pub cart: Id,
}

/// A session asks to receive the feed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub id: SessionId,
    pub session: Recipient<Outbound>,
}

/// A Socket.IO session on the default namespace wants `update_products`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeUpdates {
    pub id: SessionId,
    pub session: Recipient<Outbound>,
}

/// A session is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub id: SessionId,
}

fn feed_event<T: Serialize>(event: &str, data: &T) -> Frame {
    Frame::event(event, data).in_namespace(NAMESPACE)
}

/// The course's `update_products` event: which product, and what happened.
#[derive(Serialize)]
struct ProductUpdate<'a> {
    #[serde(with = "crate::domain::id::hex")]
    id: Id,
    msg: &'a str,
}

#[derive(Serialize)]
struct DeletedProduct {
    #[serde(rename = "_id", with = "crate::domain::id::hex")]
    id: Id,
}

impl ProductFeed {
    pub fn new(
        store: Addr<MongoStore>,
        snapshot_size: u32,
        broadcasts: IntCounter,
        cart_updates: IntCounter,
    ) -> Self {
        ProductFeed {
            store,
            broadcasts,
            cart_updates,
            snapshot_size,
            live: HashMap::new(),
            waiting: Vec::new(),
            catch_up: None,
            changes_during_read: None,
            update_listeners: HashMap::new(),
            cart_watchers: HashMap::new(),
            watched_cart: HashMap::new(),
        }
    }

    /// Hands a session its catch-up frames and makes it live.
    fn admit(&mut self, id: SessionId, session: Recipient<Outbound>, frames: &[Frame]) {
        // The session's queue is empty at this point; it holds the catch-up
        // unless it is tiny, in which case the client is treated like any
        // other that cannot keep up.
        if !frames.iter().all(|frame| offer(&session, frame)) {
            return;
        }
        self.live.insert(id, session);
    }

    fn read_snapshot(&mut self, ctx: &mut Context<Self>) {
        if self.changes_during_read.is_some() {
            return; // a read is already in flight; its result serves everyone
        }
        self.changes_during_read = Some(Vec::new());
        let read = self.store.send(NewestProducts {
            limit: self.snapshot_size,
        });
        read.into_actor(self)
            .map(|result, feed, _| {
                let changes = feed.changes_during_read.take().unwrap_or_default();
                let (first, loaded) = match result {
                    Ok(Ok(products)) => (feed_event("products", &products), true),
                    Ok(Err(error)) => (
                        Frame::error(
                            format!("could not load products: {}", error.client_message()),
                            None,
                        )
                        .in_namespace(NAMESPACE),
                        false,
                    ),
                    Err(_) => (
                        Frame::error("could not load products: the store is not running", None)
                            .in_namespace(NAMESPACE),
                        false,
                    ),
                };
                let mut frames = vec![first];
                frames.extend(changes);
                for (id, session) in std::mem::take(&mut feed.waiting) {
                    feed.admit(id, session, &frames);
                }
                // A failed read is not cached: the next subscriber retries.
                if loaded {
                    feed.catch_up = Some(frames);
                }
            })
            .spawn(ctx);
    }

    fn broadcast(&mut self, frame: Frame, product: Id, what: &str) {
        if !self.update_listeners.is_empty() {
            let update = Frame::event(
                "update_products",
                &ProductUpdate {
                    id: product,
                    msg: what,
                },
            );
            self.update_listeners.retain(|_, session| offer(session, &update));
        }
        if let Some(changes) = &mut self.changes_during_read {
            changes.push(frame.clone());
        }
        self.catch_up = None;
        self.broadcasts.inc();
        self.live.retain(|_, session| offer(session, &frame));
    }

    fn send_to_cart_watchers(&mut self, cart: Id, frame: Frame) {
        let Some(watchers) = self.cart_watchers.get(&cart) else {
            return;
        };
        self.cart_updates.inc();
        let mut gone = Vec::new();
        for id in watchers {
            if let Some(session) = self.live.get(id) {
                if !offer(session, &frame) {
                    gone.push(*id);
                }
            }
        }
        for id in gone {
            self.forget(id);
        }
    }

    fn unwatch(&mut self, id: SessionId) {
        if let Some(cart) = self.watched_cart.remove(&id) {
            if let Some(watchers) = self.cart_watchers.get_mut(&cart) {
                watchers.retain(|watcher| *watcher != id);
                if watchers.is_empty() {
                    self.cart_watchers.remove(&cart);
                }
            }
        }
    }

    fn forget(&mut self, id: SessionId) {
        self.live.remove(&id);
        self.update_listeners.remove(&id);
        self.waiting.retain(|(waiting, _)| *waiting != id);
        self.unwatch(id);
    }
}

impl Actor for ProductFeed {
    type Context = Context<Self>;
}

impl Handler<Subscribe> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: Subscribe, ctx: &mut Context<Self>) {
        match self.catch_up.clone() {
            Some(frames) => self.admit(message.id, message.session, &frames),
            None => {
                self.waiting.push((message.id, message.session));
                self.read_snapshot(ctx);
            }
        }
    }
}

impl Handler<SubscribeUpdates> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: SubscribeUpdates, _: &mut Context<Self>) {
        self.update_listeners.insert(message.id, message.session);
    }
}

impl Handler<Unsubscribe> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: Unsubscribe, _: &mut Context<Self>) {
        self.forget(message.id);
    }
}

impl Handler<ForgetSnapshot> for ProductFeed {
    type Result = ();

    fn handle(&mut self, _: ForgetSnapshot, _: &mut Context<Self>) {
        self.catch_up = None;
    }
}

impl Handler<WatchCart> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: WatchCart, _: &mut Context<Self>) {
        self.unwatch(message.id);
        self.watched_cart.insert(message.id, message.cart);
        self.cart_watchers
            .entry(message.cart)
            .or_default()
            .push(message.id);
    }
}

impl Handler<StoreEvent> for ProductFeed {
    type Result = ();

    fn handle(&mut self, event: StoreEvent, _: &mut Context<Self>) {
        match &event {
            StoreEvent::ProductCreated(product) => self.broadcast(
                feed_event("product:created", product),
                product.id,
                "product created",
            ),
            StoreEvent::ProductUpdated(product) => self.broadcast(
                feed_event("product:updated", product),
                product.id,
                "product updated",
            ),
            StoreEvent::ProductDeleted(id) => self.broadcast(
                feed_event("product:deleted", &DeletedProduct { id: *id }),
                *id,
                "product deleted",
            ),
            StoreEvent::CartUpdated(cart) => {
                self.send_to_cart_watchers(cart.id, feed_event("cart:updated", cart))
            }
            StoreEvent::AccountCreated { .. } => {}
        }
    }
}
