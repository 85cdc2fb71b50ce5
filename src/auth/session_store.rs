//! Server-side login sessions for actix-session: kept in the store
//! (embedded or MongoDB) with their expiry, or, when instances share one
//! world, in Redis (one key per session, on one Redis or a cluster). Either way a restart
//! with the same `SESSION_KEY` logs nobody out, and with Redis a cookie made
//! on one instance works on all.
//!
//! The cookie carries only a random key (signed and encrypted by the
//! middleware); the state lives server-side, so logging out deletes it and
//! a copied cookie stops working.
//!
//! The sessions this process has read or written recently are also kept in
//! memory (bounded), and used only when the store or Redis cannot be
//! reached: during an outage the people already logged in stay logged in
//! (their chat keeps working) instead of every request with a cookie
//! failing. A login made during a Redis outage works on the instance that
//! made it (until it expires); the others learn of logins once Redis is back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix::Addr;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use rand::distributions::{Alphanumeric, DistString};

use crate::cluster::ClusterLink;
use crate::store::{
    ask_store, DeleteSession, LoadSession, MongoStore, SaveSession, StoreError, TouchSession,
};

type State = HashMap<String, String>;

/// Sessions remembered for outages; past this the oldest are forgotten.
const REMEMBERED: usize = 10_000;

/// A remembered session: its state, until when, and whether it was written
/// while the shared store was unreachable (and still has to be).
struct Remembered {
    state: State,
    expires: Instant,
    unsaved: bool,
}

/// Recently used sessions, for when the real store cannot be reached.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<HashMap<String, Remembered>>>);

impl Memory {
    fn with<T>(&self, work: impl FnOnce(&mut HashMap<String, Remembered>) -> T) -> T {
        work(&mut self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn remember(&self, key: &str, state: &State, ttl: &Duration, unsaved: bool) {
        let ttl = std::time::Duration::try_from(*ttl).unwrap_or_default();
        self.with(|sessions| {
            if sessions.len() >= REMEMBERED {
                let now = Instant::now();
                sessions.retain(|_, session| session.expires > now);
                if sessions.len() >= REMEMBERED {
                    sessions.clear();
                }
            }
            let session = Remembered {
                state: state.clone(),
                expires: Instant::now() + ttl,
                unsaved,
            };
            sessions.insert(key.to_owned(), session);
        });
    }

    /// The remembered state of an unexpired session.
    fn recall(&self, key: &str) -> Option<State> {
        self.with(|sessions| match sessions.get(key) {
            Some(session) if session.expires > Instant::now() => Some(session.state.clone()),
            _ => None,
        })
    }

    /// An unexpired session made while the shared store was unreachable.
    fn recall_unsaved(&self, key: &str) -> Option<State> {
        self.with(|sessions| match sessions.get(key) {
            Some(session) if session.unsaved && session.expires > Instant::now() => {
                Some(session.state.clone())
            }
            _ => None,
        })
    }

    /// The remembered state of an unexpired session served while the
    /// shared store is unreachable: from then on this instance vouches for
    /// it, as for one made meanwhile (a shared store that comes back
    /// without it, restarted empty, gets it back).
    fn vouch(&self, key: &str) -> Option<State> {
        self.with(|sessions| match sessions.get_mut(key) {
            Some(session) if session.expires > Instant::now() => {
                session.unsaved = true;
                Some(session.state.clone())
            }
            _ => None,
        })
    }

    /// How long a remembered session has left.
    fn remaining(&self, key: &str) -> Option<std::time::Duration> {
        self.with(|sessions| {
            sessions
                .get(key)
                .map(|session| session.expires.saturating_duration_since(Instant::now()))
        })
    }

    fn forget(&self, key: &str) {
        self.with(|sessions| sessions.remove(key));
    }
}

/// Login sessions kept in the store (one instance, or instances without
/// Redis).
#[derive(Clone)]
pub struct StoreSessionStore {
    store: Addr<MongoStore>,
    memory: Memory,
}

impl StoreSessionStore {
    pub fn new(store: Addr<MongoStore>) -> Self {
        StoreSessionStore {
            store,
            memory: Memory::default(),
        }
    }

    fn expiry(ttl: &Duration) -> chrono::DateTime<chrono::Utc> {
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl.whole_milliseconds()).unwrap_or(i64::MAX));
        crate::domain::now()
            .checked_add_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    async fn write(&self, key: &str, state: &State, ttl: &Duration) -> Result<(), anyhow::Error> {
        self.memory.remember(key, state, ttl, false);
        let state = serde_json::to_string(state)?;
        let message = SaveSession {
            key: key.to_owned(),
            state,
            expires: Self::expiry(ttl),
        };
        Ok(ask_store(&self.store, message).await?)
    }
}

impl SessionStore for StoreSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let message = LoadSession {
            key: key.as_ref().to_owned(),
            now: crate::domain::now(),
        };
        match ask_store(&self.store, message).await {
            Ok(Some(text)) => {
                let state: State =
                    serde_json::from_str(&text).map_err(|e| LoadError::Deserialization(e.into()))?;
                // Remembered for an outage, for as long as the cookie lives.
                self.memory
                    .remember(key.as_ref(), &state, &Duration::days(1), false);
                Ok(Some(state))
            }
            Ok(None) => {
                self.memory.forget(key.as_ref());
                Ok(None)
            }
            Err(StoreError::Unavailable(detail)) => {
                log::warn!("session store unreachable, using the remembered session if any: {detail}");
                Ok(self.memory.recall(key.as_ref()))
            }
            Err(error) => Err(LoadError::Other(error.into())),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_session_key();
        self.write(&key, &state, ttl).await.map_err(SaveError::Other)?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        self.write(key.as_ref(), &state, ttl)
            .await
            .map_err(UpdateError::Other)?;
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let message = TouchSession {
            key: key.as_ref().to_owned(),
            expires: Self::expiry(ttl),
        };
        Ok(ask_store(&self.store, message).await?)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.memory.forget(key.as_ref());
        let message = DeleteSession {
            key: key.as_ref().to_owned(),
        };
        Ok(ask_store(&self.store, message).await?)
    }
}

