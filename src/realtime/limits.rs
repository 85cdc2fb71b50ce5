//! How many sessions may be open, in all and per client address, and the
//! same for Socket.IO handshakes that have not polled yet:
//! - sessions: `websocket.max_sessions` (by default the open-file limit
//!   less a reserve, so upgrades are refused before the process runs out of
//!   descriptors) and `websocket.max_sessions_per_address`;
//! - handshakes: a long-polling handshake costs a line in the registry
//!   until its first poll, not a session. It counts against its own, smaller
//!   budget (`websocket.max_pending_handshakes`, `..._per_address`), so a
//!   loop of abandoned handshakes cannot take the places of real users.
//!
//! Per address means per IPv4 address, or per IPv6 /64 (what one
//! subscriber is usually given). Loopback clients are not counted per
//! address unless `websocket.limit_loopback` is set: they are the load tool,
//! the tests, or a reverse proxy that is not listed in `trusted_proxies`.
//! A session (or handshake) holds a `SessionSlot` for its whole life;
//! dropping it gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::configuration::WebSocketSettings;

/// File descriptors kept for everything but WebSocket sessions (the store,
/// logs, HTTP requests, uploads).
const RESERVED_FILES: u64 = 256;

pub struct SessionLimits {
    sessions: Arc<Budget>,
    handshakes: Arc<Budget>,
}

/// Why a session or a handshake was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("the server holds as many sessions as it can ({0}); try again shortly")]
    Full(usize),
    #[error("too many sessions from your address (at most {0})")]
    AddressFull(usize),
    #[error("too many handshakes are waiting for their first poll ({0}); try again shortly")]
    HandshakesFull(usize),
    #[error("too many handshakes from your address are waiting for their first poll (at most {0})")]
    AddressHandshakesFull(usize),
}

/// A place taken by one session or handshake, given back when dropped.
pub struct SessionSlot {
    budget: Arc<Budget>,
    address: Option<AddressKey>,
}

impl SessionLimits {
    pub fn new(settings: &WebSocketSettings) -> SessionLimits {
        let max = if settings.max_sessions > 0 {
            settings.max_sessions
        } else {
            let files = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
            usize::try_from(files.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX)
        };
        let sessions = Budget::new(
            max,
            settings.max_sessions_per_address,
            settings.limit_loopback,
            [LimitError::Full, LimitError::AddressFull],
        );
        let handshakes = Budget::new(
            settings.max_pending_handshakes,
            settings.max_pending_handshakes_per_address,
            settings.limit_loopback,
            [LimitError::HandshakesFull, LimitError::AddressHandshakesFull],
        );
        SessionLimits {
            sessions: Arc::new(sessions),
            handshakes: Arc::new(handshakes),
        }
    }

    pub fn max(&self) -> usize {
        self.sessions.max
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.sessions.open.load(Ordering::Acquire)
    }

    /// Handshakes waiting for their first poll now.
    pub fn pending_handshakes(&self) -> usize {
        self.handshakes.open.load(Ordering::Acquire)
    }

    /// Takes a place for a session from `address`, or says why not.
    pub fn admit(&self, address: Option<IpAddr>) -> Result<SessionSlot, LimitError> {
        Budget::take(&self.sessions, address)
    }

    /// Takes a place for a handshake that has not polled yet.
    pub fn admit_handshake(&self, address: Option<IpAddr>) -> Result<SessionSlot, LimitError> {
        Budget::take(&self.handshakes, address)
    }
}

/// What per-address limits count by: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(u32),
    V6Prefix(u64),
}

/// As an address (`203.0.113.7`) or a prefix (`2001:db8:1:2::/64`), for
/// logs and the keys the cluster counts under.
impl std::fmt::Display for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressKey::V4(address) => write!(f, "{}", std::net::Ipv4Addr::from(*address)),
            AddressKey::V6Prefix(prefix) => {
                write!(f, "{}/64", std::net::Ipv6Addr::from(u128::from(*prefix) << 64))
            }
        }
    }
}

impl AddressKey {
    /// The key of a client address, or none for an address not counted
    /// (loopback, unless `limit_loopback`).
    pub fn of(address: IpAddr, limit_loopback: bool) -> Option<AddressKey> {
        let address = address.to_canonical();
        if address.is_loopback() && !limit_loopback {
            return None;
        }
        Some(match address {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => AddressKey::V6Prefix((u128::from(v6) >> 64) as u64),
        })
    }
}

/// One kind of place: at most `max` in all, `per_address` per address.
struct Budget {
    max: usize,
    /// 0: no limit per address.
    per_address: usize,
    limit_loopback: bool,
    /// The refusals: over `max`, over `per_address`.
    refusals: [fn(usize) -> LimitError; 2],
    open: AtomicUsize,
    by_address: Mutex<HashMap<AddressKey, usize>>,
}

impl Budget {
    fn new(
        max: usize,
        per_address: usize,
        limit_loopback: bool,
        refusals: [fn(usize) -> LimitError; 2],
    ) -> Budget {
        Budget {
            max,
            per_address,
            limit_loopback,
            refusals,
            open: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
        }
    }

    fn take(budget: &Arc<Budget>, address: Option<IpAddr>) -> Result<SessionSlot, LimitError> {
        let taken = budget.open.fetch_add(1, Ordering::AcqRel);
        if taken >= budget.max {
            budget.open.fetch_sub(1, Ordering::AcqRel);
            return Err((budget.refusals[0])(budget.max));
        }
        let key = address
            .filter(|_| budget.per_address > 0)
            .and_then(|address| AddressKey::of(address, budget.limit_loopback));
        if let Some(key) = key {
            let mut by_address = budget.by_address.lock().unwrap_or_else(PoisonError::into_inner);
            let count = by_address.entry(key).or_default();
            if *count >= budget.per_address {
                drop(by_address);
                budget.open.fetch_sub(1, Ordering::AcqRel);
                return Err((budget.refusals[1])(budget.per_address));
            }
            *count += 1;
        }
        Ok(SessionSlot {
            budget: Arc::clone(budget),
            address: key,
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.budget.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(key) = self.address {
            let mut by_address = self
                .budget
                .by_address
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = by_address.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    by_address.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_subscriber_is_one_address_and_loopback_is_not_counted() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a, false), AddressKey::of(b, false));
        assert_ne!(AddressKey::of(a, false), AddressKey::of(c, false));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(AddressKey::of(mapped, false), AddressKey::of(v4, false));
        assert_eq!(AddressKey::of("127.0.0.1".parse().unwrap(), false), None);
        assert_eq!(AddressKey::of("::1".parse().unwrap(), false), None);
        assert!(AddressKey::of("127.0.0.1".parse().unwrap(), true).is_some());
        assert_eq!(AddressKey::of(a, false).unwrap().to_string(), "2001:db8:1:2::/64");
        assert_eq!(AddressKey::of(v4, false).unwrap().to_string(), "203.0.113.7");
    }
}
