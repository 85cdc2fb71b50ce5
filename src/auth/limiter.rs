//! Caps login attempts per e-mail and per client address, and
//! registrations per client address (per minute).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AuthError;
use crate::configuration::UserSettings;
use crate::domain::Email;

pub struct LoginLimiter {
    by_email: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    pub fn new(settings: &UserSettings) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            by_email: RateLimiter::keyed(per_minute(settings.login_attempts_per_email)),
            by_address: RateLimiter::keyed(per_minute(settings.login_attempts_per_address)),
            registrations: RateLimiter::keyed(per_minute(settings.registrations_per_address)),
        }
    }

    /// Counts one registration from `address`; refuses it past the limit.
    pub fn check_registration(&self, address: Option<IpAddr>) -> Result<(), AuthError> {
        if self.registrations.len() > 10_000 {
            self.registrations.retain_recent();
        }
        match address {
            Some(ip) if self.registrations.check_key(&ip).is_err() => Err(AuthError::TooManyRegistrations),
            _ => Ok(()),
        }
    }

    /// Counts one attempt; refuses it when either limit is reached. The
    /// e-mail is counted in the form login looks it up by (trimmed,
    /// lower-cased), so ` Ana@X.com ` and `ana@x.com` share one budget.
    pub fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), AuthError> {
        // Forget idle keys now and then so the maps stay small.
        if self.by_email.len() > 10_000 || self.by_address.len() > 10_000 {
            self.by_email.retain_recent();
            self.by_address.retain_recent();
        }
        let address_ok = address.is_none_or(|ip| self.by_address.check_key(&ip).is_ok());
        let key = Email::parse("email", email)
            .map(|email| email.as_str().to_owned())
            .unwrap_or_else(|_| email.trim().to_ascii_lowercase());
        if !address_ok || self.by_email.check_key(&key).is_err() {
            return Err(AuthError::TooManyAttempts);
        }
        Ok(())
    }
}