/// How long a Redis call may take before the remembered session is used.
const REDIS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Login sessions in Redis, shared by every instance: one key per session
/// (`<prefix>:session:<key>`, the state as JSON, expiring with the
/// session), through the cluster link, so on one Redis and on a Redis
/// Cluster alike (actix-session's own Redis store knows no cluster). While
/// the link is down, remembered sessions serve.
#[derive(Clone)]
pub struct RedisSessions {
    link: Arc<ClusterLink>,
    memory: Memory,
}

impl RedisSessions {
    pub fn new(link: Arc<ClusterLink>) -> Self {
        RedisSessions {
            link,
            memory: Memory::default(),
        }
    }

    fn key(&self, session: &str) -> String {
        format!("{}:session:{session}", self.link.prefix())
    }

    /// Runs `command` if linked: `None` when Redis is unreachable, failing
    /// or slower than `REDIS_WAIT`.
    async fn run<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Option<T> {
        let mut connection = self.link.connection();
        within(
            connection
                .as_mut()
                .map(|connection| command.query_async::<T>(connection)),
        )
        .await
    }

    /// Writes `state` under `session` (`exists`: only if there, otherwise
    /// only if not); whether it was written.
    async fn write(&self, session: &str, state: &State, ttl: &Duration, exists: bool) -> Option<bool> {
        let json = serde_json::to_string(state).ok()?;
        let millis = whole_millis(ttl);
        let written: Option<redis::Value> = self
            .run(
                redis::cmd("SET")
                    .arg(self.key(session))
                    .arg(json)
                    .arg(if exists { "XX" } else { "NX" })
                    .arg("PX")
                    .arg(millis)
                    .to_owned(),
            )
            .await;
        written.map(|reply| !matches!(reply, redis::Value::Nil))
    }
}

/// Waits for a Redis call (`None`: not connected) at most `REDIS_WAIT`;
/// `None` when Redis is unreachable, failing or slow.
async fn within<T, E: std::fmt::Display>(call: Option<impl Future<Output = Result<T, E>>>) -> Option<T> {
    match tokio::time::timeout(REDIS_WAIT, call?).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            log::warn!("login sessions: Redis failed ({error}); using remembered sessions");
            None
        }
        Err(_) => {
            log::warn!("login sessions: Redis did not answer in time; using remembered sessions");
            None
        }
    }
}

