//! The `messages` collection: `{user, message, to, createdAt}`; `to` is
//! null for public messages, which the history lists (index `to, _id`).

use async_trait::async_trait;
use mongodb::bson::{doc, Bson};

use super::mapping::{collect, map_error, MessageDocument};
use super::MongoBackend;
use crate::domain::{ChatMessage, Email, Id};
use crate::store::{MessageCollection, StoreError};

#[async_trait]
impl MessageCollection for MongoBackend {
    async fn save_message(&self, message: ChatMessage) -> Result<ChatMessage, StoreError> {
        let document = MessageDocument::from(message);
        self.messages.insert_one(&document).await.map_err(map_error)?;
        Ok(ChatMessage::from(document))
    }

    async fn recent_messages(&self, limit: u32, before: Option<Id>) -> Result<Vec<ChatMessage>, StoreError> {
        let mut filter = doc! { "to": Bson::Null };
        if let Some(before) = before {
            filter.insert("_id", doc! { "$lt": before });
        }
        let items: Vec<MessageDocument> = collect(
            self.messages
                .find(filter)
                .sort(doc! { "_id": -1 })
                .limit(i64::from(limit))
                .await,
        )
        .await?;
        Ok(items.into_iter().map(ChatMessage::from).collect())
    }

    async fn public_messages_after(&self, after: Id, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        let items: Vec<MessageDocument> = collect(
            self.messages
                .find(doc! { "to": Bson::Null, "_id": { "$gt": after } })
                .sort(doc! { "_id": 1 })
                .limit(i64::from(limit))
                .await,
        )
        .await?;
        Ok(items.into_iter().map(ChatMessage::from).collect())
    }

    async fn direct_messages(
        &self,
        user: &Email,
        after: Option<Id>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut filter = doc! {
            "to": { "$ne": Bson::Null },
            "$or": [{ "user": user.as_str() }, { "to": user.as_str() }],
        };
        if let Some(after) = after {
            filter.insert("_id", doc! { "$gt": after });
        }
        // Without `after`: the newest, read backwards and turned around.
        let direction = if after.is_some() { 1 } else { -1 };
        let items: Vec<MessageDocument> = collect(
            self.messages
                .find(filter)
                .sort(doc! { "_id": direction })
                .limit(i64::from(limit))
                .await,
        )
        .await?;
        let mut messages: Vec<ChatMessage> = items.into_iter().map(ChatMessage::from).collect();
        if after.is_none() {
            messages.reverse();
        }
        Ok(messages)
    }
}
