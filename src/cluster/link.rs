//! The link to Redis: a writer and one reader per stream, each a task that
//! reconnects by itself with backoff (100 ms doubling to 5 s). They report
//! to whoever started them through `LinkEvent`s and know nothing of what
//! the entries mean. On one Redis and on a Redis Cluster alike
//! (`super::connection`).
//!
//! - The writer runs queued commands in order, pipelined (one round trip
//!   per batch; on a cluster, one pipeline per slot, sent to the shards at
//!   once, each in its order). A batch is dropped from its queue only once
//!   Redis has answered all of it; if the link breaks first, it is sent
//!   again after the reconnect. So nothing queued is lost to a blip, a
//!   pause or a failover; an append that went through before the break may
//!   be appended twice, which the readers recognise (every entry names its
//!   writer and sequence number). While Redis is away the queue keeps at
//!   most `MAX_QUEUED` batches (the oldest go first, with a warning).
//! - Each reader follows one stream with `XREAD BLOCK` from the last entry
//!   it handed over, on a connection of its own (a blocking read would hold
//!   up other commands, and on a cluster one `XREAD` cannot span shards).
//!   After a reconnect it reads on from there: a broken, paused or failed
//!   over link loses no entry. It first notes where its stream stands (its
//!   head), and the writer appends nothing before every reader has, so
//!   every entry written from then on is read back.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::try_join_all;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Cmd, Pipeline};
use tokio::sync::{mpsc, watch};

use super::connection::{slot_of_command, RedisClient, RedisConnection};

/// Commands the writer runs in order (one event's, or one refresh's).
pub type Outgoing = Vec<Cmd>;

/// One entry read from a stream.
pub struct StreamEntry {
    /// Which kind of stream (the owner's number for it).
    pub stream: usize,
    /// The stream's key (shared by the entries of one read).
    pub key: Arc<str>,
    /// The entry id: the offset of what it carries.
    pub id: String,
    /// Its `e` field.
    pub payload: String,
}

/// What the link tells its owner.
#[derive(Message)]
#[rtype(result = "()")]
pub enum LinkEvent {
    /// The writer is connected; its connection serves other reads too.
    Linked(RedisConnection),
    /// The writer lost Redis; what it holds is sent when Redis is back.
    Unlinked,
    /// Why Redis cannot be reached now (a refused password, a refused
    /// connection), for `/health`; said again only when it changes.
    Problem(String),
    /// Entries read, in each stream's order.
    Entries(Vec<StreamEntry>),
}

/// Commands at most in one pipeline.
const BATCH: usize = 512;
/// Batches held at most while Redis is away.
pub const MAX_QUEUED: usize = 10_000;
/// How long one `XREAD` blocks; the reader's reply timeout is longer.
const BLOCK: Duration = Duration::from_secs(2);
/// Entries at most per read.
pub(crate) const READ_COUNT: usize = 1000;
/// How long connecting, or a command, may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the writer and a reader of each of `streams` (the owner's number
/// for it, and its key). They run until `outgoing`'s sender is dropped and
/// the owner is gone.
pub fn start(
    client: RedisClient,
    streams: Vec<(usize, String)>,
    owner: Recipient<LinkEvent>,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let (heads_known, ready) = watch::channel(0usize);
    let heads_known = Arc::new(heads_known);
    actix::spawn(write(
        client.clone(),
        owner.clone(),
        outgoing,
        ready,
        streams.len(),
    ));
    for (index, stream) in streams {
        actix::spawn(read(
            client.clone(),
            index,
            stream,
            owner.clone(),
            heads_known.clone(),
        ));
    }
}