impl SessionStore for RedisSessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let read: Option<Option<String>> = self
            .run(redis::cmd("GET").arg(self.key(key.as_ref())).to_owned())
            .await;
        match read {
            Some(Some(json)) => {
                let state: State =
                    serde_json::from_str(&json).map_err(|e| LoadError::Deserialization(e.into()))?;
                self.memory
                    .remember(key.as_ref(), &state, &Duration::days(1), false);
                Ok(Some(state))
            }
            // Made or used while Redis was away: written now, for all.
            Some(None) => {
                let Some(state) = self.memory.recall_unsaved(key.as_ref()) else {
                    return Ok(None);
                };
                let left = self.memory.remaining(key.as_ref()).unwrap_or_default();
                let ttl = Duration::try_from(left).unwrap_or(Duration::ZERO);
                if self.write(key.as_ref(), &state, &ttl, false).await.is_some() {
                    self.memory.remember(key.as_ref(), &state, &ttl, false);
                }
                Ok(Some(state))
            }
            None => Ok(self.memory.vouch(key.as_ref())),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_session_key();
        // A fresh 64-character key is never taken; NX makes sure.
        let written = self.write(&key, &state, ttl, false).await;
        let unsaved = written != Some(true);
        let key = SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))?;
        self.memory.remember(key.as_ref(), &state, ttl, unsaved);
        Ok(key)
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        let key = match self.write(key.as_ref(), &state, ttl, true).await {
            Some(true) => key,
            // Expired meanwhile: a new key, as actix-session's store does.
            Some(false) => {
                let fresh = new_session_key();
                let written = self.write(&fresh, &state, ttl, false).await;
                let fresh = SessionKey::try_from(fresh).map_err(|e| UpdateError::Other(e.into()))?;
                self.memory
                    .remember(fresh.as_ref(), &state, ttl, written != Some(true));
                return Ok(fresh);
            }
            None => {
                self.memory.remember(key.as_ref(), &state, ttl, true);
                return Ok(key);
            }
        };
        self.memory.remember(key.as_ref(), &state, ttl, false);
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let millis = whole_millis(ttl);
        let _: Option<redis::Value> = self
            .run(
                redis::cmd("PEXPIRE")
                    .arg(self.key(key.as_ref()))
                    .arg(millis)
                    .to_owned(),
            )
            .await;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.memory.forget(key.as_ref());
        self.run::<redis::Value>(redis::cmd("DEL").arg(self.key(key.as_ref())).to_owned())
            .await
            .map(|_| ())
            .ok_or_else(|| anyhow::anyhow!("Redis is unreachable: the session could not be deleted"))
    }
}

/// A session's time to live in whole milliseconds, as Redis takes it (at
/// least 1).
fn whole_millis(ttl: &Duration) -> i64 {
    ttl.whole_milliseconds().clamp(1, i64::MAX as i128) as i64
}

/// A fresh, unguessable session key.
fn new_session_key() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 64)
}

/// Where login sessions are kept: the store, or Redis when instances share
/// one world.
#[derive(Clone)]
pub enum LoginSessions {
    Store(StoreSessionStore),
    Redis(RedisSessions),
}

impl SessionStore for LoginSessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        match self {
            LoginSessions::Store(store) => store.load(key).await,
            LoginSessions::Redis(redis) => redis.load(key).await,
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        match self {
            LoginSessions::Store(store) => store.save(state, ttl).await,
            LoginSessions::Redis(redis) => redis.save(state, ttl).await,
        }
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        match self {
            LoginSessions::Store(store) => store.update(key, state, ttl).await,
            LoginSessions::Redis(redis) => redis.update(key, state, ttl).await,
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        match self {
            LoginSessions::Store(store) => store.update_ttl(key, ttl).await,
            LoginSessions::Redis(redis) => redis.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            LoginSessions::Store(store) => store.delete(key).await,
            LoginSessions::Redis(redis) => redis.delete(key).await,
        }
    }
}
