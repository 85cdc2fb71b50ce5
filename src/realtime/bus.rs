//! `Bus`: several instances, one world. With `REDIS_URL` set, every
//! broadcast goes through one Redis pub/sub channel and every instance
//! delivers what it receives to its own sessions; the `ProductFeed`,
//! `ChatRoom` and `MongoStore` keep their shape and only publish to the bus
//! instead of broadcasting directly.
//!
//! - Order: an instance delivers even its own events when they come back
//!   from Redis, so every instance sees chat messages (and product changes)
//!   in Redis's one order. Events it published that have not come back are
//!   kept (`pending`) and delivered locally if the link breaks, so a Redis
//!   outage never loses an event for the instance's own sessions.
//! - Cost: one PUBLISH per event, one subscription per instance; a receiving
//!   instance decodes the event once and its feed serializes the frame once.
//! - Presence: each instance keeps its online chat users in a Redis set
//!   (`<prefix>:presence:<instance>:users`) next to a version key that
//!   expires unless refreshed, so that a dead instance is noticed within
//!   `redis.presence_ttl_s`. Changes are
//!   published with the version; a receiver that sees a gap, or a new
//!   instance, reads the set. An instance whose version key expired (it
//!   died) is forgotten and its users announced as left.
//! - Redis down: events are delivered locally, `/health` says so, and the
//!   link reconnects with backoff. Once back, the instance rewrites its
//!   presence and tells every instance to drop caches that may have missed
//!   events (listing cache, product snapshot, chat history).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, AsyncConnectionConfig, Cmd, Pipeline};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::chat_room::{ChatDelivery, ChatRoom, ReloadHistory, RemotePresence};
use super::product_feed::{ForgetSnapshot, ProductFeed};
use crate::auth::Accounts;
use crate::cluster::ClusterLink;
use crate::domain::Email;
use crate::store::{ForgetCachedListings, MongoStore, StoreEvent};

/// What goes between instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum ClusterEvent {
    /// A committed product or cart change.
    Store(StoreEvent),
    /// A stored chat message and who may receive it.
    Chat(ChatDelivery),
    /// The sender's online users changed (version `version`).
    Presence {
        version: u64,
        joined: Vec<Email>,
        left: Vec<Email>,
    },
    /// The sender was cut off from Redis: caches kept from events may have
    /// missed some of its changes.
    Resync,
}

#[derive(Serialize)]
struct OutgoingEnvelope<'a> {
    from: &'a str,
    seq: u64,
    event: &'a ClusterEvent,
}

/// A received event; the body is decoded only when it came from another
/// instance (an echo of our own is matched by `seq`).
#[derive(Deserialize)]
struct IncomingEnvelope<'a> {
    from: &'a str,
    seq: u64,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// Redis key names.
#[derive(Clone)]
struct Keys {
    prefix: String,
    instance: String,
}

impl Keys {
    fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
    fn users_of(&self, instance: &str) -> String {
        format!("{}:presence:{instance}:users", self.prefix)
    }
    fn version_of(&self, instance: &str) -> String {
        format!("{}:presence:{instance}:version", self.prefix)
    }
    fn version_pattern(&self) -> String {
        format!("{}:presence:*:version", self.prefix)
    }
    /// The instance a version key belongs to.
    fn instance_of_version_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?
            .strip_prefix(":presence:")?
            .strip_suffix(":version")
    }
}

/// Published events this instance waits to see back, at most; past this
/// they are delivered locally (an echo that comes later is ignored).
const PENDING_MAX: usize = 10_000;

/// Commands the link runs in order (one event's, or one refresh's).
type Outgoing = Vec<Cmd>;

/// What another instance's presence looks like from here.
#[derive(Default)]
struct RemoteInstance {
    version: u64,
    users: HashSet<Email>,
    /// A change was missed: read the whole set again.
    stale: bool,
    /// Scans started before this one was first heard of cannot tell
    /// whether it is alive.
    first_scan: u64,
}

