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
//! Every change gets an offset in the `products` stream (the snapshot
//! carries the offset it was read at); the newest are kept, and a session
//! that connects with the offset it saw last (`since`) gets exactly the
//! changes it missed, then `recovered`, instead of a snapshot.
//!
//! A session may also watch one cart (`cart:watch`): it then gets
//! `cart:updated` with the populated cart after every change to it (stream
//! `cart:<id>`, resumable the same way; `carts`).
//!
//! Socket.IO clients on the default namespace get the course's own event
//! instead: `update_products` (`{id, msg}`) after every product change.
//!
//! Topic routing: with a bus, the feed has the `products` stream read only
//! while sessions are on it (`reading`); the first one waits until it is,
//! and the feed's log starts again from what Redis kept.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use prometheus::IntCounter;

use super::carts::CartStreams;
use super::frames::{feed_event, recovered, LoggedChange};
use super::NAMESPACE;
use crate::configuration::DeliverySettings;
use crate::domain::Id;
use crate::realtime::events::{
    CartFollowed, FeedInterest, FollowCart, ForgetSnapshot, RoomStream, Stamped, StreamFollowed, UnfollowCart,
};
use crate::realtime::outbound::{offer, offer_all, Outbound, SessionId};
use crate::realtime::protocol::Frame;
use crate::realtime::reading::{ReadsStream, StreamReading};
use crate::realtime::stream::{CanResume, LocalClock, Offset, StreamLog};
use crate::store::{MongoStore, NewestProducts, StoreEvent};

pub struct ProductFeed {
    store: Addr<MongoStore>,
    /// Counts product broadcasts and cart updates.
    broadcasts: IntCounter,
    cart_updates: IntCounter,
    snapshot_size: u32,
    /// Offsets when no bus gives them.
    clock: Arc<LocalClock>,
    /// The newest product changes, for sessions that resume.
    log: StreamLog<LoggedChange>,
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
    carts: CartStreams,
    /// Where to say which streams are needed here (with a bus).
    interest: Option<FeedInterest>,
    /// Whether the bus reads the products stream for this instance.
    reading: StreamReading<ProductFeed>,
    delivery: DeliverySettings,
}

/// A session wants `cart:updated` events for `cart` (replacing any cart it
/// watched before), resuming from `since` if given.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchCart {
    pub id: SessionId,
    pub cart: Id,
    pub since: Option<String>,
}

/// A session asks to receive the feed: from `since` (the changes it
/// missed), or from a snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub id: SessionId,
    pub session: Recipient<Outbound>,
    pub since: Option<String>,
}

/// A Socket.IO session on the default namespace wants `update_products`
/// (from `since`, if given).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeUpdates {
    pub id: SessionId,
    pub session: Recipient<Outbound>,
    pub since: Option<String>,
}

/// A session is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub id: SessionId,
}

impl ProductFeed {
    pub fn new(
        store: Addr<MongoStore>,
        snapshot_size: u32,
        delivery: &DeliverySettings,
        clock: Arc<LocalClock>,
        broadcasts: IntCounter,
        cart_updates: IntCounter,
        interest: Option<FeedInterest>,
    ) -> Self {
        let reading = StreamReading::new(
            RoomStream::Products,
            interest
                .as_ref()
                .map(|interest| (interest.read.clone(), interest.unfollow_after)),
        );
        ProductFeed {
            reading,
            delivery: delivery.clone(),
            store,
            broadcasts,
            cart_updates,
            snapshot_size,
            log: StreamLog::configured(clock.origin(), delivery),
            clock,
            live: HashMap::new(),
            waiting: Vec::new(),
            catch_up: None,
            changes_during_read: None,
            update_listeners: HashMap::new(),
            carts: CartStreams::new(delivery),
            interest,
        }
    }

    /// Hands a session its catch-up frames and makes it live.
    fn admit(&mut self, id: SessionId, session: Recipient<Outbound>, frames: Vec<Frame>) {
        if offer_all(&session, frames) {
            self.live.insert(id, session);
        }
    }

    /// The changes after `since` (each as `pick` makes it), then
    /// `recovered`; or only `recovered: false`.
    fn replay(
        &mut self,
        since: &str,
        pick: fn(&LoggedChange) -> &Frame,
        namespace: &'static str,
    ) -> (Vec<Frame>, bool) {
        match self.log.since(since) {
            Ok(missed) => {
                let mut frames: Vec<Frame> = missed.map(|(_, change)| pick(change).clone()).collect();
                frames.push(recovered("products", Ok(frames.len()), namespace));
                (frames, true)
            }
            Err(why) => (vec![recovered("products", Err(why), namespace)], false),
        }
    }

