//! `Bus`: several instances, one world. With `REDIS_URL` set, every
//! broadcast goes through one Redis pub/sub channel and every instance
//! delivers what it receives to its own rooms. The rooms keep their shape:
//! they publish to the bus through recipients and are fed by it through
//! recipients (`crate::realtime::events`), so neither side names the other.
//!
//! - Order: an instance delivers even its own events when they come back
//!   from Redis, so every instance sees chat messages (and product changes)
//!   in Redis's one order. Events it published that have not come back are
//!   kept (`pending`) and delivered locally if the link breaks, so a Redis
//!   outage never loses an event for the instance's own sessions.
//! - Cost: one PUBLISH per event, one subscription per instance; a receiving
//!   instance decodes the event once and its feed serializes the frame once.
//! - Presence: `presence` (cluster presence sets with expiring keys).
//! - Redis down: events are delivered locally, `/health` says so, and the
//!   link (`crate::cluster::link`) reconnects with backoff. Once back, the
//!   instance rewrites its presence and tells every instance to drop caches
//!   that may have missed events (listing cache, product snapshot, chat
//!   history).

pub mod presence;
pub mod wire;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use redis::Cmd;
use tokio::sync::mpsc;

use self::presence::ClusterPresence;
use self::wire::{ClusterEvent, IncomingEnvelope, Keys, OutgoingEnvelope};
use super::events::{ForgetSnapshot, LocalPresence, LocalRooms, PublishChat, ReloadHistory, RemotePresence};
use crate::auth::Accounts;
use crate::cluster::link::{self, LinkEvent, Outgoing};
use crate::cluster::ClusterLink;
use crate::store::{ForgetCachedListings, MongoStore, StoreEvent};

/// Published events this instance waits to see back, at most; past this
/// they are delivered locally (an echo that comes later is ignored).
const PENDING_MAX: usize = 10_000;

pub struct Bus {
    keys: Keys,
    client: redis::Client,
    link: Arc<ClusterLink>,
    store: Addr<MongoStore>,
    rooms: LocalRooms,
    /// Whether accounts exist is learnt from other instances too.
    accounts: Arc<Accounts>,
    /// Commands for the link task, run in order on one connection.
    outgoing: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Bumped at every unlink, so a timer set during an outage knows
    /// whether it is still the same outage.
    outage: u64,
    next_seq: u64,
    /// Published events not yet seen back, oldest first.
    pending: VecDeque<(u64, ClusterEvent)>,
    presence: ClusterPresence,
}

