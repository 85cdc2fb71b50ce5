//! The Redis link of an instance when several share one world: one Redis
//! or a Redis Cluster behind one connection type (`connection`), the tasks
//! that keep the link up (`link`), and `ClusterLink`, the live connection
//! they share. The bus keeps that current; login sessions and the login
//! and chat limits (`counts`) go through it, and `/health` reports it.

pub mod connection;
pub mod counts;
pub mod link;
pub mod topics;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use self::connection::RedisConnection;

pub struct ClusterLink {
    prefix: String,
    connection: Mutex<Option<RedisConnection>>,
    /// Why Redis cannot be reached, while it cannot.
    problem: Mutex<Option<String>>,
    /// How many cart streams this instance follows (topic routing).
    followed_carts: AtomicUsize,
    /// Whether it follows the `chat` and the `products` stream.
    followed_rooms: [AtomicBool; 2],
}

impl ClusterLink {
    /// `prefix` starts every key this cluster uses.
    pub fn new(prefix: String) -> Self {
        ClusterLink {
            prefix,
            connection: Mutex::new(None),
            problem: Mutex::new(None),
            followed_carts: AtomicUsize::new(0),
            followed_rooms: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection while Redis is reachable (a cheap handle on one shared
    /// multiplexed connection, or on a cluster's).
    pub fn connection(&self) -> Option<RedisConnection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn linked(&self) -> bool {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// How many cart streams this instance follows now (for `/metrics`).
    pub fn followed_carts(&self) -> usize {
        self.followed_carts.load(Ordering::Relaxed)
    }

    pub fn set_followed_carts(&self, count: usize) {
        self.followed_carts.store(count, Ordering::Relaxed);
    }

    /// Whether this instance follows the `chat` and the `products` stream
    /// now (for `/metrics`).
    pub fn followed_rooms(&self) -> (bool, bool) {
        let [chat, products] = &self.followed_rooms;
        (chat.load(Ordering::Relaxed), products.load(Ordering::Relaxed))
    }

    pub fn set_followed_rooms(&self, chat: bool, products: bool) {
        let [chat_followed, products_followed] = &self.followed_rooms;
        chat_followed.store(chat, Ordering::Relaxed);
        products_followed.store(products, Ordering::Relaxed);
    }

    /// Waits until linked, at most `wait` (so that the first requests after
    /// a start find Redis, when it is there); whether it is.
    pub async fn wait_linked(&self, wait: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        while !self.linked() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.linked()
    }

    /// The bus linked (`Some`) or lost the link (`None`).
    pub fn set(&self, connection: Option<RedisConnection>) {
        if connection.is_some() {
            self.set_problem(None);
        }
        *self.connection.lock().unwrap_or_else(PoisonError::into_inner) = connection;
    }

    /// Why Redis cannot be reached, while it cannot (for `/health`).
    pub fn problem(&self) -> Option<String> {
        if self.linked() {
            return None;
        }
        self.problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_problem(&self, problem: Option<String>) {
        *self.problem.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }
}
