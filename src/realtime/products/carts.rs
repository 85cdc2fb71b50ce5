//! Cart streams: who watches which cart (`cart:watch`), and the newest
//! `cart:updated` events of each cart with their offsets, for a cart page
//! that resumes after a reconnect. Each event is the whole cart, so only a
//! few are kept per cart (`delivery.cart_retain`), and at most
//! `delivery.cart_streams` carts (the least recently changed go first).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::configuration::DeliverySettings;
use crate::domain::Id;
use crate::realtime::outbound::SessionId;
use crate::realtime::protocol::Frame;
use crate::realtime::stream::{Offset, StreamLog, Unrecoverable};

pub struct CartStreams {
    retain: usize,
    retain_for: Duration,
    max_streams: usize,
    logs: HashMap<Id, (Instant, StreamLog<Frame>)>,
    watchers: HashMap<Id, Vec<SessionId>>,
    watched: HashMap<SessionId, Id>,
}

impl CartStreams {
    pub fn new(settings: &DeliverySettings) -> CartStreams {
        CartStreams {
            retain: settings.cart_retain,
            retain_for: Duration::from_secs(settings.retain_s),
            max_streams: settings.cart_streams.max(1),
            logs: HashMap::new(),
            watchers: HashMap::new(),
            watched: HashMap::new(),
        }
    }

    /// A session now watches `cart` (and no other).
    pub fn watch(&mut self, id: SessionId, cart: Id) {
        self.unwatch(id);
        self.watched.insert(id, cart);
        self.watchers.entry(cart).or_default().push(id);
    }

    pub fn unwatch(&mut self, id: SessionId) {
        if let Some(cart) = self.watched.remove(&id) {
            if let Some(watchers) = self.watchers.get_mut(&cart) {
                watchers.retain(|watcher| *watcher != id);
                if watchers.is_empty() {
                    self.watchers.remove(&cart);
                }
            }
        }
    }

    pub fn watchers(&self, cart: &Id) -> &[SessionId] {
        self.watchers.get(cart).map(Vec::as_slice).unwrap_or_default()
    }

    /// Keeps a `cart:updated` event of `cart`.
    pub fn record(&mut self, cart: Id, offset: Offset, frame: Frame) {
        if !self.logs.contains_key(&cart) && self.logs.len() >= self.max_streams {
            let oldest = self
                .logs
                .iter()
                .min_by_key(|(_, (changed, _))| *changed)
                .map(|(cart, _)| *cart);
            if let Some(oldest) = oldest {
                self.logs.remove(&oldest);
            }
        }
        let (retain, retain_for) = (self.retain, self.retain_for);
        let (changed, log) = self.logs.entry(cart).or_insert_with(|| {
            (
                Instant::now(),
                StreamLog::joined_at(offset.clone(), retain, retain_for),
            )
        });
        *changed = Instant::now();
        log.push(offset, frame);
    }

    /// The events of `cart` after `since`, if they are kept.
    pub fn since(&mut self, cart: &Id, since: &str) -> Result<Vec<Frame>, Unrecoverable> {
        let Some((_, log)) = self.logs.get_mut(cart) else {
            return Err(Unrecoverable::TooOld);
        };
        Ok(log.since(since)?.map(|(_, frame)| frame.clone()).collect())
    }
}