    fn read_snapshot(&mut self, ctx: &mut Context<Self>) {
        if self.changes_during_read.is_some() {
            return; // a read is already in flight; its result serves everyone
        }
        self.changes_during_read = Some(Vec::new());
        // The snapshot holds at least every change up to here: a session
        // that resumes from this offset misses none.
        let read_at = self.log.head().clone();
        let read = self.store.send(NewestProducts {
            limit: self.snapshot_size,
        });
        read.into_actor(self)
            .map(move |result, feed, _| {
                let changes = feed.changes_during_read.take().unwrap_or_default();
                let (first, loaded) = match result {
                    Ok(Ok(products)) => (feed_event("products", &products, &read_at), true),
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
                    feed.admit(id, session, frames.clone());
                }
                // A failed read is not cached: the next subscriber retries.
                if loaded {
                    feed.catch_up = Some(frames);
                }
            })
            .spawn(ctx);
    }

    /// Sends the snapshot (and changes since) to a session, reading it if
    /// it is not cached; `before`: frames that go first.
    fn send_snapshot(
        &mut self,
        id: SessionId,
        session: Recipient<Outbound>,
        before: Vec<Frame>,
        ctx: &mut Context<Self>,
    ) {
        match self.catch_up.clone() {
            Some(frames) => self.admit(id, session, before.into_iter().chain(frames).collect()),
            None => {
                if !before.is_empty() && !offer_all(&session, before) {
                    return;
                }
                self.waiting.push((id, session));
                self.read_snapshot(ctx);
            }
        }
    }

    fn broadcast(&mut self, offset: Offset, change: LoggedChange) {
        if !self.update_listeners.is_empty() {
            self.update_listeners
                .retain(|_, session| offer(session, &change.update));
        }
        if let Some(changes) = &mut self.changes_during_read {
            changes.push(change.event.clone());
        }
        self.catch_up = None;
        self.broadcasts.inc();
        self.live.retain(|_, session| offer(session, &change.event));
        self.log.push(offset, change);
    }

    fn send_to_cart_watchers(&mut self, cart: Id, offset: Offset, frame: Frame) {
        self.carts.record(cart, offset, frame.clone());
        let watchers = self.carts.watchers(&cart);
        if watchers.is_empty() {
            return;
        }
        self.cart_updates.inc();
        let gone: Vec<SessionId> = watchers
            .iter()
            .filter(|id| self.live.get(id).is_some_and(|session| !offer(session, &frame)))
            .copied()
            .collect();
        for id in gone {
            self.forget(id);
        }
    }

    fn forget(&mut self, id: SessionId) {
        self.live.remove(&id);
        self.update_listeners.remove(&id);
        self.waiting.retain(|(waiting, _)| *waiting != id);
        if let Some(deserted) = self.carts.unwatch(id) {
            self.deserted(deserted);
        }
    }

    /// Nobody here watches `cart` now: the bus may stop following it.
    fn deserted(&mut self, cart: Id) {
        if let Some(interest) = &self.interest {
            interest.unfollow_cart.do_send(UnfollowCart(cart));
            self.carts.forget(&cart);
        }
    }

    /// Answers a watcher's `since` from its cart's log: the missed events,
    /// then `recovered`.
    fn resume_cart(&mut self, id: SessionId, cart: Id, since: &str) {
        let stream = format!("cart:{}", cart.to_hex());
        let frames = match self.carts.since(&cart, since) {
            Ok(mut missed) => {
                missed.push(recovered(&stream, Ok(missed.len()), NAMESPACE));
                missed
            }
            Err(why) => vec![recovered(&stream, Err(why), NAMESPACE)],
        };
        if let Some(session) = self.live.get(&id) {
            if !offer_all(session, frames) {
                self.forget(id);
            }
        }
    }

    /// A committed change, with its offset in its stream.
    fn apply(&mut self, event: StoreEvent, offset: Offset) {
        match &event {
            StoreEvent::CartUpdated(cart) => {
                let frame = feed_event("cart:updated", cart, &offset).state_event();
                self.send_to_cart_watchers(cart.id, offset, frame)
            }
            event => {
                if let Some(change) = LoggedChange::of(event, &offset) {
                    self.broadcast(offset, change);
                }
            }
        }
    }

    fn subscribe(&mut self, message: Subscribe, ctx: &mut Context<Self>) {
        let Subscribe { id, session, since } = message;
        let (before, resumed) = match since {
            Some(since) => self.replay(&since, |change| &change.event, NAMESPACE),
            None => (Vec::new(), false),
        };
        if resumed {
            self.admit(id, session, before);
        } else {
            self.send_snapshot(id, session, before, ctx);
        }
        self.check_idle(ctx);
    }

    fn subscribe_updates(&mut self, message: SubscribeUpdates, ctx: &mut Context<Self>) {
        let SubscribeUpdates { id, session, since } = message;
        if let Some(since) = since {
            let (frames, _) = self.replay(&since, |change| &change.update, "/");
            if !offer_all(&session, frames) {
                return;
            }
        }
        self.update_listeners.insert(id, session);
        self.check_idle(ctx);
    }