pub struct Bus {
    keys: Keys,
    ttl: Duration,
    client: redis::Client,
    link: Arc<ClusterLink>,
    store: Addr<MongoStore>,
    product_feed: Addr<ProductFeed>,
    chat_room: Addr<ChatRoom>,
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
    /// This instance's online chat users, as published.
    local_users: HashSet<Email>,
    presence_version: u64,
    remote: HashMap<String, RemoteInstance>,
    /// Scans of live instances started so far.
    scans: u64,
}

/// Links to Redis; reconnects by itself.
#[derive(Message)]
#[rtype(result = "()")]
struct Linked(MultiplexedConnection);

#[derive(Message)]
#[rtype(result = "()")]
struct Unlinked;

#[derive(Message)]
#[rtype(result = "()")]
struct Received(String);

/// Publishes a chat message to every instance (the room delivers it when
/// it comes back).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishChat(pub ChatDelivery);

/// This instance's online users changed: `(user, online)` per user whose
/// local state may have changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LocalPresence(pub Vec<(Email, bool)>);

/// A whole presence set read from Redis.
#[derive(Message)]
#[rtype(result = "()")]
struct PresenceRead {
    instance: String,
    version: u64,
    users: Vec<Email>,
}

/// The instances whose version key existed at scan number `scan`.
#[derive(Message)]
#[rtype(result = "()")]
struct LiveInstances {
    scan: u64,
    live: HashSet<String>,
}

impl Bus {
    pub fn new(
        settings: &crate::configuration::RedisSettings,
        client: redis::Client,
        store: Addr<MongoStore>,
        product_feed: Addr<ProductFeed>,
        chat_room: Addr<ChatRoom>,
        accounts: Arc<Accounts>,
        link: Arc<ClusterLink>,
    ) -> Bus {
        let instance = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        log::info!("cluster: this instance is {instance}");
        Bus {
            keys: Keys {
                prefix: settings.prefix.clone(),
                instance,
            },
            ttl: Duration::from_secs(settings.presence_ttl_s.max(3)),
            client,
            link,
            store,
            product_feed,
            chat_room,
            accounts,
            outgoing: None,
            outage: 0,
            next_seq: 0,
            pending: VecDeque::new(),
            local_users: HashSet::new(),
            presence_version: 0,
            remote: HashMap::new(),
            scans: 0,
        }
    }

    /// How often the instance refreshes its presence keys and scans for
    /// instances that came or went.
    fn refresh_every(&self) -> Duration {
        self.ttl / 5
    }

