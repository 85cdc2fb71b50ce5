//! The product feed: the actor that owns every product-page session and
//! broadcasts each committed change (`feed`), the cart streams it keeps
//! (`carts`), and the rules one connection
//! follows, whatever its transport (`client`).

pub mod carts;
pub mod client;
pub mod feed;
mod frames;

pub use client::ProductClient;
pub use feed::ProductFeed;

/// The Socket.IO namespace of the feed's events.
pub const NAMESPACE: &str = "/products";
