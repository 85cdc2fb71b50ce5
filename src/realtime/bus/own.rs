//! This instance's own events on their way through Redis: numbered as they
//! are appended, and held until they are read back (then delivered here,
//! in Redis's one order) or until Redis has not given them back within the
//! grace (then delivered here anyway).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::wire::{ClusterEvent, Stream};

/// Own events waiting to be read back, at most; past this the oldest are
/// delivered here at once.
const PENDING_MAX: usize = 10_000;

pub struct OwnEvents {
    next_seq: u64,
    /// Appended and not yet read back, by sequence number.
    pending: BTreeMap<u64, (Instant, ClusterEvent)>,
    /// How long an event waits for Redis before local delivery.
    grace: Duration,
}

impl OwnEvents {
    pub fn new(grace: Duration) -> OwnEvents {
        OwnEvents {
            next_seq: 0,
            pending: BTreeMap::new(),
            grace,
        }
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The sequence number of the next event appended.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Holds `event` (number `seq`) until it is read back. Returns the
    /// oldest held event if too many wait: it is delivered here now.
    pub fn hold(&mut self, seq: u64, event: ClusterEvent) -> Option<ClusterEvent> {
        self.pending.insert(seq, (Instant::now(), event));
        if self.pending.len() <= PENDING_MAX {
            return None;
        }
        log::warn!(
            "cluster: {PENDING_MAX} events wait to be read back from Redis; delivering the oldest here"
        );
        self.pending.pop_first().map(|(_, (_, event))| event)
    }

    /// Event `seq` was read back: the event, unless it was delivered
    /// already (or this is a second copy of a retried append).
    pub fn read_back(&mut self, seq: u64) -> Option<ClusterEvent> {
        self.pending.remove(&seq).map(|(_, event)| event)
    }

    /// The events that have waited longer than the grace (Redis is away,
    /// or they were lost on the way), oldest first.
    pub fn overdue(&mut self) -> Vec<ClusterEvent> {
        let overdue: Vec<u64> = self
            .pending
            .iter()
            .take_while(|(_, (appended, _))| appended.elapsed() >= self.grace)
            .map(|(seq, _)| *seq)
            .collect();
        overdue
            .into_iter()
            .filter_map(|seq| self.read_back(seq))
            .collect()
    }

    /// `stream` is not read here any more: its events will not come back.
    pub fn forget(&mut self, stream: Stream) {
        self.pending.retain(|_, (_, event)| event.stream() != stream);
    }
}