    /// How long the presence keys live unrefreshed: a dead instance's key
    /// expires, and the next scan sees it gone, within `presence_ttl_s`
    /// (a live one would have to miss four refreshes in a row).
    fn key_expiry_ms(&self) -> u64 {
        u64::try_from((self.ttl - self.refresh_every()).as_millis()).unwrap_or(u64::MAX)
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
            ClusterEvent::Store(event) => self.product_feed.do_send(event),
            ClusterEvent::Chat(delivery) => self.chat_room.do_send(delivery),
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
        self.product_feed.do_send(ForgetSnapshot);
        self.chat_room.do_send(ReloadHistory);
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
                self.product_feed.do_send(event);
            }
            ClusterEvent::Chat(delivery) => self.chat_room.do_send(delivery),
            ClusterEvent::Presence {
                version,
                joined,
                left,
            } => self.remote_changed(from, version, joined, left, ctx),
            ClusterEvent::Resync => {
                // It may have changed its presence while away, unpublished.
                self.forget_caches();
                if let Some(remote) = self.remote.get_mut(&from) {
                    remote.stale = true;
                }
                self.read_presence(vec![from], ctx);
            }
        }
    }

    /// Applies another instance's presence change; a gap (or an instance
    /// not seen before) makes it read the whole set.
    fn remote_changed(
        &mut self,
        from: String,
        version: u64,
        joined: Vec<Email>,
        left: Vec<Email>,
        ctx: &mut Context<Self>,
    ) {
        let known = self.remote.contains_key(&from);
        let scans = self.scans;
        let remote = self.remote.entry(from.clone()).or_insert_with(|| RemoteInstance {
            first_scan: scans,
            ..RemoteInstance::default()
        });
        if known && version <= remote.version {
            return; // already in a set read since
        }
        if !known || version != remote.version + 1 {
            remote.stale = true;
        }
        remote.version = version;
        let joined: Vec<Email> = joined
            .into_iter()
            .filter(|user| remote.users.insert(user.clone()))
            .collect();
        let left: Vec<Email> = left
            .into_iter()
            .filter(|user| remote.users.remove(user))
            .collect();
        let stale = remote.stale;
        self.tell_room(joined, left);
        if stale {
            self.read_presence(vec![from], ctx);
        }
    }

    fn tell_room(&self, joined: Vec<Email>, left: Vec<Email>) {
        if !joined.is_empty() || !left.is_empty() {
            self.chat_room.do_send(RemotePresence { joined, left });
        }
    }

    /// Forgets an instance (it died, or Redis has been away too long) and
    /// tells the room its users left.
    fn forget_instance(&mut self, instance: &str) {
        if let Some(gone) = self.remote.remove(instance) {
            log::info!(
                "cluster: instance {instance} is gone ({} users left)",
                gone.users.len()
            );
            self.tell_room(Vec::new(), gone.users.into_iter().collect());
        }
    }

    /// Reads whole presence sets (and their versions) of `instances`.
    fn read_presence(&self, instances: Vec<String>, ctx: &mut Context<Self>) {
        let Some(mut reader) = self.link.connection() else {
            return;
        };
        let keys = self.keys.clone();
        let bus = ctx.address();
        actix::spawn(async move {
            for instance in instances {
                let read: redis::RedisResult<(Vec<String>, Option<u64>)> = redis::pipe()
                    .smembers(keys.users_of(&instance))
                    .get(keys.version_of(&instance))
                    .query_async(&mut reader)
                    .await;
                match read {
                    Ok((users, Some(version))) => bus.do_send(PresenceRead {
                        instance,
                        version,
                        users: users
                            .iter()
                            .filter_map(|user| Email::parse("user", user).ok())
                            .collect(),
                    }),
                    Ok((_, None)) => {} // gone; the next scan notices
                    Err(error) => log::warn!("cluster: cannot read the presence of {instance}: {error}"),
                }
            }
        });
    }

    /// Keeps this instance's presence alive and looks for instances that
    /// came or went.
    fn refresh(&mut self, ctx: &mut Context<Self>) {
        if !self.link.linked() {
            return;
        }
        self.send(self.keep_presence_alive());
        let Some(mut reader) = self.link.connection() else {
            return;
        };
        let keys = self.keys.clone();
        let bus = ctx.address();
        self.scans += 1;
        let scan = self.scans;
        actix::spawn(async move {
            let scanned: redis::RedisResult<Vec<String>> = async {
                let mut found = Vec::new();
                let mut keys_iter = reader.scan_match::<_, String>(keys.version_pattern()).await?;
                while let Some(key) = keys_iter.next_item().await {
                    found.push(key);
                }
                Ok(found)
            }
            .await;
            match scanned {
                Ok(found) => bus.do_send(LiveInstances {
                    scan,
                    live: found
                        .iter()
                        .filter_map(|key| keys.instance_of_version_key(key))
                        .filter(|instance| *instance != keys.instance)
                        .map(str::to_owned)
                        .collect(),
                }),
                Err(error) => log::warn!("cluster: cannot list the instances: {error}"),
            }
        });
    }

    /// Writes this instance's whole presence (after linking: Redis may have
    /// restarted empty, and changes made while unlinked were not published).
    fn write_presence(&mut self) {
        self.presence_version += 1;
        let me = &self.keys.instance;
        let users_key = self.keys.users_of(me);
        let mut commands = vec![redis::cmd("DEL").arg(&users_key).to_owned()];
        let users: Vec<&str> = self.local_users.iter().map(Email::as_str).collect();
        for chunk in users.chunks(1000) {
            commands.push(redis::cmd("SADD").arg(&users_key).arg(chunk).to_owned());
        }
        commands.extend(self.keep_presence_alive());
        self.send(commands);
    }

    /// Sets this instance's presence version and gives both its keys a new
    /// expiry.
    fn keep_presence_alive(&self) -> Vec<Cmd> {
        let me = &self.keys.instance;
        let expiry = self.key_expiry_ms();
        vec![
            redis::cmd("PEXPIRE")
                .arg(self.keys.users_of(me))
                .arg(expiry)
                .to_owned(),
            redis::cmd("SET")
                .arg(self.keys.version_of(me))
                .arg(self.presence_version)
                .arg("PX")
                .arg(expiry)
                .to_owned(),
        ]
    }
}

