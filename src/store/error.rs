//! `StoreError`: why a store operation failed, the same on every backend.
//! It knows nothing of HTTP; `routes::error` maps it to a status.

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The document the request named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change would break a rule of the data: a unique field taken, a
    /// cart holding more than the stock.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached right now; the request may be retried.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is logged, never shown to clients.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    /// What a client may be told: no driver or SQL detail, which is logged.
    pub fn client_message(&self) -> String {
        match self {
            StoreError::NotFound(_) | StoreError::Conflict(_) => self.to_string(),
            StoreError::Unavailable(detail) => {
                log::warn!("store unavailable: {detail}");
                "the database is unavailable; try again shortly".to_owned()
            }
            StoreError::Internal(detail) => {
                log::error!("store failure: {detail}");
                "internal server error".to_owned()
            }
        }
    }
}

/// The store actor is gone (the server is shutting down): to the caller it
/// is a store that cannot be reached.
impl From<actix::MailboxError> for StoreError {
    fn from(_: actix::MailboxError) -> Self {
        StoreError::Unavailable("the store is not running".to_owned())
    }
}
