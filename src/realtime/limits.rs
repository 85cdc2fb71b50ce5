//! How many WebSocket sessions may be open: in all (`websocket.max_sessions`,
//! by default the open-file limit less a reserve, so upgrades are refused
//! before the process runs out of descriptors) and per client address
//! (`websocket.max_sessions_per_address`, off by default so load tests from
//! one machine work). A session holds a `SessionSlot` for its whole life;
//! dropping it gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// File descriptors kept for everything but WebSocket sessions (the store,
/// logs, HTTP requests, uploads).
const RESERVED_FILES: u64 = 256;

pub struct SessionLimits {
    max: usize,
    per_address: usize,
    open: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a session was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("the server holds as many sessions as it can ({0}); try again shortly")]
    Full(usize),
    #[error("too many sessions from your address (at most {0})")]
    AddressFull(usize),
}

/// A place taken by one session, given back when dropped.
pub struct SessionSlot {
    limits: Arc<SessionLimits>,
    address: Option<IpAddr>,
}

impl SessionLimits {
    /// `max` 0 means: the open-file limit less a reserve.
    pub fn new(max: usize, per_address: usize) -> SessionLimits {
        let max = if max > 0 {
            max
        } else {
            let files = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
            usize::try_from(files.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX)
        };
        SessionLimits {
            max,
            per_address,
            open: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Takes a place for a session from `address`, or says why not.
    pub fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Result<SessionSlot, LimitError> {
        let taken = self.open.fetch_add(1, Ordering::AcqRel);
        if taken >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(LimitError::Full(self.max));
        }
        let counted = match address {
            Some(ip) if self.per_address > 0 => {
                let mut by_address = self
                    .by_address
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let count = by_address.entry(ip).or_default();
                if *count >= self.per_address {
                    drop(by_address);
                    self.open.fetch_sub(1, Ordering::AcqRel);
                    return Err(LimitError::AddressFull(self.per_address));
                }
                *count += 1;
                Some(ip)
            }
            _ => None,
        };
        Ok(SessionSlot {
            limits: Arc::clone(self),
            address: counted,
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.address {
            let mut by_address = self
                .limits
                .by_address
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(count) = by_address.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    by_address.remove(&ip);
                }
            }
        }
    }
}
