//! How many chat messages one person, and one client address, may post,
//! whatever number of sessions they open: `chat.messages_per_second_per_user`
//! / `message_burst_per_user`, and the same `..._per_address` (loopback is
//! not counted per address unless `websocket.limit_loopback`). The
//! per-session frame limit alone let 20 sessions post 20 times as much.
//!
//! Each instance counts with a token bucket. With Redis, the counts are
//! the cluster's: each message is counted in Redis (a window of
//! burst / rate seconds allowing `burst` messages) before it is posted, so
//! the limit holds however the balancer spreads the sessions. If Redis
//! does not answer in time, the instance counts alone for a while rather
//! than hold every message up.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::cluster::counts::{count_in_window, Allowance, CountError};
use crate::cluster::ClusterLink;
use crate::configuration::Settings;
use crate::domain::Email;
use crate::realtime::limits::AddressKey;
use crate::realtime::reply::Refusal;

/// How long a count in Redis may take before the instance counts alone.
const REDIS_WAIT: Duration = Duration::from_millis(250);
/// How long the instance then counts alone before asking Redis again.
const ALONE_AFTER_SLOW: Duration = Duration::from_secs(5);
/// Idle keys are forgotten when the local buckets hold more than this.
const LOCAL_KEYS: usize = 10_000;

pub struct ChatLimits {
    per_user: Rate,
    per_address: Rate,
    limit_loopback: bool,
    by_user: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<AddressKey>,
    cluster: Option<Arc<ClusterLink>>,
    /// Redis was too slow: count alone until then.
    alone_until: Mutex<Option<Instant>>,
}

/// A sustained rate and a burst.
#[derive(Clone, Copy)]
struct Rate {
    per_second: u32,
    burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let positive = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(positive(self.per_second)).allow_burst(positive(self.burst))
    }

    /// The cluster window: `burst` messages per burst / rate seconds, which
    /// is the sustained rate.
    fn window(self) -> Duration {
        Duration::from_secs(u64::from(self.burst.div_ceil(self.per_second.max(1))).max(1))
    }
}

impl ChatLimits {
    pub fn new(settings: &Settings, cluster: Option<Arc<ClusterLink>>) -> ChatLimits {
        let chat = &settings.chat;
        let per_user = Rate {
            per_second: chat.messages_per_second_per_user,
            burst: chat.message_burst_per_user,
        };
        let per_address = Rate {
            per_second: chat.messages_per_second_per_address,
            burst: chat.message_burst_per_address,
        };
        ChatLimits {
            per_user,
            per_address,
            limit_loopback: settings.websocket.limit_loopback,
            by_user: RateLimiter::keyed(per_user.quota()),
            by_address: RateLimiter::keyed(per_address.quota()),
            cluster,
            alone_until: Mutex::new(None),
        }
    }

    /// Counts a message of `user` from `address` on this instance: refused
    /// past either limit.
    pub fn check_here(&self, user: &Email, address: Option<IpAddr>) -> Result<(), Refusal> {
        if self.by_user.len() > LOCAL_KEYS || self.by_address.len() > LOCAL_KEYS {
            self.by_user.retain_recent();
            self.by_address.retain_recent();
        }
        if let Some(key) = self.address_key(address) {
            if self.by_address.check_key(&key).is_err() {
                return Err(self.refusal(self.per_address, "from your address"));
            }
        }
        if self.by_user.check_key(&user.as_str().to_owned()).is_err() {
            return Err(self.refusal(self.per_user, "as one person"));
        }
        Ok(())
    }

    /// Whether the cluster's count must be asked too (Redis is set and
    /// answering).
    pub fn counts_in_cluster(&self) -> bool {
        let alone = self
            .alone_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until);
        !alone && self.cluster.as_ref().is_some_and(|link| link.linked())
    }

    /// Counts a message in the cluster: refused past either limit there.
    /// Without an answer from Redis, the instance's count stands.
    pub async fn check_in_cluster(
        self: Arc<Self>,
        user: Email,
        address: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        let Some(link) = &self.cluster else {
            return Ok(());
        };
        let address_key = self.address_key(address).map(|key| key.to_string());
        let mut allowances = vec![Allowance {
            kind: "chat-user",
            key: user.as_str(),
            per_window: self.per_user.burst,
            window: self.per_user.window(),
        }];
        if let Some(key) = &address_key {
            allowances.push(Allowance {
                kind: "chat-address",
                key,
                per_window: self.per_address.burst,
                window: self.per_address.window(),
            });
        }
        match count_in_window(link, &allowances, REDIS_WAIT).await {
            Ok(within) => match within.as_slice() {
                [true] | [true, true] => Ok(()),
                [false, ..] => Err(self.refusal(self.per_user, "as one person")),
                _ => Err(self.refusal(self.per_address, "from your address")),
            },
            Err(CountError::Unlinked) => Ok(()),
            Err(error) => {
                log::warn!("chat limits: {error}; counting on this instance for {ALONE_AFTER_SLOW:?}");
                *self.alone_until.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Instant::now() + ALONE_AFTER_SLOW);
                Ok(())
            }
        }
    }

    fn address_key(&self, address: Option<IpAddr>) -> Option<AddressKey> {
        AddressKey::of(address?, self.limit_loopback)
    }

    fn refusal(&self, rate: Rate, who: &str) -> Refusal {
        Refusal::new(format!(
            "message not sent: too many messages {who} (at most {} per second, {} at once); wait a moment",
            rate.per_second, rate.burst
        ))
    }
}
