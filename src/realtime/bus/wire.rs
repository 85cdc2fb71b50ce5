//! What goes between instances, and under which Redis names: the events
//! (`ClusterEvent`) in their envelopes, and the keys of one cluster
//! (`Keys`, all under `redis.prefix`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::Email;
use crate::realtime::events::ChatDelivery;
use crate::store::StoreEvent;

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

impl Keys {
    pub fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
    pub fn users_of(&self, instance: &str) -> String {
        format!("{}:presence:{instance}:users", self.prefix)
    }
    pub fn version_of(&self, instance: &str) -> String {
        format!("{}:presence:{instance}:version", self.prefix)
    }
    pub fn version_pattern(&self) -> String {
        format!("{}:presence:*:version", self.prefix)
    }
    /// The instance a version key belongs to.
    pub fn instance_of_version_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?
            .strip_prefix(":presence:")?
            .strip_suffix(":version")
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
