//! Cart streams: who watches which cart (`cart:watch`), and the newest
//! `cart:updated` events of each cart with their offsets, for a cart page
//! that resumes after a reconnect. Each event is the whole cart, so only a
//! few are kept per cart (`delivery.cart_retain`), and at most
//! `delivery.cart_streams` carts (the least recently changed go first).
//!
//! With a bus, a cart's events reach this instance only while it is
//! watched here: its log starts when the bus starts following it (with the
//! newest events Redis keeps), and watchers that resume wait for that.

use std::collections::{HashMap, HashSet};
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
    /// Carts whose log the bus has started (with a bus only).
    started: HashSet<Id>,
    /// Watchers waiting for their cart's log to start, with their `since`.
    waiting: HashMap<Id, Vec<(SessionId, Option<String>)>>,
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
            started: HashSet::new(),
            waiting: HashMap::new(),
        }
    }

    /// A session now watches `cart` (and no other). Returns whether nobody
    /// here watched `cart` before, and the cart it watched before if
    /// nobody here watches that one now.
    pub fn watch(&mut self, id: SessionId, cart: Id) -> (bool, Option<Id>) {
        let deserted = self.unwatch(id);
        let first = !self.watchers.contains_key(&cart);
        self.watched.insert(id, cart);
        self.watchers.entry(cart).or_default().push(id);
        (first, deserted.filter(|left| *left != cart))
    }

    /// The session watches nothing now. Returns its cart if nobody here
    /// watches that one any more.
    pub fn unwatch(&mut self, id: SessionId) -> Option<Id> {
        let cart = self.watched.remove(&id)?;
        let watchers = self.watchers.get_mut(&cart)?;
        watchers.retain(|watcher| *watcher != id);
        if !watchers.is_empty() {
            return None;
        }
        self.watchers.remove(&cart);
        Some(cart)
    }

    /// Whether the bus has started `cart`'s log.
    pub fn is_started(&self, cart: &Id) -> bool {
        self.started.contains(cart)
    }

    /// A watcher waits for `cart`'s log to start before its `since` is
    /// answered.
    pub fn wait_for_start(&mut self, cart: Id, id: SessionId, since: Option<String>) {
        self.waiting.entry(cart).or_default().push((id, since));
    }

    /// The bus follows `cart` from after `head`, with the newest events
    /// Redis kept before it (`kept`, oldest first; `complete`: all since
    /// the stream began). Returns the watchers that waited (those still
    /// watching it).
    pub fn start(
        &mut self,
        cart: Id,
        head: Offset,
        kept: Vec<(Offset, Frame)>,
        complete: bool,
    ) -> Vec<(SessionId, Option<String>)> {
        let log = StreamLog::from_kept(head, kept, complete, self.retain, self.retain_for);
        self.make_room_for(&cart);
        self.logs.insert(cart, (Instant::now(), log));
        self.started.insert(cart);
        let waiting = self.waiting.remove(&cart).unwrap_or_default();
        waiting
            .into_iter()
            .filter(|(id, _)| self.watched.get(id) == Some(&cart))
            .collect()
    }

    /// Nobody here watches `cart` and the bus no longer follows it: its log
    /// would miss what comes next.
    pub fn forget(&mut self, cart: &Id) {
        self.logs.remove(cart);
        self.started.remove(cart);
        self.waiting.remove(cart);
    }

    pub fn watchers(&self, cart: &Id) -> &[SessionId] {
        self.watchers.get(cart).map(Vec::as_slice).unwrap_or_default()
    }

    /// Keeps a `cart:updated` event of `cart`.
    pub fn record(&mut self, cart: Id, offset: Offset, frame: Frame) {
        self.make_room_for(&cart);
        let (retain, retain_for) = (self.retain, self.retain_for);
        let (changed, log) = self.logs.entry(cart).or_insert_with(|| {
            (
                Instant::now(),
                StreamLog::joined_at(offset.clone(), retain, retain_for),
            )
        });
        if !log.is_new(&offset) {
            return; // kept already (read twice at the edge of following)
        }
        *changed = Instant::now();
        log.push(offset, frame);
    }

    /// At most `max_streams` logs: a new cart's log replaces the least
    /// recently changed.
    fn make_room_for(&mut self, cart: &Id) {
        if self.logs.contains_key(cart) || self.logs.len() < self.max_streams {
            return;
        }
        let oldest = self
            .logs
            .iter()
            .min_by_key(|(_, (changed, _))| *changed)
            .map(|(cart, _)| *cart);
        if let Some(oldest) = oldest {
            self.logs.remove(&oldest);
        }
    }

    /// The events of `cart` after `since`, if they are kept.
    pub fn since(&mut self, cart: &Id, since: &str) -> Result<Vec<Frame>, Unrecoverable> {
        let Some((_, log)) = self.logs.get_mut(cart) else {
            return Err(Unrecoverable::TooOld);
        };
        Ok(log.since(since)?.map(|(_, frame)| frame.clone()).collect())
    }
}
