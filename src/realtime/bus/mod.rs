//! `Bus`: several instances, one world. With `REDIS_URL` set, every event a
//! room broadcasts is appended to a Redis stream, and every instance reads
//! the streams and hands what it reads to its own rooms. The rooms keep
//! their shape: they publish to the bus and are fed by it through
//! recipients (`crate::realtime::events`), so neither side names the other.
//!
//! - One order, nothing lost: an instance delivers even its own events
//!   only when it reads them back, so every instance sees every stream in
//!   Redis's one order, and each event's offset is its entry id, the same
//!   everywhere (clients resume from it on any instance). The reader
//!   follows the streams from the last entry it read, so a broken, killed
//!   or paused link misses nothing (`crate::cluster::link`).
//! - Redis away: appends wait in the link's bounded queue and go out when
//!   Redis answers. An instance holds its own events back for
//!   `redis.local_delivery_after_ms`, then delivers them to its own
//!   sessions (with local offsets) rather than keep them waiting; they
//!   reach the other instances when Redis is back.
//! - Duplicates: an append retried after a break may land twice; every
//!   entry names its writer and sequence number, and a reader takes each
//!   once.
//! - Topic routing: the control stream is read all the time; `chat` and
//!   `products` only while local sessions are on them (`rooms`), a cart's
//!   stream only while a local session watches the cart (`carts`), so an
//!   event reaches only the instances that show it. Following a stream
//!   starts with the newest events Redis kept, which the room rebuilds its
//!   log from, so nothing at the edges is missed.
//! - One Redis or a Redis Cluster alike: every stream has a hash tag of its
//!   own (carts one per lane), so the streams spread over the shards, and
//!   the link follows failovers (`crate::cluster`).
//! - Presence: `presence` (cluster presence sets with expiring keys; the
//!   changes travel on the control stream).
//! - Cost: one append per event; a receiving instance decodes the event
//!   once and its room serializes the frame once.

mod carts;
mod entries;
mod following;
mod own;
pub mod presence;
mod rooms;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use redis::Cmd;
use tokio::sync::mpsc;

use self::carts::CartFollowing;
use self::own::OwnEvents;
use self::presence::ClusterPresence;
use self::rooms::RoomStreams;
use self::wire::{ClusterEvent, FirstSeen, Keys, OutgoingEnvelope, Stream};
use super::events::{
    ForgetSnapshot, LocalPresence, LocalRooms, PublishChat, ReloadHistory, RemotePresence, Stamped,
};
use super::stream::{LocalClock, Offset};
use crate::auth::Accounts;
use crate::cluster::connection::{RedisClient, RedisConnection};
use crate::cluster::link::{self, LinkEvent, Outgoing};
use crate::cluster::topics::Topics;
use crate::cluster::ClusterLink;
use crate::configuration::{DeliverySettings, RedisSettings};
use crate::store::{CacheListings, ForgetCachedListings, MongoStore, StoreEvent};

pub struct Bus {
    keys: Keys,
    client: RedisClient,
    link: Arc<ClusterLink>,
    store: Addr<MongoStore>,
    rooms: LocalRooms,
    /// Whether accounts exist is learnt from other instances too.
    accounts: Arc<Accounts>,
    /// Commands for the link's writer, run in order.
    outgoing: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Bumped at every unlink, so a timer set during an outage knows
    /// whether it is still the same outage.
    outage: u64,
    /// Own events on their way through Redis.
    own: OwnEvents,
    /// What each writer's entries were read up to.
    seen: FirstSeen,
    presence: ClusterPresence,
    /// Offsets of events delivered here without Redis.
    clock: Arc<LocalClock>,
    /// Entries kept per stream in Redis (`MAXLEN ~`; carts: per cart, kept
    /// by `carts`).
    stream_lengths: [usize; 4],
    /// The room streams followed here (topic routing).
    rooms_followed: RoomStreams,
    /// The carts followed here (topic routing).
    carts: CartFollowing,
}

