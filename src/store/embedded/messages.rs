//! The `messages` table: every chat message; `recipient` is set for direct
//! messages, which public history never lists.

use async_trait::async_trait;
use rusqlite::params;

use super::mapping::{map_error, message_from_row, millis, MESSAGE_COLUMNS};
use super::EmbeddedBackend;
use crate::domain::{ChatMessage, Email, Id};
use crate::store::{MessageCollection, StoreError};

#[async_trait]
impl MessageCollection for EmbeddedBackend {
    async fn save_message(&self, message: ChatMessage) -> Result<ChatMessage, StoreError> {
        self.run(move |c| {
            c.execute(
                &format!("INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![
                    message.id.to_hex(),
                    message.user.as_str(),
                    message.message,
                    message.to.as_ref().map(Email::as_str),
                    millis(message.created_at),
                ],
            )
            .map_err(map_error)?;
            Ok(message)
        })
        .await
    }

    async fn recent_messages(&self, limit: u32, before: Option<Id>) -> Result<Vec<ChatMessage>, StoreError> {
        self.run(move |c| {
            let mut statement = c
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE recipient IS NULL AND (?1 IS NULL OR id < ?1)
                     ORDER BY id DESC LIMIT ?2"
                ))
                .map_err(map_error)?;
            statement
                .query_map(params![before.map(|id| id.to_hex()), limit], message_from_row)
                .and_then(Iterator::collect)
                .map_err(map_error)
        })
        .await
    }

    async fn public_messages_after(&self, after: Id, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        self.run(move |c| {
            let mut statement = c
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE recipient IS NULL AND id > ?1 ORDER BY id ASC LIMIT ?2"
                ))
                .map_err(map_error)?;
            statement
                .query_map(params![after.to_hex(), limit], message_from_row)
                .and_then(Iterator::collect)
                .map_err(map_error)
        })
        .await
    }

    async fn direct_messages(
        &self,
        user: &Email,
        after: Option<Id>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let user = user.as_str().to_owned();
        self.run(move |c| {
            // Without `after`: the newest, read backwards and turned around.
            let order = if after.is_some() { "ASC" } else { "DESC" };
            let mut statement = c
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE recipient IS NOT NULL AND (user = ?1 OR recipient = ?1) AND (?2 IS NULL OR id > ?2)
                     ORDER BY id {order} LIMIT ?3"
                ))
                .map_err(map_error)?;
            let mut messages: Vec<ChatMessage> = statement
                .query_map(
                    params![user, after.map(|id| id.to_hex()), limit],
                    message_from_row,
                )
                .and_then(Iterator::collect)
                .map_err(map_error)?;
            if after.is_none() {
                messages.reverse();
            }
            Ok(messages)
        })
        .await
    }
}