/// The link to Redis: one subscription and one command connection, run by
/// one task that reconnects with backoff. Commands run in the order they
/// were queued, batched into one pipeline per round trip.
async fn link(
    client: redis::Client,
    channel: String,
    bus: Addr<Bus>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut was_down = false;
    loop {
        match connect(&client, &channel).await {
            Ok((mut messages, mut connection)) => {
                backoff = Duration::from_millis(100);
                if was_down {
                    log::info!("cluster: Redis is back; resubscribed");
                }
                was_down = false;
                bus.do_send(Linked(connection.clone()));
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => match message.get_payload::<String>() {
                                Ok(payload) => bus.do_send(Received(payload)),
                                Err(error) => log::warn!("cluster: unreadable message: {error}"),
                            },
                            None => break,
                        },
                        queued = outgoing.recv() => {
                            let Some(first) = queued else { return };
                            let mut pipeline = Pipeline::new();
                            for command in std::iter::once(first)
                                .chain(std::iter::from_fn(|| outgoing.try_recv().ok()))
                                .take(512)
                                .flatten()
                            {
                                pipeline.add_command(command).ignore();
                            }
                            if let Err(error) = pipeline.query_async::<()>(&mut connection).await {
                                log::warn!("cluster: a publish to Redis failed: {error}");
                                break;
                            }
                        }
                    }
                }
            }
            Err(error) => {
                if !was_down {
                    log::warn!("cluster: cannot reach Redis ({error}); serving this instance's sessions on its own and retrying");
                }
            }
        }
        if !was_down {
            bus.do_send(Unlinked);
        }
        was_down = true;
        // Whatever was queued meanwhile was delivered locally by the bus.
        while outgoing.try_recv().is_ok() {}
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<(redis::aio::PubSubStream, MultiplexedConnection)> {
    let timeout = Duration::from_secs(2);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    let connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "connection timed out")))??;
    pubsub.subscribe(channel).await?;
    Ok((pubsub.into_on_message(), connection))
}

impl Actor for Bus {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.outgoing = Some(sender);
        actix::spawn(link(
            self.client.clone(),
            self.keys.channel(),
            ctx.address(),
            receiver,
        ));
        ctx.run_interval(self.refresh_every(), |bus, ctx| bus.refresh(ctx));
    }
}

impl Handler<Linked> for Bus {
    type Result = ();

    fn handle(&mut self, Linked(connection): Linked, ctx: &mut Context<Self>) {
        let relinked = self.outage > 0;
        self.link.set(Some(connection));
        self.write_presence();
        if relinked {
            // Events were missed both ways while unlinked.
            self.forget_caches();
            self.publish(ClusterEvent::Resync, Vec::new());
            let known: Vec<String> = self.remote.keys().cloned().collect();
            for remote in self.remote.values_mut() {
                remote.stale = true;
            }
            self.read_presence(known, ctx);
        }
        self.refresh(ctx);
    }
}

impl Handler<Unlinked> for Bus {
    type Result = ();

    fn handle(&mut self, _: Unlinked, ctx: &mut Context<Self>) {
        self.link.set(None);
        self.outage += 1;
        self.deliver_pending();
        // Other instances' users are kept for the presence expiry; if Redis
        // is still away then, they are announced as left (their instances
        // would have dropped ours by then too).
        let outage = self.outage;
        ctx.run_later(self.ttl, move |bus, _| {
            if !bus.link.linked() && bus.outage == outage {
                let instances: Vec<String> = bus.remote.keys().cloned().collect();
                for instance in instances {
                    bus.forget_instance(&instance);
                }
            }
        });
    }
}

