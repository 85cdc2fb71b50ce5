//! The Engine.IO sessions by session id (`sid`), for the HTTP requests and
//! WebSocket upgrades that name one. A sid is random and not guessable: it
//! gives access to the session's queued packets.
//!
//! A long-polling handshake is answered before any session exists: the sid
//! is registered as pending, with what its session will be made of and a
//! place in the handshake budget. The session actor is started by the
//! first request that names the sid (a poll, a POST or an upgrade), and
//! takes a place among the real sessions then. A handshake nobody follows
//! within the grace is forgotten, its place given back: abandoned
//! handshakes cost a line here, never a session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::{Actor, Addr};

use crate::realtime::limits::SessionSlot;

pub struct EngineSessions<A: Actor, P> {
    inner: Mutex<Registry<A, P>>,
    /// How long a handshake may wait for its first request.
    grace: Duration,
}

struct Registry<A: Actor, P> {
    live: HashMap<String, Addr<A>>,
    pending: HashMap<String, Pending<P>>,
    /// Pending sids, oldest first, to forget them when their grace is up.
    deadlines: VecDeque<(Instant, String)>,
}

struct Pending<P> {
    made_of: P,
    /// Its place in the handshake budget.
    _slot: SessionSlot,
}

impl<A: Actor, P> EngineSessions<A, P> {
    pub fn new(grace: Duration) -> Self {
        EngineSessions {
            inner: Mutex::new(Registry {
                live: HashMap::new(),
                pending: HashMap::new(),
                deadlines: VecDeque::new(),
            }),
            grace,
        }
    }

    /// Registers a handshake: a new sid, pending until its first request.
    pub fn open_pending(&self, made_of: P, slot: SessionSlot) -> String {
        let sid = random_id();
        let mut inner = self.lock();
        inner
            .deadlines
            .push_back((Instant::now() + self.grace, sid.clone()));
        inner
            .pending
            .insert(sid.clone(), Pending { made_of, _slot: slot });
        sid
    }

    /// The session of `sid`. A pending one is started now, by `start` (which
    /// may refuse, e.g. when the sessions are full: the handshake is then
    /// forgotten). `None`: no such sid, or its grace ran out.
    pub fn find<E>(
        &self,
        sid: &str,
        start: impl FnOnce(String, P) -> Result<Addr<A>, E>,
    ) -> Result<Option<Addr<A>>, E> {
        let mut inner = self.lock();
        inner.forget_expired();
        if let Some(session) = inner.live.get(sid) {
            return Ok(Some(session.clone()));
        }
        let Some(pending) = inner.pending.remove(sid) else {
            return Ok(None);
        };
        // Started under the lock, so a second request for the same sid
        // finds this session, not a second one.
        let session = start(sid.to_owned(), pending.made_of)?;
        inner.live.insert(sid.to_owned(), session.clone());
        Ok(Some(session))
    }

    /// Forgets the handshakes whose grace is up (their places come back).
    pub fn forget_expired(&self) {
        self.lock().forget_expired();
    }

    /// The session stopped.
    pub fn remove(&self, sid: &str) {
        self.lock().live.remove(sid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry<A, P>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<A: Actor, P> Registry<A, P> {
    fn forget_expired(&mut self) {
        let now = Instant::now();
        while let Some((deadline, _)) = self.deadlines.front() {
            if *deadline > now {
                break;
            }
            if let Some((_, sid)) = self.deadlines.pop_front() {
                // Gone already if it was started.
                self.pending.remove(&sid);
            }
        }
    }
}

/// A random id for sessions and sockets.
pub fn random_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}
