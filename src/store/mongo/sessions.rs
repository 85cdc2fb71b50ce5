//! The `sessions` collection: `{_id: key, state, expiresAt}`. A TTL index on
//! `expiresAt` lets MongoDB delete expired sessions; reads never return one
//! anyway.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::doc;
use mongodb::options::UpdateOptions;

use super::mapping::{map_error, to_bson_date};
use super::MongoBackend;
use crate::store::{SessionCollection, StoreError};

#[async_trait]
impl SessionCollection for MongoBackend {
    async fn load_session(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let found = self
            .sessions
            .find_one(doc! { "_id": key, "expiresAt": { "$gt": to_bson_date(now) } })
            .await
            .map_err(map_error)?;
        Ok(found.map(|session| session.state))
    }

    async fn save_session(&self, key: &str, state: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        self.sessions
            .update_one(
                doc! { "_id": key },
                doc! { "$set": { "state": state, "expiresAt": to_bson_date(expires) } },
            )
            .with_options(UpdateOptions::builder().upsert(true).build())
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn touch_session(&self, key: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        self.sessions
            .update_one(
                doc! { "_id": key },
                doc! { "$set": { "expiresAt": to_bson_date(expires) } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn delete_session(&self, key: &str) -> Result<(), StoreError> {
        self.sessions
            .delete_one(doc! { "_id": key })
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
