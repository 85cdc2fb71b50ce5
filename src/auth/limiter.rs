//! Caps login attempts per e-mail and per client address, and
//! registrations per client address (per minute).
//!
//! With several instances the counts are kept in Redis (a counter per key
//! and minute), so the limit holds however the balancer spreads attempts;
//! while Redis cannot be reached each instance counts on its own.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AuthError;
use crate::cluster::counts::{count_in_window, Allowance, CountError};
use crate::cluster::ClusterLink;
use crate::configuration::UserSettings;
use crate::domain::Email;

/// How long a count in Redis may take before the local count decides.
const REDIS_WAIT: Duration = Duration::from_millis(500);
/// The limits are per minute.
const MINUTE: Duration = Duration::from_secs(60);

pub struct LoginLimiter {
    by_email: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    per_email: u32,
    per_address: u32,
    registrations_per_address: u32,
    cluster: Option<Arc<ClusterLink>>,
}

impl LoginLimiter {
    pub fn new(settings: &UserSettings, cluster: Option<Arc<ClusterLink>>) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            by_email: RateLimiter::keyed(per_minute(settings.login_attempts_per_email)),
            by_address: RateLimiter::keyed(per_minute(settings.login_attempts_per_address)),
            registrations: RateLimiter::keyed(per_minute(settings.registrations_per_address)),
            per_email: settings.login_attempts_per_email.max(1),
            per_address: settings.login_attempts_per_address.max(1),
            registrations_per_address: settings.registrations_per_address.max(1),
            cluster,
        }
    }

    /// Counts one registration from `address`; refuses it past the limit.
    pub async fn check_registration(&self, address: Option<IpAddr>) -> Result<(), AuthError> {
        let Some(ip) = address else {
            return Ok(());
        };
        let ip_text = ip.to_string();
        let budget = Allowance {
            kind: "register",
            key: &ip_text,
            per_window: self.registrations_per_address,
            window: MINUTE,
        };
        let within = match self.count_in_cluster(&[budget]).await {
            Some(within) => within,
            None => {
                if self.registrations.len() > 10_000 {
                    self.registrations.retain_recent();
                }
                self.registrations.check_key(&ip).is_ok()
            }
        };
        if within {
            Ok(())
        } else {
            Err(AuthError::TooManyRegistrations)
        }
    }

    /// Counts one attempt; refuses it when either limit is reached. The
    /// e-mail is counted in the form login looks it up by (trimmed,
    /// lower-cased), so ` Ana@X.com ` and `ana@x.com` share one budget.
    pub async fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), AuthError> {
        let key = Email::parse("email", email)
            .map(|email| email.as_str().to_owned())
            .unwrap_or_else(|_| email.trim().to_ascii_lowercase());
        let ip_text = address.map(|ip| ip.to_string());
        let mut budgets = vec![Allowance {
            kind: "login-email",
            key: &key,
            per_window: self.per_email,
            window: MINUTE,
        }];
        if let Some(ip) = &ip_text {
            budgets.push(Allowance {
                kind: "login-address",
                key: ip,
                per_window: self.per_address,
                window: MINUTE,
            });
        }
        let within = match self.count_in_cluster(&budgets).await {
            Some(within) => within,
            None => {
                // Forget idle keys now and then so the maps stay small.
                if self.by_email.len() > 10_000 || self.by_address.len() > 10_000 {
                    self.by_email.retain_recent();
                    self.by_address.retain_recent();
                }
                let address_ok = address.is_none_or(|ip| self.by_address.check_key(&ip).is_ok());
                address_ok && self.by_email.check_key(&key).is_ok()
            }
        };
        if within {
            Ok(())
        } else {
            Err(AuthError::TooManyAttempts)
        }
    }

    /// Counts one use of each budget in Redis, in this minute's window:
    /// whether all are within their allowance, or `None` when there is no
    /// cluster or Redis does not answer (the local count decides then).
    async fn count_in_cluster(&self, budgets: &[Allowance<'_>]) -> Option<bool> {
        let cluster = self.cluster.as_ref()?;
        match count_in_window(cluster, budgets, REDIS_WAIT).await {
            Ok(within) => Some(within.iter().all(|within| *within)),
            Err(CountError::Unlinked) => None,
            Err(error) => {
                log::warn!("login limits: {error}; counting on this instance");
                None
            }
        }
    }
}
