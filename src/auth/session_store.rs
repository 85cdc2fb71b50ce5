//! Server-side login sessions for actix-session, kept in the store
//! (embedded or MongoDB) with their expiry, so a restart with the same
//! `SESSION_KEY` logs nobody out.
//!
//! The cookie carries only a random key (signed and encrypted by the
//! middleware); the state lives in the store, so logging out deletes it and
//! a copied cookie stops working.
//!
//! The sessions this process has read or written recently are also kept in
//! memory (bounded), and used only when the store cannot be reached: during
//! an outage the people already logged in stay logged in (their chat keeps
//! working) instead of every request with a cookie failing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix::Addr;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use rand::distributions::{Alphanumeric, DistString};

use crate::store::{
    ask_store, DeleteSession, LoadSession, MongoStore, SaveSession, StoreError, TouchSession,
};

type State = HashMap<String, String>;

/// Sessions remembered for outages; past this the oldest are forgotten.
const REMEMBERED: usize = 10_000;

#[derive(Clone)]
pub struct StoreSessionStore {
    store: Addr<MongoStore>,
    remembered: Arc<Mutex<HashMap<String, (State, Instant)>>>,
}

impl StoreSessionStore {
    pub fn new(store: Addr<MongoStore>) -> Self {
        StoreSessionStore {
            store,
            remembered: Arc::default(),
        }
    }

    fn with_remembered<T>(&self, work: impl FnOnce(&mut HashMap<String, (State, Instant)>) -> T) -> T {
        work(
            &mut self
                .remembered
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    fn remember(&self, key: &str, state: &State, ttl: &Duration) {
        let ttl = std::time::Duration::try_from(*ttl).unwrap_or_default();
        self.with_remembered(|sessions| {
            if sessions.len() >= REMEMBERED {
                let now = Instant::now();
                sessions.retain(|_, (_, expires)| *expires > now);
                if sessions.len() >= REMEMBERED {
                    sessions.clear();
                }
            }
            sessions.insert(key.to_owned(), (state.clone(), Instant::now() + ttl));
        });
    }

    /// The remembered state of an unexpired session.
    fn recall(&self, key: &str) -> Option<State> {
        self.with_remembered(|sessions| match sessions.get(key) {
            Some((state, expires)) if *expires > Instant::now() => Some(state.clone()),
            _ => None,
        })
    }

    fn expiry(ttl: &Duration) -> chrono::DateTime<chrono::Utc> {
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl.whole_milliseconds()).unwrap_or(i64::MAX));
        crate::domain::now()
            .checked_add_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    async fn write(&self, key: &str, state: &State, ttl: &Duration) -> Result<(), anyhow::Error> {
        self.remember(key, state, ttl);
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
                self.remember(key.as_ref(), &state, &Duration::days(1));
                Ok(Some(state))
            }
            Ok(None) => {
                self.with_remembered(|sessions| sessions.remove(key.as_ref()));
                Ok(None)
            }
            Err(StoreError::Unavailable(detail)) => {
                log::warn!("session store unreachable, using the remembered session if any: {detail}");
                Ok(self.recall(key.as_ref()))
            }
            Err(error) => Err(LoadError::Other(error.into())),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = Alphanumeric.sample_string(&mut rand::thread_rng(), 64);
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
        self.with_remembered(|sessions| sessions.remove(key.as_ref()));
        let message = DeleteSession {
            key: key.as_ref().to_owned(),
        };
        Ok(ask_store(&self.store, message).await?)
    }
}
