//! HTTP routes: the JSON API, the Handlebars views, WebSocket upgrades.

pub mod api;
pub mod error;
pub mod health;
pub mod openapi;
pub mod views;
pub mod ws;

use actix::prelude::*;

pub use error::ApiError;

use crate::store::{MongoStore, StoreError};

/// Sends a message to the store and flattens its two failure layers.
pub async fn ask_store<M, T>(store: &Addr<MongoStore>, message: M) -> Result<T, ApiError>
where
    M: Message<Result = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
    MongoStore: Handler<M>,
{
    Ok(store.send(message).await??)
}
