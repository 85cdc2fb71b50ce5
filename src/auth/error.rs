//! `AuthError`: why an account or session operation was refused. It knows
//! nothing of HTTP; `routes::error` gives each kind its status.

use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Nobody is logged in and the action needs someone (401).
    #[error("{0}")]
    LoginRequired(&'static str),
    /// Logged in (or naming an identity), but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown e-mail or wrong password; which one is not said (401).
    #[error("wrong e-mail or password")]
    WrongCredentials,
    /// The login rate limit was reached (429).
    #[error("too many login attempts; wait a minute and try again")]
    TooManyAttempts,
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Password hashing is at capacity (503).
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// Too many registrations from one address (429).
    #[error("too many registrations from your address; wait a minute and try again")]
    TooManyRegistrations,
    /// Hashing or session storage failed; the detail is logged, not shown.
    #[error("{0}")]
    Internal(String),
}

impl From<super::password::HashError> for AuthError {
    fn from(error: super::password::HashError) -> Self {
        match error {
            super::password::HashError::Busy => AuthError::Busy,
            super::password::HashError::Failed(detail) => AuthError::Internal(detail),
        }
    }
}

impl AuthError {
    /// What a client may be told (no store or hashing detail, which is
    /// logged instead); for the WebSocket `error` events.
    pub fn client_message(&self) -> String {
        match self {
            AuthError::Store(error) => error.client_message(),
            AuthError::Internal(detail) => {
                log::error!("auth failure: {detail}");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        }
    }
}
