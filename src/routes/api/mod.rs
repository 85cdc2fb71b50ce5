//! The JSON API under `/api`, one module per resource.

pub mod carts;
pub mod messages;
pub mod products;
mod uploads;
pub mod users;

use serde::Serialize;
use utoipa::ToSchema;

/// The success envelope: `{"status":"success","payload":...}`.
#[derive(Serialize, ToSchema)]
pub struct Success<T> {
    #[schema(example = "success")]
    status: &'static str,
    payload: T,
}

pub fn success<T: Serialize>(payload: T) -> Success<T> {
    Success {
        status: "success",
        payload,
    }
}

/// The `{"_id": ...}` payload of a delete.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    #[serde(rename = "_id")]
    #[schema(example = "65f0a0a0a0a0a0a0a0a0a0a0")]
    pub id: String,
}
