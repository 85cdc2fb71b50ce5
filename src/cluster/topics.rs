//! Topic routing: streams read only while this instance has a use for them
//! (`chat` and `products` while local sessions are on them, a cart's
//! stream while a local session watches that cart), started and stopped as
//! sessions come and go. Following starts with the stream's newest kept
//! entries (`newest`), then reads on after them.
//!
//! Followed streams are grouped in lanes, one hash tag each, so on a Redis
//! Cluster a lane is one slot and one `XREAD` reads every stream of it that
//! is followed (a multi-key command cannot span slots), while the lanes
//! spread over the shards. A lane's reader, on a connection of its own,
//! starts with the lane's first stream and then waits, idle, while the
//! lane has none. A stream followed mid-read joins at the next read
//! (`LANE_BLOCK` at most), from the entry it was followed after, so nothing
//! at the edge is missed; a stream followed again starts a new generation,
//! and what an older read brings for it is dropped, so nothing is
//! delivered twice.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::prelude::*;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use tokio::sync::Notify;

use super::connection::{RedisClient, RedisConnection};
use super::link::{payload_of, LinkEvent, StreamEntry, READ_COUNT, TIMEOUT};

/// How long one lane read blocks: how long a newly followed stream may wait
/// to join its lane's reads.
const LANE_BLOCK: Duration = Duration::from_millis(250);

/// The newest entries of a stream, newest first, read when following starts.
pub type NewestRead = Pin<Box<dyn Future<Output = redis::RedisResult<StreamRangeReply>>>>;

/// Reads the newest `count` entries of stream `key`.
pub fn newest(mut connection: RedisConnection, key: String, count: usize) -> NewestRead {
    Box::pin(async move { connection.xrevrange_count(&key, "+", "-", count).await })
}

/// The followed streams of one lane, shared by the owner and the reader.
#[derive(Default)]
struct Lane {
    followed: Mutex<HashMap<String, Followed>>,
    changed: Notify,
}

struct Followed {
    /// The last entry handed over (reads go on after it).
    last: String,
    generation: u64,
}

impl Lane {
    fn with<T>(&self, work: impl FnOnce(&mut HashMap<String, Followed>) -> T) -> T {
        work(&mut self.followed.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The streams of one kind this instance follows, in lanes.
pub struct Topics {
    client: RedisClient,
    owner: Recipient<LinkEvent>,
    /// The owner's number for these streams' entries.
    stream: usize,
    lanes: HashMap<u16, Arc<Lane>>,
    generation: u64,
}

impl Topics {
    pub fn new(client: RedisClient, owner: Recipient<LinkEvent>, stream: usize) -> Topics {
        Topics {
            client,
            owner,
            stream,
            lanes: HashMap::new(),
            generation: 0,
        }
    }

    /// Follows `key` (of `lane`) from after entry `after`.
    pub fn follow(&mut self, lane: u16, key: String, after: String) {
        self.generation += 1;
        let generation = self.generation;
        let lane = self.lanes.entry(lane).or_insert_with(|| {
            let lane = Arc::new(Lane::default());
            actix::spawn(read_lane(
                self.client.clone(),
                lane.clone(),
                self.stream,
                self.owner.clone(),
            ));
            lane
        });
        lane.with(|followed| {
            followed.insert(
                key,
                Followed {
                    last: after,
                    generation,
                },
            )
        });
        lane.changed.notify_one();
    }

    /// Stops following `key`.
    pub fn unfollow(&mut self, lane: u16, key: &str) {
        if let Some(lane) = self.lanes.get(&lane) {
            lane.with(|followed| followed.remove(key));
        }
    }
}

/// Reads a lane's followed streams for as long as the owner lives.
async fn read_lane(client: RedisClient, lane: Arc<Lane>, stream: usize, owner: Recipient<LinkEvent>) {
    let mut backoff = Duration::from_millis(100);
    while owner.connected() {
        match client.connect(LANE_BLOCK + TIMEOUT).await {
            Ok(mut connection) => {
                backoff = Duration::from_millis(100);
                let block = usize::try_from(LANE_BLOCK.as_millis()).unwrap_or(250);
                let options = StreamReadOptions::default().block(block).count(READ_COUNT);
                while owner.connected() {
                    let (keys, ids, generations): (Vec<String>, Vec<String>, Vec<u64>) =
                        lane.with(|followed| {
                            let mut keys = Vec::with_capacity(followed.len());
                            let mut ids = Vec::with_capacity(followed.len());
                            let mut generations = Vec::with_capacity(followed.len());
                            for (key, state) in followed.iter() {
                                keys.push(key.clone());
                                ids.push(state.last.clone());
                                generations.push(state.generation);
                            }
                            (keys, ids, generations)
                        });
                    if keys.is_empty() {
                        // Idle until something is followed (checked again
                        // now and then, for the owner's sake).
                        let _ = tokio::time::timeout(Duration::from_secs(5), lane.changed.notified()).await;
                        continue;
                    }
                    let read: redis::RedisResult<Option<StreamReadReply>> =
                        connection.xread_options(&keys, &ids, &options).await;
                    let reply = match read {
                        Ok(Some(reply)) => reply,
                        Ok(None) => continue,
                        Err(error) => {
                            log::warn!("cluster: reading followed streams stopped ({error}); reading on from the last entries");
                            break;
                        }
                    };
                    let mut entries = Vec::new();
                    for read in reply.keys {
                        let Some(index) = keys.iter().position(|key| *key == read.key) else {
                            continue;
                        };
                        let Some(newest) = read.ids.last().map(|entry| entry.id.clone()) else {
                            continue;
                        };
                        // Still followed, and by the same generation?
                        let current = lane.with(|followed| match followed.get_mut(&read.key) {
                            Some(state) if state.generation == generations[index] => {
                                state.last = newest;
                                true
                            }
                            _ => false,
                        });
                        if !current {
                            continue;
                        }
                        let key: Arc<str> = Arc::from(read.key.as_str());
                        for entry in &read.ids {
                            match payload_of(entry) {
                                Some(payload) => entries.push(StreamEntry {
                                    stream,
                                    key: key.clone(),
                                    id: entry.id.clone(),
                                    payload,
                                }),
                                None => {
                                    log::warn!("cluster: ignoring entry {} of {key}: no `e` field", entry.id)
                                }
                            }
                        }
                    }
                    if !entries.is_empty() {
                        owner.do_send(LinkEvent::Entries(entries));
                    }
                }
            }
            Err(error) => log::debug!("cluster: a lane reader cannot reach Redis: {error}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
