//! The link to Redis: one subscription and one command connection, run by
//! one task that reconnects with backoff (100 ms doubling to 5 s).
//! Commands run in the order they were queued, batched into one pipeline
//! per round trip. The task reports to whoever started it through
//! `LinkEvent`s and knows nothing of what the messages mean.

use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline};
use tokio::sync::mpsc;

/// Commands the link runs in order (one event's, or one refresh's).
pub type Outgoing = Vec<Cmd>;

/// What the link tells its owner.
#[derive(Message)]
#[rtype(result = "()")]
pub enum LinkEvent {
    /// Connected and subscribed; the command connection, for other reads.
    Linked(MultiplexedConnection),
    /// The link broke (or could not be made); commands queued meanwhile
    /// were dropped, so the owner must not count on them.
    Unlinked,
    /// A message on the subscribed channel.
    Received(String),
}

/// Commands at most in one pipeline.
const BATCH: usize = 512;

/// Runs the link until `outgoing` is closed (its sender dropped).
pub async fn run(
    client: redis::Client,
    channel: String,
    owner: Recipient<LinkEvent>,
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
                owner.do_send(LinkEvent::Linked(connection.clone()));
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => match message.get_payload::<String>() {
                                Ok(payload) => owner.do_send(LinkEvent::Received(payload)),
                                Err(error) => log::warn!("cluster: unreadable message: {error}"),
                            },
                            None => break,
                        },
                        queued = outgoing.recv() => {
                            let Some(first) = queued else { return };
                            let mut pipeline = Pipeline::new();
                            for command in std::iter::once(first)
                                .chain(std::iter::from_fn(|| outgoing.try_recv().ok()))
                                .take(BATCH)
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
            owner.do_send(LinkEvent::Unlinked);
        }
        was_down = true;
        // Whatever was queued meanwhile was delivered locally by the owner.
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
