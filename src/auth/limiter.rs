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
use crate::cluster::ClusterLink;
use crate::configuration::UserSettings;
use crate::domain::Email;

/// How long a count in Redis may take before the local count decides.
const REDIS_WAIT: Duration = Duration::from_millis(500);

pub struct LoginLimiter {
    by_email: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    per_email: u32,
    per_address: u32,
    registrations_per_address: u32,
    cluster: Option<Arc<ClusterLink>>,
}

/// One thing counted: what, the key, the allowance per minute.
struct Budget<'a> {
    kind: &'static str,
    key: &'a str,
    per_minute: u32,
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
        let budget = Budget {
            kind: "register",
            key: &ip_text,
            per_minute: self.registrations_per_address,
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
        let mut budgets = vec![Budget {
            kind: "login-email",
            key: &key,
            per_minute: self.per_email,
        }];
        if let Some(ip) = &ip_text {
            budgets.push(Budget {
                kind: "login-address",
                key: ip,
                per_minute: self.per_address,
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
    async fn count_in_cluster(&self, budgets: &[Budget<'_>]) -> Option<bool> {
        let cluster = self.cluster.as_ref()?;
        let mut connection = cluster.connection()?;
        let minute = chrono::Utc::now().timestamp() / 60;
        let mut pipeline = redis::pipe();
        for budget in budgets {
            let key = format!(
                "{}:limit:{}:{}:{minute}",
                cluster.prefix(),
                budget.kind,
                budget.key
            );
            pipeline.incr(&key, 1).expire(&key, 60).ignore();
        }
        let counted =
            tokio::time::timeout(REDIS_WAIT, pipeline.query_async::<Vec<u32>>(&mut connection)).await;
        match counted {
            Ok(Ok(counts)) => Some(
                counts
                    .iter()
                    .zip(budgets)
                    .all(|(count, budget)| *count <= budget.per_minute),
            ),
            Ok(Err(error)) => {
                log::warn!("login limits: Redis failed ({error}); counting on this instance");
                None
            }
            Err(_) => {
                log::warn!("login limits: Redis did not answer in time; counting on this instance");
                None
            }
        }
    }
}
