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

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use redis::Cmd;

use super::presence;
use super::wire::{ClusterEvent, Kept, Keys};
use crate::cluster::topics::{newest, NewestRead, Topics};
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
    /// The carts followed, each with the number of the request that
    /// started it: a read of kept changes answers only the latest.
    followed: HashMap<Id, u64>,
    requests: u64,
}

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
            followed: HashMap::new(),
            requests: 0,
        }
    }

    pub fn follows(&self, cart: &Id) -> bool {
        self.followed.contains_key(cart)
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

    /// A local session watches `cart` and none did: returns the request's
    /// number and the read of its kept changes to run (then `kept_read`),
    /// or starts following from now if Redis is away.
    pub fn follow(&mut self, cart: Id) -> Option<(u64, NewestRead)> {
        if self.followed.contains_key(&cart) {
            return None;
        }
        self.requests += 1;
        let request = self.requests;
        self.followed.insert(cart, request);
        self.link.set_followed_carts(self.followed.len());
        let Some(connection) = self.link.connection() else {
            self.kept_read(cart, request, Kept::from_now(presence::now_ms()));
            return None;
        };
        let (_, key) = self.keys.cart_stream(&cart);
        Some((request, newest(connection, key, self.kept)))
    }

    /// The kept changes of `cart` were read (or could not be: `from_now`)
    /// for `request`: the feed gets them, and the stream is followed after
    /// the newest.
    pub fn kept_read(&mut self, cart: Id, request: u64, mut kept: Kept) {
        if self.followed.get(&cart) != Some(&request) {
            return; // unwatched meanwhile, or watched again
        }
        let changes = kept.take_events(|event| match event {
            ClusterEvent::Store(StoreEvent::CartUpdated(change)) if change.id == cart => {
                Some(StoreEvent::CartUpdated(change))
            }
            _ => None,
        });
        self.start(cart, kept.head, changes, kept.complete);
    }

    /// How many entries a cart's stream keeps.
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// The key of `cart`'s stream.
    pub fn key(&self, cart: &Id) -> String {
        self.keys.cart_stream(cart).1
    }

    /// Nobody here watches `cart` any more.
    pub fn unfollow(&mut self, cart: Id) {
        if self.followed.remove(&cart).is_some() {
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
