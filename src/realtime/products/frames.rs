//! The frames of the product feed: each product change as its event
//! (`product:created`, ...) and as the course's `update_products`, made
//! once per change and kept together for replay; `cart:updated`; and the
//! `recovered` event of a stream.

use serde::Serialize;

use super::NAMESPACE;
use crate::domain::Id;
use crate::realtime::protocol::Frame;
use crate::realtime::stream::{Offset, Recovered, Unrecoverable};
use crate::store::StoreEvent;

/// A change as kept for replay: its event, and its `update_products`.
pub struct LoggedChange {
    pub event: Frame,
    pub update: Frame,
}

pub fn feed_event<T: Serialize>(event: &str, data: &T, offset: &Offset) -> Frame {
    Frame::event_at(event, data, offset).in_namespace(NAMESPACE)
}

/// The `recovered` event of a stream (in `namespace`).
pub fn recovered(stream: &str, outcome: Result<usize, Unrecoverable>, namespace: &'static str) -> Frame {
    let (recovered, count, reason) = match outcome {
        Ok(count) => (true, count, None),
        Err(why) => (false, 0, Some(why.reason())),
    };
    Frame::event(
        "recovered",
        &Recovered {
            stream,
            recovered,
            count,
            reason,
        },
    )
    .in_namespace(namespace)
}

/// The course's `update_products` event: which product, and what happened.
#[derive(Serialize)]
struct ProductUpdate<'a> {
    #[serde(with = "crate::domain::id::hex")]
    id: Id,
    msg: &'a str,
}

#[derive(Serialize)]
struct DeletedProduct {
    #[serde(rename = "_id", with = "crate::domain::id::hex")]
    id: Id,
}

impl LoggedChange {
    /// A product change's frames (none for other events).
    pub fn of(event: &StoreEvent, offset: &Offset) -> Option<LoggedChange> {
        let (event, product, what) = match event {
            StoreEvent::ProductCreated(product) => (
                feed_event("product:created", product, offset),
                product.id,
                "product created",
            ),
            StoreEvent::ProductUpdated(product) => (
                feed_event("product:updated", product, offset),
                product.id,
                "product updated",
            ),
            StoreEvent::ProductDeleted(id) => (
                feed_event("product:deleted", &DeletedProduct { id: *id }, offset),
                *id,
                "product deleted",
            ),
            StoreEvent::CartUpdated(_) | StoreEvent::AccountCreated { .. } => return None,
        };
        let update = Frame::event_at(
            "update_products",
            &ProductUpdate {
                id: product,
                msg: what,
            },
            offset,
        );
        Some(LoggedChange { event, update })
    }
}
