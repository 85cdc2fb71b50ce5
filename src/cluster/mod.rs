//! The Redis link of an instance when several share one world: the task
//! that keeps it up (`link`), and `ClusterLink`, the live connection it
//! shares. The bus keeps that current; the login and chat limits count
//! through it (`counts`) and `/health` reports it.

pub mod counts;
pub mod link;

use std::sync::{Mutex, PoisonError};

use redis::aio::MultiplexedConnection;

pub struct ClusterLink {
    prefix: String,
    connection: Mutex<Option<MultiplexedConnection>>,
    /// Why Redis cannot be reached, while it cannot.
    problem: Mutex<Option<String>>,
}

impl ClusterLink {
    /// `prefix` starts every key this cluster uses.
    pub fn new(prefix: String) -> Self {
        ClusterLink {
            prefix,
            connection: Mutex::new(None),
            problem: Mutex::new(None),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection while Redis is reachable (a cheap handle on one shared
    /// multiplexed connection).
    pub fn connection(&self) -> Option<MultiplexedConnection> {
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

    /// The bus linked (`Some`) or lost the link (`None`).
    pub fn set(&self, connection: Option<MultiplexedConnection>) {
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
