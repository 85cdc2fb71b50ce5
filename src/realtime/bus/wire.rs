//! What goes between instances, and under which Redis names: the events
//! (`ClusterEvent`) in their envelopes, the streams they are appended to
//! (`Stream`), and the keys of one cluster (`Keys`, all under
//! `redis.prefix`). Each stream's key carries a hash tag of its own, so on
//! a Redis Cluster each stream lives on one shard and they spread; the
//! presence keys share the control stream's tag, so a presence change and
//! the event announcing it go to one shard in one ordered pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::{Email, Id};
use crate::realtime::events::{ChatDelivery, Stamped};
use crate::realtime::stream::Offset;
use crate::store::StoreEvent;

/// The Redis streams the bus appends to and follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Chat messages (the `chat` stream of the clients).
    Chat = 0,
    /// Product changes (`products`).
    Products = 1,
    /// Cart changes: one stream per cart (`cart:<id>`), followed only
    /// while a local session watches the cart.
    Carts = 2,
    /// Between instances only: presence changes, resyncs, new accounts.
    Control = 3,
}

impl Stream {
    pub const ALL: [Stream; 4] = [Stream::Chat, Stream::Products, Stream::Carts, Stream::Control];

    /// The streams every instance follows all the time (the others only
    /// while its sessions are on them).
    pub const ALWAYS_FOLLOWED: [Stream; 1] = [Stream::Control];

    pub fn from_index(index: usize) -> Option<Stream> {
        Stream::ALL.get(index).copied()
    }

    fn name(self) -> &'static str {
        match self {
            Stream::Chat => "chat",
            Stream::Products => "products",
            Stream::Carts => "carts",
            Stream::Control => "control",
        }
    }
}

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
pub struct OutgoingEnvelope<'a> {
    pub from: &'a str,
    pub seq: u64,
    pub event: &'a ClusterEvent,
}

/// A received event; the body is decoded only when it came from another
/// instance (an echo of our own is matched by `seq`).
#[derive(Deserialize)]
pub struct IncomingEnvelope<'a> {
    pub from: &'a str,
    pub seq: u64,
    #[serde(borrow)]
    pub event: &'a RawValue,
}

/// Where a stream stands when this instance starts following it, and the
/// newest events Redis kept before that (oldest first; `complete`: back to
/// the stream's start): what a room's log starts again from.
pub struct Kept {
    pub head: String,
    pub events: Vec<(Offset, ClusterEvent)>,
    pub complete: bool,
}

impl Kept {
    /// Takes the kept events of one kind (`pick`), with their offsets,
    /// oldest first.
    pub fn take_events<T>(&mut self, pick: impl Fn(ClusterEvent) -> Option<T>) -> Vec<Stamped<T>> {
        std::mem::take(&mut self.events)
            .into_iter()
            .filter_map(|(offset, event)| pick(event).map(|event| Stamped { offset, event }))
            .collect()
    }

    /// Following from now (`now_ms`, on this instance's clock: entry ids
    /// begin with Redis's), when Redis cannot say where the stream stands.
    pub fn from_now(now_ms: u64) -> Kept {
        Kept {
            head: format!("{now_ms}-0"),
            events: Vec::new(),
            complete: false,
        }
    }
}

/// Lanes of cart streams (hash tags): enough to spread over the shards of
/// a cluster, few enough that an instance reads them on a connection each.
pub const CART_LANES: u16 = 16;

/// Larger entries are not this server's (an event is a chat message or a
/// product, both bounded far below): dropped unread.
const MAX_ENTRY_BYTES: usize = 1 << 20;

