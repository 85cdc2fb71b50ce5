//! Entries read from Redis, opened: this instance's own events matched
//! with the ones it holds, the others' decoded once (a second copy of a
//! retried append is dropped, and so is anything that is not an event of
//! this server's on the stream it was read from); and the kept entries a
//! followed stream starts from.

use std::sync::Arc;

use actix::prelude::*;
use redis::streams::StreamRangeReply;

use super::presence;
use super::wire::{ClusterEvent, IncomingEnvelope, Kept, Stream};
use super::Bus;
use crate::cluster::link::{payload_of, StreamEntry};
use crate::realtime::stream::Offset;

/// What an entry read from Redis is to this instance.
enum Opened {
    /// One of its own events: the event if it was held for this read.
    Own(Option<ClusterEvent>),
    /// Another instance's event (the first copy of it).
    Other(String, ClusterEvent),
}

impl Bus {
    /// Entries read from the streams.
    pub(super) fn read(&mut self, entries: Vec<StreamEntry>, ctx: &mut Context<Self>) {
        for entry in entries {
            let Some(stream) = Stream::from_index(entry.stream) else {
                continue;
            };
            match self.open(stream, &entry.key, &entry.id, &entry.payload) {
                Some((offset, Opened::Own(Some(event)))) => self.deliver(event, offset),
                Some((offset, Opened::Other(from, event))) => self.received(from, event, offset, ctx),
                Some((_, Opened::Own(None))) | None => {}
            }
        }
    }

    /// Entry `id` of `stream` (its key), unless it is no event of this
    /// server's or a second copy of a retried append (checked for other
    /// instances' events; ours are matched with the held ones).
    fn open(&mut self, stream: Stream, key: &Arc<str>, id: &str, payload: &str) -> Option<(Offset, Opened)> {
        let offset = Offset::from_redis(id)?;
        let envelope = IncomingEnvelope::open(id, payload)?;
        if envelope.from == self.keys.instance {
            return Some((offset, Opened::Own(self.own.read_back(envelope.seq))));
        }
        if !self.seen.first_time(envelope.from, key, envelope.seq) {
            return None;
        }
        let event = decode(stream, &envelope)?;
        Some((offset, Opened::Other(envelope.from.to_owned(), event)))
    }

    /// Where `stream` (key `key`) stands, with the newest events Redis kept
    /// (`read`: newest first, at most `count`), for following it from there.
    pub(super) fn open_kept(
        &mut self,
        stream: Stream,
        key: String,
        count: usize,
        read: redis::RedisResult<StreamRangeReply>,
    ) -> Kept {
        let newest = match read {
            Ok(newest) => newest,
            Err(error) => {
                log::warn!("cluster: cannot read the kept events of {key} ({error}); following it from now");
                return Kept::from_now(presence::now_ms());
            }
        };
        let key: Arc<str> = Arc::from(key);
        let mut events = Vec::with_capacity(newest.ids.len());
        for entry in newest.ids.iter().rev() {
            let (Some(offset), Some(payload)) = (Offset::from_redis(&entry.id), payload_of(entry)) else {
                continue;
            };
            let Some(envelope) = IncomingEnvelope::open(&entry.id, &payload) else {
                continue;
            };
            let event = if envelope.from == self.keys.instance {
                // Ours: delivered as a kept event now, not when read back.
                self.own.read_back(envelope.seq)
            } else {
                // Read before, perhaps, in an earlier following: kept all
                // the same, and later copies are dropped.
                self.seen.first_time(envelope.from, &key, envelope.seq);
                None
            };
            if let Some(event) = event.or_else(|| decode(stream, &envelope)) {
                events.push((offset, event));
            }
        }
        Kept {
            head: newest
                .ids
                .first()
                .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone()),
            complete: newest.ids.len() < count,
            events,
        }
    }
}

/// The event an entry of `stream` carries, if it is one that belongs there
/// (a foreign writer's garbage is dropped with a warning).
fn decode(stream: Stream, envelope: &IncomingEnvelope) -> Option<ClusterEvent> {
    let event: ClusterEvent = match serde_json::from_str(envelope.event.get()) {
        Ok(event) => event,
        Err(error) => {
            log::warn!("cluster: ignoring an event from {} ({error})", envelope.from);
            return None;
        }
    };
    if event.stream() != stream {
        log::warn!(
            "cluster: ignoring an event from {} on the wrong stream",
            envelope.from
        );
        return None;
    }
    Some(event)
}