impl Bus {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: &RedisSettings,
        delivery: &DeliverySettings,
        client: RedisClient,
        store: Addr<MongoStore>,
        rooms: LocalRooms,
        accounts: Arc<Accounts>,
        link: Arc<ClusterLink>,
        clock: Arc<LocalClock>,
        own: Recipient<LinkEvent>,
    ) -> Bus {
        let instance = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        log::info!("cluster: this instance is {instance}");
        let keys = Keys {
            prefix: settings.prefix.clone(),
            instance,
        };
        let ttl = Duration::from_secs(settings.presence_ttl_s.max(3));
        let carts = CartFollowing::new(
            keys.clone(),
            link.clone(),
            Topics::new(client.clone(), own.clone(), Stream::Carts as usize),
            rooms.cart_followed.clone(),
            delivery,
        );
        let retain = delivery.retain.max(100);
        let rooms_followed = RoomStreams::new(keys.clone(), link.clone(), client.clone(), own, retain);
        Bus {
            presence: ClusterPresence::new(keys.clone(), ttl),
            keys,
            client,
            link,
            store,
            rooms,
            accounts,
            outgoing: None,
            outage: 0,
            own: OwnEvents::new(Duration::from_millis(settings.local_delivery_after_ms)),
            seen: FirstSeen::default(),
            clock,
            stream_lengths: [retain, retain, 0, 1000],
            rooms_followed,
            carts,
        }
    }

    /// Appends `event` to its stream (after `before`, in the same ordered
    /// batch); it is delivered here when read back.
    fn publish(&mut self, event: ClusterEvent, before: Vec<Cmd>) {
        let seq = self.own.next_seq();
        let stream = event.stream();
        let payload = match serde_json::to_string(&OutgoingEnvelope {
            from: &self.keys.instance,
            seq,
            event: &event,
        }) {
            Ok(payload) => payload,
            Err(error) => {
                log::error!("cluster: cannot encode an event ({error}); delivered here only");
                self.deliver_locally(event);
                return;
            }
        };
        let mut commands = before;
        let followed_here = match &event {
            ClusterEvent::Store(StoreEvent::CartUpdated(cart)) => self.carts.follows(&cart.id),
            _ => self.rooms_followed.follows(stream),
        };
        match &event {
            ClusterEvent::Store(StoreEvent::CartUpdated(cart)) => {
                commands.extend(self.carts.append(&cart.id, payload));
            }
            _ => commands.push(
                redis::cmd("XADD")
                    .arg(self.keys.stream(stream))
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.stream_lengths[stream as usize])
                    .arg("*")
                    .arg("e")
                    .arg(payload)
                    .to_owned(),
            ),
        }
        if !self.send(commands) {
            return self.deliver_locally(event);
        }
        if !followed_here {
            return; // nobody here is on that stream: nothing to read back
        }
        if let Some(oldest) = self.own.hold(seq, event) {
            self.deliver_locally(oldest);
        }
    }

    /// Queues commands for the link; false if it is gone.
    fn send(&self, commands: Outgoing) -> bool {
        self.outgoing
            .as_ref()
            .is_some_and(|outgoing| outgoing.send(commands).is_ok())
    }

    /// Hands an event to this instance's rooms, with its offset.
    fn deliver(&self, event: ClusterEvent, offset: Offset) {
        match event {
            ClusterEvent::Store(StoreEvent::AccountCreated { .. }) => {}
            ClusterEvent::Store(event) => self.rooms.products.do_send(Stamped { offset, event }),
            ClusterEvent::Chat(event) => self.rooms.chat.do_send(Stamped { offset, event }),
            ClusterEvent::Presence { .. } | ClusterEvent::Resync => {}
        }
    }

    /// Delivers an own event here without waiting for Redis.
    fn deliver_locally(&self, event: ClusterEvent) {
        let offset = self.clock.tick();
        self.deliver(event, offset);
    }

    /// Own events that have waited longer than the grace are delivered
    /// here (Redis is away, or they were lost on the way).
    fn deliver_overdue(&mut self) {
        let overdue = self.own.overdue();
        if !overdue.is_empty() {
            log::warn!(
                "cluster: Redis has not given back {} events within {} ms; delivering them here",
                overdue.len(),
                self.own.grace().as_millis()
            );
        }
        for event in overdue {
            self.deliver_locally(event);
        }
    }

    /// Drops what this instance keeps from events, since some were missed.
    fn forget_caches(&self) {
        self.store.do_send(ForgetCachedListings {});
        self.rooms.forget_snapshot.do_send(ForgetSnapshot);
        self.rooms.reload_history.do_send(ReloadHistory);
        actix::spawn(self.accounts.clone().recheck(self.store.clone()));
    }

    /// Another instance's event.
    fn received(&mut self, from: String, event: ClusterEvent, offset: Offset, ctx: &mut Context<Self>) {
        match event {
            ClusterEvent::Store(StoreEvent::AccountCreated { admin }) => self.accounts.learn(true, admin),
            ClusterEvent::Store(StoreEvent::CartUpdated(_)) | ClusterEvent::Chat(_) => {
                self.deliver(event, offset)
            }
            ClusterEvent::Store(_) => {
                // Another instance's product change: cached listings are stale.
                self.store.do_send(ForgetCachedListings {});
                self.deliver(event, offset);
            }
            ClusterEvent::Presence {
                version,
                joined,
                left,
            } => {
                let (change, stale) = self.presence.remote_changed(from.clone(), version, joined, left);
                self.tell_room(change);
                if stale {
                    self.read_presence(vec![from], ctx);
                }
            }
            ClusterEvent::Resync => {
                // It may have delivered events of its own meanwhile, and
                // changed its presence unpublished.
                self.forget_caches();
                self.presence.mark_stale(&from);
                self.read_presence(vec![from], ctx);
            }
        }
    }

    fn tell_room(&self, change: Option<RemotePresence>) {
        if let Some(change) = change {
            self.rooms.presence.do_send(change);
        }
    }

    /// Reads whole presence sets of `instances`, then applies them.
    fn read_presence(&self, instances: Vec<String>, ctx: &mut Context<Self>) {
        let Some(reader) = self.link.connection() else {
            return;
        };
        if instances.is_empty() {
            return;
        }
        presence::read_sets(reader, self.keys.clone(), instances)
            .into_actor(self)
            .map(|sets, bus, _| {
                for set in sets {
                    let change = bus.presence.set_read(set);
                    bus.tell_room(change);
                }
            })
            .spawn(ctx);
    }

    /// Keeps this instance's presence alive and looks for instances that
    /// came or went.
    fn refresh(&mut self, ctx: &mut Context<Self>) {
        if !self.link.linked() {
            return;
        }
        self.send(self.presence.keep_alive());
        let Some(reader) = self.link.connection() else {
            return;
        };
        let scan = self.presence.start_scan();
        presence::live_instances(reader, self.keys.clone())
            .into_actor(self)
            .map(move |scanned, bus, ctx| match scanned {
                Ok(live) => {
                    let (change, to_read) = bus.presence.scanned(scan, live);
                    bus.tell_room(change);
                    bus.read_presence(to_read, ctx);
                }
                Err(error) => log::warn!("cluster: cannot list the instances: {error}"),
            })
            .spawn(ctx);
    }

    fn linked(&mut self, connection: RedisConnection, ctx: &mut Context<Self>) {
        let relinked = self.outage > 0;
        self.link.set(Some(connection));
        let write = self.presence.write_all();
        self.send(write);
        if relinked {
            // Own events may have been delivered here meanwhile, and the
            // others' presence changed: everyone re-reads.
            self.publish(ClusterEvent::Resync, Vec::new());
            let known = self.presence.mark_all_stale();
            self.read_presence(known, ctx);
        }
        self.refresh(ctx);
    }

    fn unlinked(&mut self, ctx: &mut Context<Self>) {
        self.link.set(None);
        self.outage += 1;
        // Other instances' users are kept for the presence expiry; if Redis
        // is still away then, they are announced as left (their instances
        // would have dropped ours by then too).
        let outage = self.outage;
        ctx.run_later(self.presence.ttl(), move |bus, _| {
            if !bus.link.linked() && bus.outage == outage {
                let change = bus.presence.forget_all();
                bus.tell_room(change);
            }
        });
    }
}

