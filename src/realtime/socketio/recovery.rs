//! Connection state recovery, as socket.io 4.6+ does it. Every namespace
//! connection gets a private id (`pid`, in the CONNECT answer); each stream
//! event's Socket.IO packet ends with its offset, which socket.io-client
//! keeps; after a drop the client connects again with `{pid, offset}`. What
//! a connection was doing (the namespace, who it joined the chat as, the
//! cart it watched) is parked under its pid, in memory or, with several
//! instances, in Redis, so it recovers on any instance: the session takes
//! it up again, the room replays what was missed after the offset, and the
//! CONNECT answer repeats the pid (`socket.recovered` is then true on the
//! client). Parked states expire after `delivery.retain_s`, as the events
//! they would resume from do.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cluster::ClusterLink;
use crate::domain::Email;

/// What a namespace connection leaves for its recovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    /// Borrowed (no allocation) when made here, owned when read back.
    pub namespace: Cow<'static, str>,
    /// Joined the chat as this user (`Some(None)`: as a reader).
    pub joined: Option<Option<Email>>,
    /// The cart watched (its hex id), and the offset of its last change
    /// delivered.
    pub cart: Option<String>,
    pub cart_offset: Option<String>,
}

/// What a CONNECT packet asks to recover.
#[derive(Debug, Default)]
pub struct RecoveryRequest {
    pub pid: Option<String>,
    pub offset: Option<String>,
}

/// Longest pid accepted (ours are 20 characters).
const PID_MAX: usize = 64;
/// Parked states kept at most in memory.
const LOCAL_MAX: usize = 100_000;

impl RecoveryRequest {
    /// Reads `{pid, offset}` from a CONNECT packet's data (other fields, the
    /// application's `auth`, are left alone).
    pub fn from_connect(data: Option<&Value>) -> RecoveryRequest {
        let text = |key: &str| {
            data.and_then(|data| data.get(key))
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty() && text.len() <= PID_MAX)
                .map(str::to_owned)
        };
        RecoveryRequest {
            pid: text("pid").filter(|pid| pid.bytes().all(|b| b.is_ascii_alphanumeric())),
            offset: text("offset"),
        }
    }
}

/// Where parked states are kept.
pub enum Recoveries {
    Local {
        ttl: Duration,
        parked: Mutex<HashMap<String, (Instant, Parked)>>,
    },
    Redis {
        ttl: Duration,
        link: Arc<ClusterLink>,
    },
}

impl Recoveries {
    pub fn local(ttl: Duration) -> Recoveries {
        Recoveries::Local {
            ttl,
            parked: Mutex::new(HashMap::new()),
        }
    }

    pub fn redis(link: Arc<ClusterLink>, ttl: Duration) -> Recoveries {
        Recoveries::Redis { ttl, link }
    }

    fn key(link: &ClusterLink, pid: &str) -> String {
        format!("{}:recovery:{pid}", link.prefix())
    }

    /// Parks (or updates) the state of the connection `pid`.
    pub fn park(&self, pid: &str, parked: &Parked) {
        match self {
            Recoveries::Local { ttl, parked: map } => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                if map.len() >= LOCAL_MAX {
                    map.retain(|_, (at, _)| at.elapsed() < *ttl);
                    if map.len() >= LOCAL_MAX {
                        return; // full of live ones: this one will not recover
                    }
                }
                map.insert(pid.to_owned(), (Instant::now(), parked.clone()));
            }
            Recoveries::Redis { ttl, link } => {
                let (Some(mut connection), Ok(state)) = (link.connection(), serde_json::to_string(parked))
                else {
                    return;
                };
                let key = Recoveries::key(link, pid);
                let seconds = ttl.as_secs().max(1);
                actix::spawn(async move {
                    let set: redis::RedisResult<()> = connection.set_ex(key, state, seconds).await;
                    if let Err(error) = set {
                        log::debug!("socket.io: a recovery state was not parked: {error}");
                    }
                });
            }
        }
    }

    /// Forgets the state parked under `pid` (the client left on purpose).
    pub fn forget(&self, pid: &str) {
        match self {
            Recoveries::Local { parked, .. } => {
                parked.lock().unwrap_or_else(PoisonError::into_inner).remove(pid);
            }
            Recoveries::Redis { link, .. } => {
                let Some(mut connection) = link.connection() else {
                    return;
                };
                let key = Recoveries::key(link, pid);
                actix::spawn(async move {
                    let _: redis::RedisResult<()> = connection.del(key).await;
                });
            }
        }
    }

    /// The state parked under `pid`, if it has not expired.
    pub fn find(&self, pid: &str) -> LocalBoxFuture<'static, Option<Parked>> {
        match self {
            Recoveries::Local { ttl, parked } => {
                let map = parked.lock().unwrap_or_else(PoisonError::into_inner);
                let found = map
                    .get(pid)
                    .filter(|(at, _)| at.elapsed() < *ttl)
                    .map(|(_, parked)| parked.clone());
                async move { found }.boxed_local()
            }
            Recoveries::Redis { link, .. } => {
                let connection = link.connection();
                let key = Recoveries::key(link, pid);
                async move {
                    let mut connection = connection?;
                    let state: Option<String> = connection.get(key).await.ok()?;
                    serde_json::from_str(&state?).ok()
                }
                .boxed_local()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_packet_names_its_pid_and_offset_and_garbage_is_ignored() {
        let asked = RecoveryRequest::from_connect(Some(
            &serde_json::json!({"pid": "abc123", "offset": "L1-2", "token": 1}),
        ));
        assert_eq!(
            (asked.pid.as_deref(), asked.offset.as_deref()),
            (Some("abc123"), Some("L1-2"))
        );
        let forged = RecoveryRequest::from_connect(Some(&serde_json::json!({"pid": "../../x", "offset": 3})));
        assert_eq!((forged.pid, forged.offset), (None, None));
        let long = RecoveryRequest::from_connect(Some(&serde_json::json!({"pid": "a".repeat(65)})));
        assert!(long.pid.is_none());
        assert!(RecoveryRequest::from_connect(None).pid.is_none());
    }

    #[actix_web::test]
    async fn parked_states_are_found_until_they_expire() {
        let recoveries = Recoveries::local(Duration::from_millis(50));
        let parked = Parked {
            namespace: "/chat".into(),
            joined: Some(Some(Email::parse("user", "a@b.co").unwrap())),
            ..Parked::default()
        };
        recoveries.park("p1", &parked);
        assert_eq!(recoveries.find("p1").await, Some(parked));
        assert_eq!(recoveries.find("p2").await, None);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(recoveries.find("p1").await, None);
    }
}
