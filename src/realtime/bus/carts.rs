//! Cart streams on the bus: one Redis stream per cart, read by an instance
//! only while one of its sessions watches that cart (topic routing: a cart
//! change reaches the instances that show the cart, not every instance).
//!
//! Following starts with the stream's newest kept events (`XREVRANGE`),
//! handed to the product feed for its cart log, then reads on from the
//! newest of them, so the log and the live events meet with no gap and no
//! duplicate, and a watcher that resumes is answered from the log. While
//! Redis is away, a cart is followed from the present (the instance's
//! clock), and its log starts there.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Cmd};

use super::wire::{ClusterEvent, IncomingEnvelope, Keys};
use crate::cluster::link::payload_of;
use crate::cluster::topics::Topics;
use crate::cluster::ClusterLink;
use crate::configuration::DeliverySettings;
use crate::domain::Id;
use crate::realtime::events::{CartFollowed, Stamped};
use crate::realtime::stream::Offset;
use crate::store::StoreEvent;

/// The carts this instance follows, and the lanes that read them.
pub struct CartFollowing {
    keys: Keys,
    link: Arc<ClusterLink>,
    topics: Topics,
    /// Where the product feed hears that a cart's log starts.
    feed: Recipient<CartFollowed>,
    /// Entries kept per cart stream in Redis (`MAXLEN ~`).
    kept: usize,
    /// How long a cart's stream outlives its last change, in ms.
    expiry_ms: u64,
    followed: HashSet<Id>,
}

/// The newest entries of a cart's stream, read when following starts.
pub type KeptRead = Pin<Box<dyn Future<Output = redis::RedisResult<StreamRangeReply>>>>;

impl CartFollowing {
    pub fn new(
        keys: Keys,
        link: Arc<ClusterLink>,
        topics: Topics,
        feed: Recipient<CartFollowed>,
        delivery: &DeliverySettings,
    ) -> CartFollowing {
        CartFollowing {
            keys,
            link,
            topics,
            feed,
            kept: delivery.cart_retain.max(1),
            expiry_ms: delivery.retain_s.max(1).saturating_mul(1000),
            followed: HashSet::new(),
        }
    }

    pub fn follows(&self, cart: &Id) -> bool {
        self.followed.contains(cart)
    }

    /// The commands that append `payload` (a change of `cart`) to its
    /// stream, which goes away once its changes are too old to resume.
    pub fn append(&self, cart: &Id, payload: String) -> Vec<Cmd> {
        let (_, key) = self.keys.cart_stream(cart);
        vec![
            redis::cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.kept)
                .arg("*")
                .arg("e")
                .arg(payload)
                .to_owned(),
            redis::cmd("PEXPIRE").arg(&key).arg(self.expiry_ms).to_owned(),
        ]
    }

    /// A local session watches `cart` and none did: returns the read of its
    /// kept changes to run (then `kept_read`), or starts following from
    /// now if Redis is away.
    pub fn follow(&mut self, cart: Id) -> Option<KeptRead> {
        if !self.followed.insert(cart) {
            return None;
        }
        self.link.set_followed_carts(self.followed.len());
        let Some(mut connection) = self.link.connection() else {
            self.start(cart, now_id(), Vec::new(), false);
            return None;
        };
        let (_, key) = self.keys.cart_stream(&cart);
        let kept = self.kept;
        Some(Box::pin(async move {
            connection.xrevrange_count(&key, "+", "-", kept).await
        }))
    }

    /// The kept changes of `cart` were read: the feed gets them, and the
    /// stream is followed after the newest.
    pub fn kept_read(&mut self, cart: Id, newest: redis::RedisResult<StreamRangeReply>) {
        if !self.follows(&cart) {
            return; // unwatched meanwhile
        }
        match newest {
            Ok(newest) => {
                let complete = newest.ids.len() < self.kept;
                let head = newest
                    .ids
                    .first()
                    .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone());
                let changes = newest
                    .ids
                    .iter()
                    .rev()
                    .filter_map(|entry| cart_change(&cart, &entry.id, &payload_of(entry)?))
                    .collect();
                self.start(cart, head, changes, complete);
            }
            Err(error) => {
                log::warn!(
                    "cluster: cannot read the kept changes of cart {cart} ({error}); following it from now"
                );
                self.start(cart, now_id(), Vec::new(), false);
            }
        }
    }

    /// Nobody here watches `cart` any more.
    pub fn unfollow(&mut self, cart: Id) {
        if self.followed.remove(&cart) {
            self.link.set_followed_carts(self.followed.len());
            let (lane, key) = self.keys.cart_stream(&cart);
            self.topics.unfollow(lane, &key);
        }
    }

    /// Tells the feed where `cart`'s stream stands, then reads on from there
    /// (in that order: the feed hears of the start before any live event).
    fn start(&mut self, cart: Id, head: String, kept: Vec<Stamped<StoreEvent>>, complete: bool) {
        let Some(offset) = Offset::from_redis(&head) else {
            return;
        };
        self.feed.do_send(CartFollowed {
            cart,
            head: offset,
            kept,
            complete,
        });
        let (lane, key) = self.keys.cart_stream(&cart);
        self.topics.follow(lane, key, head);
    }
}

/// The cart change an entry of `cart`'s stream carries, if it is one.
fn cart_change(cart: &Id, id: &str, payload: &str) -> Option<Stamped<StoreEvent>> {
    let offset = Offset::from_redis(id)?;
    let envelope: IncomingEnvelope = serde_json::from_str(payload).ok()?;
    match serde_json::from_str(envelope.event.get()).ok()? {
        ClusterEvent::Store(StoreEvent::CartUpdated(change)) if change.id == *cart => Some(Stamped {
            offset,
            event: StoreEvent::CartUpdated(change),
        }),
        _ => None,
    }
}

/// Where a cart is followed from when Redis cannot say: now, on this
/// instance's clock (entry ids begin with Redis's).
fn now_id() -> String {
    format!("{}-0", super::presence::now_ms())
}