    fn watch_cart(&mut self, message: WatchCart) {
        let WatchCart { id, cart, since } = message;
        let (first, deserted) = self.carts.watch(id, cart);
        if let Some(deserted) = deserted {
            self.deserted(deserted);
        }
        match &self.interest {
            // The bus reads the cart's stream only while it is watched
            // here; a resume waits for its log.
            Some(interest) if !self.carts.is_started(&cart) => {
                if first {
                    interest.follow_cart.do_send(FollowCart(cart));
                }
                self.carts.wait_for_start(cart, id, since);
            }
            _ => {
                if let Some(since) = since {
                    self.resume_cart(id, cart, &since);
                }
            }
        }
    }
}

impl ReadsStream for ProductFeed {
    fn reading(&mut self) -> &mut StreamReading<Self> {
        &mut self.reading
    }

    fn is_idle(&self) -> bool {
        self.live.is_empty() && self.waiting.is_empty() && self.update_listeners.is_empty()
    }

    fn stopped_reading(&mut self) {
        self.catch_up = None;
    }
}

impl Actor for ProductFeed {
    type Context = Context<Self>;
}

impl Handler<Subscribe> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: Subscribe, ctx: &mut Context<Self>) {
        if !self.reading.is_read() {
            return self.reading.hold(move |feed, ctx| feed.subscribe(message, ctx));
        }
        self.subscribe(message, ctx);
    }
}

impl Handler<SubscribeUpdates> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: SubscribeUpdates, ctx: &mut Context<Self>) {
        if !self.reading.is_read() {
            return self
                .reading
                .hold(move |feed, ctx| feed.subscribe_updates(message, ctx));
        }
        self.subscribe_updates(message, ctx);
    }
}

impl Handler<Unsubscribe> for ProductFeed {
    type Result = ();

    fn handle(&mut self, Unsubscribe { id }: Unsubscribe, ctx: &mut Context<Self>) {
        if self.reading.is_starting() {
            // After the subscription it may follow.
            return self.reading.hold(move |feed, ctx| {
                feed.forget(id);
                feed.check_idle(ctx);
            });
        }
        self.forget(id);
        self.check_idle(ctx);
    }
}

impl Handler<ForgetSnapshot> for ProductFeed {
    type Result = ();

    fn handle(&mut self, _: ForgetSnapshot, _: &mut Context<Self>) {
        self.catch_up = None;
    }
}

impl Handler<CanResume> for ProductFeed {
    type Result = Response<bool>;

    fn handle(&mut self, CanResume(since): CanResume, _: &mut Context<Self>) -> Response<bool> {
        self.when_read(move |feed| feed.log.since(&since).is_ok())
    }
}

impl Handler<StreamFollowed<StoreEvent>> for ProductFeed {
    type Result = ();

    fn handle(&mut self, followed: StreamFollowed<StoreEvent>, ctx: &mut Context<Self>) {
        let StreamFollowed { head, kept, complete } = followed;
        let kept = kept
            .iter()
            .filter_map(|Stamped { offset, event }| Some((offset.clone(), LoggedChange::of(event, offset)?)))
            .collect();
        self.log = StreamLog::configured_from_kept(head, kept, complete, &self.delivery);
        // Changes may have been made elsewhere while nobody here read.
        self.catch_up = None;
        for held in self.reading.started() {
            held(self, ctx);
        }
        self.check_idle(ctx);
    }
}

impl Handler<WatchCart> for ProductFeed {
    type Result = ();

    fn handle(&mut self, message: WatchCart, _: &mut Context<Self>) {
        if self.reading.is_starting() {
            // After the subscription it follows.
            return self.reading.hold(move |feed, _| feed.watch_cart(message));
        }
        self.watch_cart(message);
    }
}

impl Handler<CartFollowed> for ProductFeed {
    type Result = ();

    fn handle(&mut self, followed: CartFollowed, _: &mut Context<Self>) {
        let CartFollowed {
            cart,
            head,
            kept,
            complete,
        } = followed;
        if self.carts.watchers(&cart).is_empty() {
            return; // deserted meanwhile (the bus has been told)
        }
        let kept = kept
            .into_iter()
            .filter_map(|Stamped { offset, event }| match event {
                StoreEvent::CartUpdated(change) => {
                    let frame = feed_event("cart:updated", &change, &offset).state_event();
                    Some((offset, frame))
                }
                _ => None,
            })
            .collect();
        for (id, since) in self.carts.start(cart, head, kept, complete) {
            if let Some(since) = since {
                self.resume_cart(id, cart, &since);
            }
        }
    }
}

/// A change from this instance's store (no bus): its offset is local.
impl Handler<StoreEvent> for ProductFeed {
    type Result = ();

    fn handle(&mut self, event: StoreEvent, _: &mut Context<Self>) {
        if matches!(event, StoreEvent::AccountCreated { .. }) {
            return;
        }
        let offset = self.clock.tick();
        self.apply(event, offset);
    }
}

/// A change delivered by the bus, with its cluster-wide offset.
impl Handler<Stamped<StoreEvent>> for ProductFeed {
    type Result = ();

    fn handle(&mut self, stamped: Stamped<StoreEvent>, _: &mut Context<Self>) {
        self.apply(stamped.event, stamped.offset);
    }
}
