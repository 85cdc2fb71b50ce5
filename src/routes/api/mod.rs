//! The JSON API under `/api`.

pub mod carts;
pub mod messages;
pub mod products;
mod uploads;
pub mod users;

use serde::Serialize;

/// The success envelope: `{"status":"success","payload":...}`.
#[derive(Serialize)]
pub struct Success<T: Serialize> {
    status: &'static str,
    payload: T,
}

pub fn success<T: Serialize>(payload: T) -> Success<T> {
    Success {
        status: "success",
        payload,
    }
}
