//! Server-side login sessions for actix-session, kept in the store
//! (embedded or MongoDB) with their expiry, so a restart with the same
//! `SESSION_KEY` logs nobody out.
//!
//! The cookie carries only a random key (signed and encrypted by the
//! middleware); the state lives in the store, so logging out deletes it and
//! a copied cookie stops working.

use std::collections::HashMap;

use actix::Addr;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use rand::distributions::{Alphanumeric, DistString};

use crate::store::{ask_store, DeleteSession, LoadSession, MongoStore, SaveSession, TouchSession};

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct StoreSessionStore {
    store: Addr<MongoStore>,
}

impl StoreSessionStore {
    pub fn new(store: Addr<MongoStore>) -> Self {
        StoreSessionStore { store }
    }

    fn expiry(ttl: &Duration) -> chrono::DateTime<chrono::Utc> {
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl.whole_milliseconds()).unwrap_or(i64::MAX));
        crate::domain::now()
            .checked_add_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    async fn write(&self, key: &str, state: &State, ttl: &Duration) -> Result<(), anyhow::Error> {
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
        let stored = ask_store(&self.store, message)
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        stored
            .map(|text| serde_json::from_str(&text).map_err(|e| LoadError::Deserialization(e.into())))
            .transpose()
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
        let message = DeleteSession {
            key: key.as_ref().to_owned(),
        };
        Ok(ask_store(&self.store, message).await?)
    }
}
