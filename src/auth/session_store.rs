//! Server-side login sessions for actix-session: kept in the store
//! (embedded or MongoDB) with their expiry, or, when instances share one
//! world, in Redis (actix-session's own Redis store). Either way a restart
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
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use actix::Addr;
use actix_session::storage::{
    LoadError, RedisSessionStore, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::cookie::time::Duration;
use rand::distributions::{Alphanumeric, DistString};

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

/// Login sessions in Redis (actix-session's `RedisSessionStore`), shared by
/// every instance. The connection is made in the background and retried, so
/// an instance starts (and serves remembered sessions) while Redis is away.
#[derive(Clone)]
pub struct RedisSessions {
    redis: Arc<OnceLock<RedisSessionStore>>,
    memory: Memory,
}

impl RedisSessions {
    /// Connects to `url` (keys are `<prefix>:session:<key>`), waiting a
    /// little; if Redis is not there yet, goes on connecting in the
    /// background.
    pub async fn connect(url: String, prefix: String) -> Self {
        let redis = Arc::new(OnceLock::new());
        let cell = redis.clone();
        let (ready, first_attempt) = tokio::sync::oneshot::channel();
        actix_web::rt::spawn(async move {
            let mut ready = Some(ready);
            loop {
                let prefix = prefix.clone();
                let store = RedisSessionStore::builder(url.clone())
                    .cache_keygen(move |key| format!("{prefix}:session:{key}"))
                    .build();
                match tokio::time::timeout(std::time::Duration::from_secs(2), store).await {
                    Ok(Ok(store)) => {
                        if ready.is_none() {
                            log::info!("login sessions: Redis reached");
                        }
                        let _ = cell.set(store);
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                        return;
                    }
                    Ok(Err(error)) if ready.is_some() => {
                        log::warn!("login sessions: cannot reach Redis yet ({error}); retrying")
                    }
                    Err(_) if ready.is_some() => {
                        log::warn!("login sessions: Redis does not answer yet; retrying")
                    }
                    _ => {}
                }
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        let _ = first_attempt.await;
        RedisSessions {
            redis,
            memory: Memory::default(),
        }
    }

    /// The Redis store, once connected.
    fn redis(&self) -> Option<&RedisSessionStore> {
        self.redis.get()
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
        match within(self.redis().map(|redis| redis.load(key))).await {
            Some(Some(state)) => {
                self.memory
                    .remember(key.as_ref(), &state, &Duration::days(1), false);
                Ok(Some(state))
            }
            // Made while Redis was away: it lives on this instance only.
            Some(None) => Ok(self.memory.recall_unsaved(key.as_ref())),
            None => Ok(self.memory.recall(key.as_ref())),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let written = within(self.redis().map(|redis| redis.save(state.clone(), ttl))).await;
        let unsaved = written.is_none();
        let key = match written {
            Some(key) => key,
            None => SessionKey::try_from(new_session_key()).map_err(|e| SaveError::Other(e.into()))?,
        };
        self.memory.remember(key.as_ref(), &state, ttl, unsaved);
        Ok(key)
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        let Some(redis) = self.redis() else {
            self.memory.remember(key.as_ref(), &state, ttl, true);
            return Ok(key);
        };
        let kept = key.as_ref().to_owned();
        // Redis gives a new key if the old one expired meanwhile.
        let written = within(Some(redis.update(key, state.clone(), ttl))).await;
        let unsaved = written.is_none();
        let key = match written {
            Some(key) => key,
            None => SessionKey::try_from(kept).map_err(|e| UpdateError::Other(e.into()))?,
        };
        self.memory.remember(key.as_ref(), &state, ttl, unsaved);
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        within(self.redis().map(|redis| redis.update_ttl(key, ttl))).await;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.memory.forget(key.as_ref());
        within(self.redis().map(|redis| redis.delete(key)))
            .await
            .ok_or_else(|| anyhow::anyhow!("Redis is unreachable: the session could not be deleted"))
    }
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
