//! The chat: the room that owns every joined session (`room`), who is
//! online (`presence`), the recent messages (`history`), the chat stream
//! kept for clients that resume (`log`), posted messages on their way to
//! their broadcast (`posts`), how much one person may post (`limits`), and
//! the rules one connection follows, whatever its transport (`client`).

pub mod client;
pub mod history;
pub mod limits;
pub mod log;
pub mod posts;
pub mod presence;
pub mod room;

use serde::Serialize;

use super::protocol::Frame;

pub use client::ChatClient;
pub use posts::{PostError, PostMessage};
pub use room::{ChatRoom, Join, Leave};

/// The Socket.IO namespace of the room's events.
pub const NAMESPACE: &str = "/chat";

/// One of the room's events (made once, shared by every recipient).
fn room_event<T: Serialize>(event: &str, data: &T) -> Frame {
    Frame::event(event, data).in_namespace(NAMESPACE)
}

fn room_error(message: &str) -> Frame {
    Frame::error(message, None).in_namespace(NAMESPACE)
}