/// Takes what is waiting in the channel into the queue, keeping its bound.
/// False once the channel is closed (the owner is gone).
fn take_waiting(outgoing: &mut mpsc::UnboundedReceiver<Outgoing>, queue: &mut VecDeque<Outgoing>) -> bool {
    loop {
        match outgoing.try_recv() {
            Ok(batch) => {
                queue.push_back(batch);
                if queue.len() > MAX_QUEUED {
                    queue.pop_front();
                    log::warn!("cluster: {MAX_QUEUED} writes wait for Redis; dropping the oldest");
                }
            }
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
}

async fn write(
    client: RedisClient,
    owner: Recipient<LinkEvent>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut ready: watch::Receiver<usize>,
    readers: usize,
) {
    let mut queue: VecDeque<Outgoing> = VecDeque::new();
    let mut backoff = Duration::from_millis(100);
    let mut was_down = false;
    let mut last_problem: Option<String> = None;
    loop {
        match client.connect(TIMEOUT).await {
            Ok(mut connection) => {
                backoff = Duration::from_millis(100);
                last_problem = None;
                if was_down {
                    log::info!("cluster: Redis is back");
                }
                was_down = false;
                owner.do_send(LinkEvent::Linked(connection.clone()));
                loop {
                    if queue.is_empty() {
                        match outgoing.recv().await {
                            Some(batch) => queue.push_back(batch),
                            None => return,
                        }
                    }
                    if !take_waiting(&mut outgoing, &mut queue) {
                        return;
                    }
                    // Nothing is appended before the reader knows where
                    // the streams stand.
                    if *ready.borrow() < readers && ready.wait_for(|known| *known >= readers).await.is_err() {
                        return;
                    }
                    let count = queue.len().min(BATCH);
                    let commands = queue.iter().take(count).flatten();
                    match run_in_order(&mut connection, commands).await {
                        Ok(()) => {
                            queue.drain(..count);
                        }
                        Err(error) => {
                            log::warn!("cluster: a write to Redis failed ({error}); it is sent again when Redis answers");
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                let problem = describe(&error);
                if last_problem.as_deref() != Some(problem.as_str()) {
                    if error.kind() == redis::ErrorKind::AuthenticationFailed {
                        log::error!("cluster: {problem}; retrying");
                    } else {
                        log::warn!("cluster: {problem}; retrying");
                    }
                    owner.do_send(LinkEvent::Problem(problem.clone()));
                    last_problem = Some(problem);
                }
            }
        }
        if !was_down {
            owner.do_send(LinkEvent::Unlinked);
        }
        was_down = true;
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        // Keep taking writes meanwhile, within the bound.
        loop {
            tokio::select! {
                _ = &mut pause => break,
                batch = outgoing.recv() => match batch {
                    Some(batch) => {
                        queue.push_back(batch);
                        if !take_waiting(&mut outgoing, &mut queue) {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Runs `commands` pipelined; on a cluster, one pipeline per slot (in the
/// commands' order within each), all at once. Ok once every one answered.
async fn run_in_order<'c>(
    connection: &mut RedisConnection,
    commands: impl Iterator<Item = &'c Cmd>,
) -> redis::RedisResult<()> {
    if let RedisConnection::Single(_) = connection {
        let mut pipeline = Pipeline::new();
        for command in commands {
            pipeline.add_command(command.clone()).ignore();
        }
        return pipeline.query_async::<()>(connection).await;
    }
    let mut by_slot: Vec<(u16, Pipeline)> = Vec::new();
    for command in commands {
        let slot = slot_of_command(command);
        let index = match by_slot.iter().position(|(taken, _)| *taken == slot) {
            Some(index) => index,
            None => {
                by_slot.push((slot, Pipeline::new()));
                by_slot.len() - 1
            }
        };
        by_slot[index].1.add_command(command.clone()).ignore();
    }
    try_join_all(by_slot.into_iter().map(|(_, pipeline)| {
        let mut connection = connection.clone();
        async move { pipeline.query_async::<()>(&mut connection).await }
    }))
    .await
    .map(|_| ())
}

/// Follows stream `key` (number `stream`): notes its head once, then
/// reads on from the last entry handed over, across reconnects.
async fn read(
    client: RedisClient,
    stream: usize,
    key: String,
    owner: Recipient<LinkEvent>,
    heads_known: Arc<watch::Sender<usize>>,
) {
    let mut last: Option<String> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.connect(BLOCK + TIMEOUT).await {
            Ok(mut connection) => {
                if last.is_none() {
                    match head(&mut connection, &key).await {
                        Ok(id) => {
                            last = Some(id);
                            heads_known.send_modify(|known| *known += 1);
                        }
                        Err(error) => log::warn!("cluster: cannot read where {key} stands: {error}"),
                    }
                }
                if let Some(id) = &mut last {
                    backoff = Duration::from_millis(100);
                    if let Err(error) = follow(&mut connection, stream, &key, id, &owner).await {
                        log::warn!(
                            "cluster: reading {key} stopped ({error}); reading on from the last entry"
                        );
                    }
                }
            }
            Err(error) => log::debug!("cluster: the reader of {key} cannot reach Redis: {error}"),
        }
        if !owner.connected() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// The id of a stream's newest entry (`0-0` for an empty stream).
async fn head(connection: &mut RedisConnection, key: &str) -> redis::RedisResult<String> {
    let newest: StreamRangeReply = connection.xrevrange_count(key, "+", "-", 1).await?;
    Ok(newest
        .ids
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id))
}

/// Reads stream `key` from `last` on, handing entries over as they come;
/// returns on the first error (`last` says where to go on from).
async fn follow(
    connection: &mut RedisConnection,
    stream: usize,
    key: &str,
    last: &mut String,
    owner: &Recipient<LinkEvent>,
) -> redis::RedisResult<()> {
    let block = usize::try_from(BLOCK.as_millis()).unwrap_or(2000);
    let options = StreamReadOptions::default().block(block).count(READ_COUNT);
    loop {
        if !owner.connected() {
            return Ok(());
        }
        let reply: Option<StreamReadReply> = connection
            .xread_options(&[key], &[last.as_str()], &options)
            .await?;
        let Some(reply) = reply else { continue };
        let shared_key: Arc<str> = Arc::from(key);
        let mut entries = Vec::new();
        for entry in reply.keys.into_iter().flat_map(|read| read.ids) {
            let payload = payload_of(&entry);
            last.clone_from(&entry.id);
            match payload {
                Some(payload) => entries.push(StreamEntry {
                    stream,
                    key: shared_key.clone(),
                    id: entry.id,
                    payload,
                }),
                None => log::warn!("cluster: ignoring entry {} of {key}: no `e` field", entry.id),
            }
        }
        if !entries.is_empty() {
            owner.do_send(LinkEvent::Entries(entries));
        }
    }
}

/// The payload (`e` field) of a stream entry, if it has one.
pub(crate) fn payload_of(entry: &redis::streams::StreamId) -> Option<String> {
    entry
        .map
        .get("e")
        .and_then(|value| redis::from_redis_value::<String>(value).ok())
}

/// What a failed connection means, for a person reading the log or
/// `/health`.
fn describe(error: &redis::RedisError) -> String {
    match error.kind() {
        redis::ErrorKind::AuthenticationFailed => format!(
            "Redis refused the credentials in REDIS_URL ({error}): check the password \
             (redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port with ACL users)"
        ),
        _ => format!("cannot reach Redis ({error})"),
    }
}
