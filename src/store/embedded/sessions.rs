//! The `sessions` table: login sessions with their expiry. Expired rows are
//! never read, and are swept as new sessions are saved.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::mapping::{map_error, millis};
use super::EmbeddedBackend;
use crate::store::{SessionCollection, StoreError};

#[async_trait]
impl SessionCollection for EmbeddedBackend {
    async fn load_session(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.query_row(
                "SELECT state FROM sessions WHERE key = ?1 AND expires_at > ?2",
                params![key, millis(now)],
                |row| row.get(0),
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn save_session(&self, key: &str, state: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let (key, state) = (key.to_owned(), state.to_owned());
        self.run(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                params![millis(crate::domain::now())],
            )
            .map_err(map_error)?;
            c.execute(
                "INSERT INTO sessions (key, state, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at",
                params![key, state, millis(expires)],
            )
            .map(drop)
            .map_err(map_error)
        })
        .await
    }

    async fn touch_session(&self, key: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE sessions SET expires_at = ?2 WHERE key = ?1",
                params![key, millis(expires)],
            )
            .map(drop)
            .map_err(map_error)
        })
        .await
    }

    async fn delete_session(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.execute("DELETE FROM sessions WHERE key = ?1", [key])
                .map(drop)
                .map_err(map_error)
        })
        .await
    }
}
