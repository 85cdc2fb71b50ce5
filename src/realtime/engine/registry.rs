//! The live Engine.IO sessions by session id (`sid`), for the HTTP
//! requests and WebSocket upgrades that name one. A sid is random and not
//! guessable: it gives access to the session's queued packets.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use actix::{Actor, Addr};

pub struct EngineSessions<A: Actor>(Mutex<HashMap<String, Addr<A>>>);

impl<A: Actor> Default for EngineSessions<A> {
    fn default() -> Self {
        EngineSessions(Mutex::new(HashMap::new()))
    }
}

impl<A: Actor> EngineSessions<A> {
    pub fn get(&self, sid: &str) -> Option<Addr<A>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sid)
            .cloned()
    }

    pub fn insert(&self, sid: String, session: Addr<A>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sid, session);
    }

    pub fn remove(&self, sid: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(sid);
    }
}

/// A random id for sessions and sockets.
pub fn random_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}
