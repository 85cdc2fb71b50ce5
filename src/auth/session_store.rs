//! Server-side session state for actix-session, kept in memory.
//!
//! The cookie carries only a random key (signed and encrypted by the
//! middleware); the state lives here, so logging out deletes it and a
//! copied cookie stops working. Sessions end when the server restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use rand::distributions::{Alphanumeric, DistString};

type State = HashMap<String, String>;

#[derive(Clone, Default)]
pub struct MemorySessionStore {
    sessions: Arc<Mutex<HashMap<String, (State, Instant)>>>,
}

/// Past this many entries a save first drops the expired ones, so abandoned
/// sessions cannot accumulate.
const SWEEP_ABOVE: usize = 1024;

impl MemorySessionStore {
    fn expiry(ttl: &Duration) -> Instant {
        let ttl = std::time::Duration::try_from(*ttl).unwrap_or_default();
        Instant::now() + ttl
    }

    fn with<T>(&self, work: impl FnOnce(&mut HashMap<String, (State, Instant)>) -> T) -> T {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut sessions)
    }
}

impl SessionStore for MemorySessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        Ok(self.with(|sessions| match sessions.get(key.as_ref()) {
            Some((state, expires)) if *expires > Instant::now() => Some(state.clone()),
            Some(_) => {
                sessions.remove(key.as_ref());
                None
            }
            None => None,
        }))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = Alphanumeric.sample_string(&mut rand::thread_rng(), 64);
        let expires = Self::expiry(ttl);
        self.with(|sessions| {
            if sessions.len() > SWEEP_ABOVE {
                let now = Instant::now();
                sessions.retain(|_, (_, expires)| *expires > now);
            }
            sessions.insert(key.clone(), (state, expires));
        });
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        let expires = Self::expiry(ttl);
        let known = self.with(|sessions| match sessions.get_mut(key.as_ref()) {
            Some(entry) => {
                *entry = (state.clone(), expires);
                true
            }
            None => false,
        });
        if known {
            Ok(key)
        } else {
            // Expired meanwhile: start a new session with this state.
            self.save(state, ttl)
                .await
                .map_err(|e| UpdateError::Other(e.into()))
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let expires = Self::expiry(ttl);
        self.with(|sessions| {
            if let Some(entry) = sessions.get_mut(key.as_ref()) {
                entry.1 = expires;
            }
        });
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.with(|sessions| sessions.remove(key.as_ref()));
        Ok(())
    }
}