impl<'a> IncomingEnvelope<'a> {
    /// The envelope of entry `id`, unless it is too large or malformed
    /// (dropped with a warning: a foreign writer's, not ours).
    pub fn open(id: &str, payload: &'a str) -> Option<IncomingEnvelope<'a>> {
        if payload.len() > MAX_ENTRY_BYTES {
            log::warn!(
                "cluster: ignoring entry {id} of {} bytes (no instance writes more than {MAX_ENTRY_BYTES})",
                payload.len()
            );
            return None;
        }
        serde_json::from_str(payload)
            .map_err(|error| log::warn!("cluster: ignoring a malformed entry {id} ({error})"))
            .ok()
    }
}

/// Writers remembered for duplicate detection, at most.
const WRITERS_MAX: usize = 10_000;

/// The highest sequence number read per writer and stream: an append
/// retried after a break may land twice, and one writer appends to a
/// stream in order.
#[derive(Default)]
pub struct FirstSeen(HashMap<(String, Arc<str>), u64>);

impl FirstSeen {
    /// Whether `seq` from `from` on `stream` (its key) is new.
    pub fn first_time(&mut self, from: &str, stream: &Arc<str>, seq: u64) -> bool {
        if let Some(last) = self.0.get_mut(&(from.to_owned(), stream.clone())) {
            if seq <= *last {
                return false;
            }
            *last = seq;
            return true;
        }
        if self.0.len() >= WRITERS_MAX {
            self.0.clear();
        }
        self.0.insert((from.to_owned(), stream.clone()), seq);
        true
    }
}

/// Redis key names of one cluster, from this instance's point of view.
#[derive(Clone)]
pub struct Keys {
    pub prefix: String,
    pub instance: String,
}

impl ClusterEvent {
    /// The stream this event is appended to.
    pub fn stream(&self) -> Stream {
        match self {
            ClusterEvent::Chat(_) => Stream::Chat,
            ClusterEvent::Store(StoreEvent::CartUpdated(_)) => Stream::Carts,
            ClusterEvent::Store(StoreEvent::AccountCreated { .. }) => Stream::Control,
            ClusterEvent::Store(_) => Stream::Products,
            ClusterEvent::Presence { .. } | ClusterEvent::Resync => Stream::Control,
        }
    }
}

impl Keys {
    /// A stream's key: `<prefix>:{<stream>}:stream`.
    pub fn stream(&self, stream: Stream) -> String {
        format!("{}:{{{}}}:stream", self.prefix, stream.name())
    }
    /// A cart's stream and its lane: `<prefix>:{carts:<lane>}:<id>:stream`.
    /// The lane (one of `CART_LANES`, from the id) is the hash tag, so
    /// the followed carts of a lane are read together and the lanes spread
    /// over a cluster's shards.
    pub fn cart_stream(&self, cart: &Id) -> (u16, String) {
        let bytes = cart.bytes();
        let lane = u16::from_be_bytes([bytes[10], bytes[11]]) % CART_LANES;
        let key = format!("{}:{{carts:{lane}}}:{}:stream", self.prefix, cart.to_hex());
        (lane, key)
    }

    pub fn users_of(&self, instance: &str) -> String {
        format!("{}:{{control}}:presence:{instance}:users", self.prefix)
    }
    pub fn version_of(&self, instance: &str) -> String {
        format!("{}:{{control}}:presence:{instance}:version", self.prefix)
    }
    /// The registry of live instances: a sorted set of instance names
    /// scored by when each expires unless refreshed (a `SCAN` for version
    /// keys would have to visit every shard of a cluster).
    pub fn instances(&self) -> String {
        format!("{}:{{control}}:instances", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stream_has_a_hash_tag_of_its_own() {
        let keys = Keys {
            prefix: "shop".to_owned(),
            instance: "me".to_owned(),
        };
        assert_eq!(keys.stream(Stream::Chat), "shop:{chat}:stream");
        assert_eq!(keys.stream(Stream::Carts), "shop:{carts}:stream");
        assert_eq!(
            Stream::from_index(Stream::Control as usize),
            Some(Stream::Control)
        );
    }

    #[test]
    fn presence_keys_share_the_control_streams_slot() {
        use crate::cluster::connection::slot_of;
        let keys = Keys {
            prefix: "shop".to_owned(),
            instance: "me".to_owned(),
        };
        let control = slot_of(keys.stream(Stream::Control).as_bytes());
        for key in [keys.users_of("abc"), keys.version_of("abc"), keys.instances()] {
            assert_eq!(slot_of(key.as_bytes()), control, "{key}");
        }
        assert_ne!(slot_of(keys.stream(Stream::Chat).as_bytes()), control);
    }

    #[test]
    fn a_chat_delivery_crosses_the_wire() {
        let delivery: crate::realtime::events::ChatDelivery = serde_json::from_str(
            r#"{"message": {"_id": "0123456789abcdef01234567", "user": "a@b.co", "message": "hi",
                            "to": null, "createdAt": "2026-01-01T00:00:00Z"},
                "sender_verified": true, "recipient_is_account": false}"#,
        )
        .expect("a delivery");
        let event = ClusterEvent::Chat(delivery);
        assert_eq!(event.stream(), Stream::Chat);
        let text = serde_json::to_string(&event).expect("encoded");
        assert!(matches!(
            serde_json::from_str::<ClusterEvent>(&text),
            Ok(ClusterEvent::Chat(_))
        ));
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
