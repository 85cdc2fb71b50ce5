//! What goes between instances, and under which Redis names: the events
//! (`ClusterEvent`) in their envelopes, the streams they are appended to
//! (`Stream`), and the keys of one cluster (`Keys`, all under
//! `redis.prefix`). Each stream's key carries a hash tag of its own, so on
//! a Redis Cluster each stream lives on one shard and they spread; the
//! presence keys share the control stream's tag, so a presence change and
//! the event announcing it go to one shard in one ordered pipeline.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::Email;
use crate::realtime::events::ChatDelivery;
use crate::store::StoreEvent;

/// The Redis streams the bus appends to and follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Chat messages (the `chat` stream of the clients).
    Chat = 0,
    /// Product changes (`products`).
    Products = 1,
    /// Cart changes (every `cart:<id>`; an entry names its cart).
    Carts = 2,
    /// Between instances only: presence changes, resyncs, new accounts.
    Control = 3,
}

impl Stream {
    pub const ALL: [Stream; 4] = [Stream::Chat, Stream::Products, Stream::Carts, Stream::Control];

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