impl Actor for Bus {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.outgoing = Some(sender);
        let streams = Stream::ALWAYS_FOLLOWED
            .iter()
            .map(|stream| (*stream as usize, self.keys.stream(*stream)))
            .collect();
        link::start(self.client.clone(), streams, ctx.address().recipient(), receiver);
        ctx.run_interval(self.presence.refresh_every(), |bus, ctx| bus.refresh(ctx));
        // Nothing here reads `products` yet: nothing would tell the store's
        // listing cache of another instance's changes.
        self.store.do_send(CacheListings { keep: false });
        let check = (self.own.grace() / 4).max(Duration::from_millis(50));
        ctx.run_interval(check, |bus, _| bus.deliver_overdue());
    }
}

impl Handler<LinkEvent> for Bus {
    type Result = ();

    fn handle(&mut self, event: LinkEvent, ctx: &mut Context<Self>) {
        match event {
            LinkEvent::Linked(connection) => self.linked(connection, ctx),
            LinkEvent::Unlinked => self.unlinked(ctx),
            LinkEvent::Problem(problem) => self.link.set_problem(Some(problem)),
            LinkEvent::Entries(entries) => self.read(entries, ctx),
        }
    }
}

impl Handler<StoreEvent> for Bus {
    type Result = ();

    fn handle(&mut self, event: StoreEvent, _: &mut Context<Self>) {
        self.publish(ClusterEvent::Store(event), Vec::new());
    }
}

impl Handler<PublishChat> for Bus {
    type Result = ();

    fn handle(&mut self, PublishChat(delivery): PublishChat, _: &mut Context<Self>) {
        self.publish(ClusterEvent::Chat(delivery), Vec::new());
    }
}

impl Handler<LocalPresence> for Bus {
    type Result = ();

    fn handle(&mut self, LocalPresence(changes): LocalPresence, _: &mut Context<Self>) {
        let Some((version, joined, left)) = self.presence.local_changed(changes) else {
            return;
        };
        if !self.link.linked() {
            return; // written whole when the link is back
        }
        let commands = self.presence.change_commands(&joined, &left);
        self.publish(
            ClusterEvent::Presence {
                version,
                joined,
                left,
            },
            commands,
        );
    }
}
