//! One Redis or a Redis Cluster, behind one client and one connection type,
//! so the bus, presence, login sessions and limits are written once.
//!
//! `REDIS_URL` names a cluster by its scheme (`redis+cluster://` or
//! `rediss+cluster://`, with one or more seed nodes separated by commas) or
//! by being a comma-separated list of `redis://` seed URLs; anything else is
//! one Redis. On a cluster every command goes to the shard of its key's
//! slot, and the client follows the cluster through failovers and
//! resharding (`MOVED`, `ASK`); a multi-key command or a pipeline must stay
//! within one slot, which is why every key this server writes together
//! shares a hash tag (`{...}`), and why `slot_of` exists.

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// Where the instances meet: one Redis, or the seed nodes of a cluster.
#[derive(Clone)]
pub enum RedisClient {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// A live connection to either (cheap to clone: both multiplex).
#[derive(Clone)]
pub enum RedisConnection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisClient {
    /// Reads `REDIS_URL` (see the module's doc).
    pub fn open(url: &str) -> RedisResult<RedisClient> {
        match cluster_seeds(url) {
            Some(seeds) => {
                // Few retries inside the client: the link reconnects and
                // resends by itself, and a write must not hang for minutes.
                let client = ClusterClientBuilder::new(seeds)
                    .retries(4)
                    .min_retry_wait(50)
                    .max_retry_wait(1000)
                    .build()?;
                Ok(RedisClient::Cluster(client))
            }
            None => Ok(RedisClient::Single(redis::Client::open(url)?)),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisClient::Cluster(_))
    }

    /// A new connection (on a cluster: to every master) whose commands
    /// give up after `response_timeout`.
    pub async fn connect(&self, response_timeout: Duration) -> RedisResult<RedisConnection> {
        match self {
            RedisClient::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(response_timeout);
                Ok(RedisConnection::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            RedisClient::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(response_timeout);
                let connecting = client.get_async_connection_with_config(config);
                // The cluster client has no overall connect deadline of its own.
                match tokio::time::timeout(CONNECT_TIMEOUT * 2, connecting).await {
                    Ok(connected) => Ok(RedisConnection::Cluster(connected?)),
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::IoError,
                        "the cluster's seed nodes did not answer in time",
                    ))),
                }
            }
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(connection) => connection.req_packed_command(cmd),
            RedisConnection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(connection) => connection.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(connection) => connection.get_db(),
            RedisConnection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The seed URLs of a cluster, if `url` names one.
fn cluster_seeds(url: &str) -> Option<Vec<String>> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let node_scheme = match scheme {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        "redis" | "rediss" if url.contains(',') => {
            return Some(url.split(',').map(|seed| seed.trim().to_owned()).collect());
        }
        _ => return None,
    };
    // `redis+cluster://[user:password@]host:port[,host:port...][/...]`:
    // the credentials and the path apply to every seed.
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), rest),
    };
    let (hosts, path) = match hosts.split_once('/') {
        Some((hosts, path)) => (hosts, format!("/{path}")),
        None => (hosts, String::new()),
    };
    Some(
        hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{node_scheme}://{credentials}{host}{path}"))
            .collect(),
    )
}

/// Redis Cluster's slot of a key: the CRC16 of its hash tag (the text
/// between the first `{` and the next `}`, when not empty), or of the
/// whole key.
pub fn slot_of(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|byte| *byte == b'{')
        .and_then(|open| {
            let close = key[open + 1..].iter().position(|byte| *byte == b'}')?;
            (close > 0).then(|| &key[open + 1..open + 1 + close])
        })
        .unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % 16384
}

/// The slot of a command's key (its first argument), for grouping writes.
pub fn slot_of_command(command: &Cmd) -> u16 {
    match command.args_iter().nth(1) {
        Some(redis::Arg::Simple(key)) => slot_of(key),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_recognised_with_their_credentials() {
        assert_eq!(cluster_seeds("redis://localhost:6379"), None);
        assert_eq!(
            cluster_seeds("redis+cluster://:secret@a:7000,b:7001/"),
            Some(vec![
                "redis://:secret@a:7000/".to_owned(),
                "redis://:secret@b:7001/".to_owned()
            ])
        );
        assert_eq!(
            cluster_seeds("rediss+cluster://c:7002"),
            Some(vec!["rediss://c:7002".to_owned()])
        );
        assert_eq!(
            cluster_seeds("redis://a:7000, redis://b:7001"),
            Some(vec!["redis://a:7000".to_owned(), "redis://b:7001".to_owned()])
        );
    }

    #[test]
    fn slots_follow_hash_tags_as_redis_cluster_does() {
        // Values from the Redis Cluster specification's examples and
        // `CLUSTER KEYSLOT`.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"shop:{chat}:stream"), slot_of(b"chat"));
        // An empty tag hashes the whole key.
        assert_eq!(
            slot_of(b"{}x"),
            crc16::State::<crc16::XMODEM>::calculate(b"{}x") % 16384
        );
        let command = redis::cmd("XADD").arg("shop:{chat}:stream").to_owned();
        assert_eq!(slot_of_command(&command), slot_of(b"chat"));
    }
}