impl Handler<Received> for Bus {
    type Result = ();

    fn handle(&mut self, Received(payload): Received, ctx: &mut Context<Self>) {
        self.received(&payload, ctx);
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
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for (user, online) in changes {
            if online && self.local_users.insert(user.clone()) {
                joined.push(user);
            } else if !online && self.local_users.remove(&user) {
                left.push(user);
            }
        }
        if joined.is_empty() && left.is_empty() {
            return;
        }
        self.presence_version += 1;
        if !self.link.linked() {
            return; // written whole when the link is back
        }
        let me = &self.keys.instance;
        let users_key = self.keys.users_of(me);
        let mut commands = Vec::new();
        if !joined.is_empty() {
            let names: Vec<&str> = joined.iter().map(Email::as_str).collect();
            commands.push(redis::cmd("SADD").arg(&users_key).arg(names).to_owned());
        }
        if !left.is_empty() {
            let names: Vec<&str> = left.iter().map(Email::as_str).collect();
            commands.push(redis::cmd("SREM").arg(&users_key).arg(names).to_owned());
        }
        commands.extend(self.keep_presence_alive());
        let version = self.presence_version;
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

impl Handler<PresenceRead> for Bus {
    type Result = ();

    fn handle(&mut self, read: PresenceRead, _: &mut Context<Self>) {
        let scans = self.scans;
        let remote = self
            .remote
            .entry(read.instance)
            .or_insert_with(|| RemoteInstance {
                first_scan: scans,
                ..RemoteInstance::default()
            });
        if read.version < remote.version {
            return; // older than changes applied since; still stale, read again later
        }
        let users: HashSet<Email> = read.users.into_iter().collect();
        let joined: Vec<Email> = users.difference(&remote.users).cloned().collect();
        let left: Vec<Email> = remote.users.difference(&users).cloned().collect();
        remote.users = users;
        remote.version = read.version;
        remote.stale = false;
        self.tell_room(joined, left);
    }
}

impl Handler<LiveInstances> for Bus {
    type Result = ();

    fn handle(&mut self, LiveInstances { scan, live }: LiveInstances, ctx: &mut Context<Self>) {
        let gone: Vec<String> = self
            .remote
            .iter()
            .filter(|(instance, remote)| remote.first_scan < scan && !live.contains(*instance))
            .map(|(instance, _)| instance.clone())
            .collect();
        for instance in gone {
            self.forget_instance(&instance);
        }
        let to_read: Vec<String> = live
            .into_iter()
            .filter(|instance| self.remote.get(instance).is_none_or(|remote| remote.stale))
            .collect();
        self.read_presence(to_read, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_name_their_instance() {
        let keys = Keys {
            prefix: "shop".to_owned(),
            instance: "me".to_owned(),
        };
        assert_eq!(
            keys.instance_of_version_key(&keys.version_of("abc123")),
            Some("abc123")
        );
        assert_eq!(keys.instance_of_version_key("other:presence:abc:version"), None);
        assert_eq!(keys.instance_of_version_key(&keys.users_of("abc")), None);
    }

    #[test]
    fn events_cross_the_wire_unchanged_and_invalid_emails_do_not() {
        let event = ClusterEvent::Presence {
            version: 7,
            joined: vec![Email::parse("user", "Ana@Example.com").unwrap()],
            left: vec![],
        };
        let text = serde_json::to_string(&OutgoingEnvelope {
            from: "a",
            seq: 3,
            event: &event,
        })
        .unwrap();
        let envelope: IncomingEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!((envelope.from, envelope.seq), ("a", 3));
        let back: ClusterEvent = serde_json::from_str(envelope.event.get()).unwrap();
        assert!(
            matches!(back, ClusterEvent::Presence { version: 7, ref joined, .. }
            if joined[0].as_str() == "ana@example.com")
        );
        let forged = r#"{"kind":"presence","data":{"version":1,"joined":["not an email"],"left":[]}}"#;
        assert!(serde_json::from_str::<ClusterEvent>(forged).is_err());
    }
}
