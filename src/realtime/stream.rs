//! Streams and offsets: what a client resumes from after a reconnect.
//!
//! Every event a room broadcasts belongs to one stream (`chat`, `products`,
//! `cart:<id>`) and gets an offset in it: opaque to clients, strictly
//! increasing per stream, the same on every instance. With Redis it is the
//! Redis stream entry id (`1733300000000-0`); without, a per-process
//! sequence prefixed by an epoch that changes at every start
//! (`L3f9a0c21-17`), so an offset from before a restart is recognised as
//! unknown instead of being confused with a new one.
//!
//! A room keeps the newest events of each of its streams (`StreamLog`,
//! `delivery.retain` events, at most `delivery.retain_s` seconds old) and
//! replays those after a client's offset; anything else (older than what
//! is kept, another epoch, another stream, garbage, the future) is
//! `recovered: false`, and the client reloads its snapshot.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::configuration::DeliverySettings;

/// A position in a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Offset(Arc<str>);

impl Offset {
    /// A Redis stream entry id, as Redis wrote it.
    pub fn from_redis(id: &str) -> Option<Offset> {
        matches!(order_key(id), Some((None, _, _))).then(|| Offset(Arc::from(id)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a client sent, if it could be an offset at all.
    fn parse(text: &str) -> Option<Offset> {
        order_key(text).map(|_| Offset(Arc::from(text)))
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// This process's offsets: an epoch chosen at start, then one counter for
/// every stream (so an offset of one stream is never one of another).
pub struct LocalClock {
    epoch: u64,
    next: AtomicU64,
}

impl LocalClock {
    pub fn new() -> Arc<LocalClock> {
        Arc::new(LocalClock {
            epoch: rand::random::<u32>() as u64,
            next: AtomicU64::new(1),
        })
    }

    /// Where every stream starts: before its first event.
    pub fn origin(&self) -> Offset {
        self.at(0)
    }

    pub fn tick(&self) -> Offset {
        self.at(self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn at(&self, seq: u64) -> Offset {
        Offset(Arc::from(format!("L{:08x}-{seq}", self.epoch)))
    }
}

/// Why a client's offset cannot be resumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecoverable {
    /// Not an offset at all.
    Malformed,
    /// Older than the events kept.
    TooOld,
    /// Not one of this stream's (another stream's, another epoch's, or
    /// from the future).
    Unknown,
}

impl Unrecoverable {
    pub fn reason(self) -> &'static str {
        match self {
            Unrecoverable::Malformed => "not an offset",
            Unrecoverable::TooOld => "older than the events kept: reload",
            Unrecoverable::Unknown => "not an offset of this stream (or from before a restart): reload",
        }
    }
}

/// The newest events of one stream.
pub struct StreamLog<T> {
    retain: usize,
    retain_for: Duration,
    /// Oldest first.
    entries: VecDeque<(Offset, Instant, T)>,
    /// The offset right before the oldest entry kept: a client that saw it
    /// has missed only kept entries (the start of the stream, or the last
    /// entry dropped).
    base: Option<Offset>,
    /// The newest offset, kept even after its entry expires: a client that
    /// has seen everything resumes with nothing to replay.
    head: Offset,
}

impl<T> StreamLog<T> {
    pub fn new(head: Offset, retain: usize, retain_for: Duration) -> StreamLog<T> {
        StreamLog {
            retain: retain.max(1),
            retain_for,
            entries: VecDeque::new(),
            base: Some(head.clone()),
            head,
        }
    }

    /// A log whose stream began before it: it resumes only from entries
    /// it holds (`first` is the offset of the first entry to come).
    pub fn joined_at(first: Offset, retain: usize, retain_for: Duration) -> StreamLog<T> {
        StreamLog {
            base: None,
            ..StreamLog::new(first, retain, retain_for)
        }
    }

    /// The log of a room stream, as configured.
    pub fn configured(head: Offset, settings: &DeliverySettings) -> StreamLog<T> {
        StreamLog::new(head, settings.retain, Duration::from_secs(settings.retain_s))
    }

    /// The log of a Redis stream that is followed from `head` on, holding
    /// the newest entries Redis kept before it (`kept`, oldest first;
    /// `complete`: every entry since the stream began). A client resumes
    /// from any of them, or from the start when they are complete.
    pub fn from_kept(
        head: Offset,
        kept: Vec<(Offset, T)>,
        complete: bool,
        retain: usize,
        retain_for: Duration,
    ) -> StreamLog<T> {
        let mut log = match (complete, kept.first()) {
            (true, _) => StreamLog::new(Offset(Arc::from("0-0")), retain, retain_for),
            (false, Some((first, _))) => StreamLog::joined_at(first.clone(), retain, retain_for),
            (false, None) => StreamLog::joined_at(head.clone(), retain, retain_for),
        };
        for (offset, item) in kept {
            log.push(offset, item);
        }
        log.head = head;
        log
    }

    /// `from_kept`, with a room stream's retention.
    pub fn configured_from_kept(
        head: Offset,
        kept: Vec<(Offset, T)>,
        complete: bool,
        settings: &DeliverySettings,
    ) -> StreamLog<T> {
        let retain_for = Duration::from_secs(settings.retain_s);
        StreamLog::from_kept(head, kept, complete, settings.retain, retain_for)
    }

    pub fn head(&self) -> &Offset {
        &self.head
    }

    /// Whether `offset` comes after everything kept (offsets of another
    /// origin are taken as new).
    pub fn is_new(&self, offset: &Offset) -> bool {
        if self.entries.is_empty() && self.base.is_none() {
            return true; // joined: the head is the first entry to come
        }
        match (order_key(offset.as_str()), order_key(self.head.as_str())) {
            (Some(new), Some(head)) if new.0 == head.0 => new > head,
            _ => true,
        }
    }

    pub fn push(&mut self, offset: Offset, item: T) {
        self.head = offset.clone();
        self.entries.push_back((offset, Instant::now(), item));
        while self.entries.len() > self.retain {
            self.drop_oldest();
        }
        self.expire();
    }

    fn drop_oldest(&mut self) {
        if let Some((offset, _, _)) = self.entries.pop_front() {
            self.base = Some(offset);
        }
    }

    fn expire(&mut self) {
        while self
            .entries
            .front()
            .is_some_and(|(_, at, _)| at.elapsed() > self.retain_for)
        {
            self.drop_oldest();
        }
    }

    /// The events after `since`, oldest first, if all of them are kept.
    pub fn since(&mut self, since: &str) -> Result<impl Iterator<Item = (&Offset, &T)>, Unrecoverable> {
        self.expire();
        let since = Offset::parse(since).ok_or(Unrecoverable::Malformed)?;
        let start = if since == self.head {
            self.entries.len()
        } else if self.base.as_ref() == Some(&since) {
            0
        } else {
            match self.entries.iter().position(|(offset, _, _)| *offset == since) {
                Some(index) => index + 1,
                None => return Err(self.classify(&since)),
            }
        };
        Ok(self
            .entries
            .range(start..)
            .map(|(offset, _, item)| (offset, item)))
    }

    /// Why an offset that is not kept cannot be resumed from.
    fn classify(&self, since: &Offset) -> Unrecoverable {
        let (Some(since_key), Some(head_key)) = (order_key(since.as_str()), order_key(self.head.as_str()))
        else {
            return Unrecoverable::Unknown;
        };
        let oldest = self
            .entries
            .front()
            .and_then(|(offset, _, _)| order_key(offset.as_str()));
        match oldest {
            Some(oldest) if since_key.0 == oldest.0 && since_key < oldest => Unrecoverable::TooOld,
            None if since_key.0 == head_key.0 && since_key < head_key => Unrecoverable::TooOld,
            _ => Unrecoverable::Unknown,
        }
    }
}

/// An offset's place in its origin's order: (the local epoch, or `None`
/// for Redis; major; minor). `None` for anything that is no offset.
fn order_key(text: &str) -> Option<(Option<u64>, u64, u64)> {
    if let Some(local) = text.strip_prefix('L') {
        let (epoch, seq) = local.split_once('-')?;
        return Some((Some(u64::from_str_radix(epoch, 16).ok()?), seq.parse().ok()?, 0));
    }
    let (ms, seq) = text.split_once('-')?;
    Some((None, ms.parse().ok()?, seq.parse().ok()?))
}

/// Asks a room whether its stream can be resumed from an offset (all the
/// events after it are kept).
#[derive(Debug, actix::Message)]
#[rtype(result = "bool")]
pub struct CanResume(pub String);

/// The `recovered` event's data.
#[derive(Debug, Serialize)]
pub struct Recovered<'a> {
    pub stream: &'a str,
    pub recovered: bool,
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(clock: &LocalClock) -> StreamLog<u32> {
        StreamLog::new(clock.origin(), 3, Duration::from_secs(60))
    }

    #[test]
    fn replays_what_came_after_an_offset_and_nothing_before() {
        let clock = LocalClock::new();
        let mut log = log(&clock);
        let start = log.head().clone();
        let offsets: Vec<Offset> = (0..3).map(|_| clock.tick()).collect();
        for (n, offset) in offsets.iter().enumerate() {
            log.push(offset.clone(), n as u32);
        }
        let after_first: Vec<u32> = log.since(offsets[0].as_str()).unwrap().map(|(_, n)| *n).collect();
        assert_eq!(after_first, [1, 2]);
        assert_eq!(log.since(offsets[2].as_str()).unwrap().count(), 0);
        // The start of the stream is no longer kept once three came after.
        log.push(clock.tick(), 3);
        assert_eq!(log.since(start.as_str()).err(), Some(Unrecoverable::TooOld));
    }

    #[test]
    fn garbage_future_and_foreign_offsets_are_not_resumed() {
        let clock = LocalClock::new();
        let mut log = log(&clock);
        log.push(clock.tick(), 1);
        assert_eq!(log.since("garbage").err(), Some(Unrecoverable::Malformed));
        assert_eq!(log.since("").err(), Some(Unrecoverable::Malformed));
        let future = clock.tick();
        assert_eq!(log.since(future.as_str()).err(), Some(Unrecoverable::Unknown));
        let other_process = LocalClock::new().tick();
        assert!(log.since(other_process.as_str()).is_err());
        assert_eq!(log.since("1733300000000-0").err(), Some(Unrecoverable::Unknown));
    }

    #[test]
    fn a_quiet_stream_still_resumes_from_its_head() {
        let clock = LocalClock::new();
        let mut log: StreamLog<u32> = StreamLog::new(clock.origin(), 3, Duration::from_millis(0));
        let last = clock.tick();
        log.push(last.clone(), 1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(log.since(last.as_str()).unwrap().count(), 0);
    }
}
