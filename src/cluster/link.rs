//! The link to Redis: a writer and a reader, each a task that reconnects
//! by itself with backoff (100 ms doubling to 5 s). They report to whoever
//! started them through `LinkEvent`s and know nothing of what the entries
//! mean.
//!
//! - The writer runs queued commands in order, pipelined (one round trip
//!   per batch). A batch is dropped from its queue only once Redis has
//!   answered it; if the link breaks first, it is sent again after the
//!   reconnect. So nothing queued is lost to a blip or a pause; an append
//!   that went through before the break may be appended twice, which the
//!   readers recognise (every entry names its writer and sequence number).
//!   While Redis is away the queue keeps at most `MAX_QUEUED` batches (the
//!   oldest go first, with a warning).
//! - The reader follows the streams with `XREAD BLOCK` from the last entry
//!   it handed over, on a connection of its own (a blocking read would hold
//!   up the writer's commands). After a reconnect it reads on from there:
//!   a broken or paused link loses no entry. It first notes where each
//!   stream stands (its heads), and the writer appends nothing before that,
//!   so every entry written from then on is read back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, Cmd, Pipeline};
use tokio::sync::{mpsc, watch};

/// Commands the writer runs in order (one event's, or one refresh's).
pub type Outgoing = Vec<Cmd>;

/// One entry read from a stream.
pub struct StreamEntry {
    /// Which of the streams followed (its index).
    pub stream: usize,
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
    Linked(MultiplexedConnection),
    /// The writer lost Redis; what it holds is sent when Redis is back.
    Unlinked,
    /// Why Redis cannot be reached now (a refused password, a refused
    /// connection), for `/health`; said again only when it changes.
    Problem(String),
    /// Where each stream stood when the reader first reached Redis.
    Heads(Vec<String>),
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
const READ_COUNT: usize = 1000;
/// How long connecting, or a command, may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the writer and the reader of `streams` (keys). Both run until
/// `outgoing`'s sender is dropped.
pub fn start(
    client: redis::Client,
    streams: Vec<String>,
    owner: Recipient<LinkEvent>,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let (heads_known, ready) = watch::channel(false);
    let streams = Arc::new(streams);
    actix::spawn(write(client.clone(), owner.clone(), outgoing, ready));
    actix::spawn(read(client, streams, owner, heads_known));
}

fn config(response_timeout: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(response_timeout)
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
    client: redis::Client,
    owner: Recipient<LinkEvent>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut ready: watch::Receiver<bool>,
) {
    let mut queue: VecDeque<Outgoing> = VecDeque::new();
    let mut backoff = Duration::from_millis(100);
    let mut was_down = false;
    let mut last_problem: Option<String> = None;
    loop {
        match client
            .get_multiplexed_async_connection_with_config(&config(TIMEOUT))
            .await
        {
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
                    if !*ready.borrow() && ready.wait_for(|known| *known).await.is_err() {
                        return;
                    }
                    let count = queue.len().min(BATCH);
                    let mut pipeline = Pipeline::new();
                    for command in queue.iter().take(count).flatten() {
                        pipeline.add_command(command.clone()).ignore();
                    }
                    match pipeline.query_async::<()>(&mut connection).await {
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

async fn read(
    client: redis::Client,
    streams: Arc<Vec<String>>,
    owner: Recipient<LinkEvent>,
    heads_known: watch::Sender<bool>,
) {
    let mut last: Option<Vec<String>> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = client
            .get_multiplexed_async_connection_with_config(&config(BLOCK + TIMEOUT))
            .await;
        match connected {
            Ok(mut connection) => {
                if last.is_none() {
                    match heads(&mut connection, &streams).await {
                        Ok(heads) => {
                            owner.do_send(LinkEvent::Heads(heads.clone()));
                            last = Some(heads);
                            let _ = heads_known.send(true);
                        }
                        Err(error) => log::warn!("cluster: cannot read where the streams stand: {error}"),
                    }
                }
                if let Some(ids) = &mut last {
                    backoff = Duration::from_millis(100);
                    if let Err(error) = follow(&mut connection, &streams, ids, &owner).await {
                        log::warn!(
                            "cluster: reading the streams stopped ({error}); reading on from the last entry"
                        );
                    }
                }
            }
            Err(error) => log::debug!("cluster: the stream reader cannot reach Redis: {error}"),
        }
        if !owner.connected() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// The id of each stream's newest entry (`0-0` for an empty stream).
async fn heads(
    connection: &mut MultiplexedConnection,
    streams: &[String],
) -> redis::RedisResult<Vec<String>> {
    let mut heads = Vec::with_capacity(streams.len());
    for stream in streams {
        let newest: StreamRangeReply = connection.xrevrange_count(stream, "+", "-", 1).await?;
        heads.push(
            newest
                .ids
                .into_iter()
                .next()
                .map_or_else(|| "0-0".to_owned(), |entry| entry.id),
        );
    }
    Ok(heads)
}

/// Reads the streams from `ids` on, handing entries over as they come;
/// returns on the first error (the ids say where to go on from).
async fn follow(
    connection: &mut MultiplexedConnection,
    streams: &[String],
    ids: &mut [String],
    owner: &Recipient<LinkEvent>,
) -> redis::RedisResult<()> {
    let block = usize::try_from(BLOCK.as_millis()).unwrap_or(2000);
    let options = StreamReadOptions::default().block(block).count(READ_COUNT);
    loop {
        if !owner.connected() {
            return Ok(());
        }
        let reply: Option<StreamReadReply> = connection.xread_options(streams, ids, &options).await?;
        let Some(reply) = reply else { continue };
        let mut entries = Vec::new();
        for key in reply.keys {
            let Some(stream) = streams.iter().position(|name| *name == key.key) else {
                continue;
            };
            for entry in key.ids {
                let payload = entry
                    .map
                    .get("e")
                    .and_then(|value| redis::from_redis_value::<String>(value).ok());
                ids[stream].clone_from(&entry.id);
                match payload {
                    Some(payload) => entries.push(StreamEntry {
                        stream,
                        id: entry.id,
                        payload,
                    }),
                    None => log::warn!(
                        "cluster: ignoring entry {} of {}: no `e` field",
                        entry.id,
                        key.key
                    ),
                }
            }
        }
        if !entries.is_empty() {
            owner.do_send(LinkEvent::Entries(entries));
        }
    }
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