impl Bus {
    pub fn new(
        settings: &crate::configuration::RedisSettings,
        client: redis::Client,
        store: Addr<MongoStore>,
        rooms: LocalRooms,
        accounts: Arc<Accounts>,
        link: Arc<ClusterLink>,
    ) -> Bus {
        let instance = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        log::info!("cluster: this instance is {instance}");
        let keys = Keys {
            prefix: settings.prefix.clone(),
            instance,
        };
        let ttl = Duration::from_secs(settings.presence_ttl_s.max(3));
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
            next_seq: 0,
            pending: VecDeque::new(),
        }
    }

    /// Publishes `event` (after `before`, in the same ordered batch); while
    /// unlinked, delivers it locally instead.
    fn publish(&mut self, event: ClusterEvent, before: Vec<Cmd>) {
        if !self.link.linked() {
            self.deliver_own(event);
            return;
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let payload = match serde_json::to_string(&OutgoingEnvelope {
            from: &self.keys.instance,
            seq,
            event: &event,
        }) {
            Ok(payload) => payload,
            Err(error) => {
                log::error!("cluster: cannot encode an event ({error}); delivered here only");
                self.deliver_own(event);
                return;
            }
        };
        let mut commands = before;
        commands.push(
            redis::cmd("PUBLISH")
                .arg(self.keys.channel())
                .arg(payload)
                .to_owned(),
        );
        if !self.send(commands) {
            return self.deliver_own(event);
        }
        self.pending.push_back((seq, event));
        if self.pending.len() > PENDING_MAX {
            // Redis takes our events but they do not come back (a stalled
            // subscription): deliver them here rather than hold them all.
            log::warn!("cluster: {PENDING_MAX} events published and not seen back; delivering them locally");
            self.deliver_pending();
        }
    }

    /// Queues commands for the link; false if it is gone.
    fn send(&self, commands: Outgoing) -> bool {
        self.outgoing
            .as_ref()
            .is_some_and(|outgoing| outgoing.send(commands).is_ok())
    }

    /// Delivers an event this instance published to its own sessions.
    fn deliver_own(&self, event: ClusterEvent) {
        match event {
            // Learnt here already, when the account was registered.
            ClusterEvent::Store(StoreEvent::AccountCreated { .. }) => {}
            ClusterEvent::Store(event) => self.rooms.products.do_send(event),
            ClusterEvent::Chat(delivery) => self.rooms.chat.do_send(delivery),
            // Own presence is applied locally by the room already.
            ClusterEvent::Presence { .. } | ClusterEvent::Resync => {}
        }
    }

    /// Delivers every published event not yet seen back.
    fn deliver_pending(&mut self) {
        for (_, event) in std::mem::take(&mut self.pending) {
            self.deliver_own(event);
        }
    }

    /// Drops what this instance keeps from events, since some were missed.
    fn forget_caches(&self) {
        self.store.do_send(ForgetCachedListings {});
        self.rooms.forget_snapshot.do_send(ForgetSnapshot);
        self.rooms.reload_history.do_send(ReloadHistory);
        actix::spawn(self.accounts.clone().recheck(self.store.clone()));
    }

    fn received(&mut self, payload: &str, ctx: &mut Context<Self>) {
        let envelope: IncomingEnvelope = match serde_json::from_str(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                log::warn!("cluster: ignoring a malformed event ({error})");
                return;
            }
        };
        if envelope.from == self.keys.instance {
            // Our own, back from Redis: deliver it and any before it that
            // were lost on the way.
            while self.pending.front().is_some_and(|(seq, _)| *seq <= envelope.seq) {
                if let Some((_, event)) = self.pending.pop_front() {
                    self.deliver_own(event);
                }
            }
            return;
        }
        let event: ClusterEvent = match serde_json::from_str(envelope.event.get()) {
            Ok(event) => event,
            Err(error) => {
                log::warn!("cluster: ignoring an event from {} ({error})", envelope.from);
                return;
            }
        };
        let from = envelope.from.to_owned();
        match event {
            ClusterEvent::Store(StoreEvent::AccountCreated { admin }) => self.accounts.learn(true, admin),
            ClusterEvent::Store(event) => {
                if !matches!(event, StoreEvent::CartUpdated(_)) {
                    self.store.do_send(ForgetCachedListings {});
                }
                self.rooms.products.do_send(event);
            }
            ClusterEvent::Chat(delivery) => self.rooms.chat.do_send(delivery),
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
                // It may have changed its presence while away, unpublished.
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

    fn linked(&mut self, connection: redis::aio::MultiplexedConnection, ctx: &mut Context<Self>) {
        let relinked = self.outage > 0;
        self.link.set(Some(connection));
        let write = self.presence.write_all();
        self.send(write);
        if relinked {
            // Events were missed both ways while unlinked.
            self.forget_caches();
            self.publish(ClusterEvent::Resync, Vec::new());
            let known = self.presence.mark_all_stale();
            self.read_presence(known, ctx);
        }
        self.refresh(ctx);
    }

    fn unlinked(&mut self, ctx: &mut Context<Self>) {
        self.link.set(None);
        self.outage += 1;
        self.deliver_pending();
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
        actix::spawn(link::run(
            self.client.clone(),
            self.keys.channel(),
            ctx.address().recipient(),
            receiver,
        ));
        ctx.run_interval(self.presence.refresh_every(), |bus, ctx| bus.refresh(ctx));
    }
}

impl Handler<LinkEvent> for Bus {
    type Result = ();

    fn handle(&mut self, event: LinkEvent, ctx: &mut Context<Self>) {
        match event {
            LinkEvent::Linked(connection) => self.linked(connection, ctx),
            LinkEvent::Unlinked => self.unlinked(ctx),
            LinkEvent::Received(payload) => self.received(&payload, ctx),
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

/// The bus's own test of the delivery types it names (kept so a change in
/// `ChatDelivery` that breaks the wire format shows here).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::events::ChatDelivery;

    #[test]
    fn a_chat_delivery_crosses_the_wire() {
        let delivery: ChatDelivery = serde_json::from_str(
            r#"{"message": {"_id": "0123456789abcdef01234567", "user": "a@b.co", "message": "hi",
                            "to": null, "createdAt": "2026-01-01T00:00:00Z"},
                "sender_verified": true, "recipient_is_account": false}"#,
        )
        .expect("a delivery");
        let event = ClusterEvent::Chat(delivery);
        let text = serde_json::to_string(&event).expect("encoded");
        assert!(matches!(
            serde_json::from_str::<ClusterEvent>(&text),
            Ok(ClusterEvent::Chat(_))
        ));
    }
}
