//! Accounts and sessions: registration, login, who is asking, and the rules
//! for protected actions. Errors are `AuthError`; `routes` maps them to HTTP.

mod accounts;
mod error;
mod limiter;
mod login;
pub mod password;
mod session_store;

pub use accounts::{prepare_accounts, register, Accounts};
pub use error::AuthError;
pub use limiter::LoginLimiter;
pub use login::{authenticate, current_user, log_in, log_out};
pub use session_store::MemorySessionStore;

use crate::domain::User;

/// Who may create, change or delete products, decided in one place for
/// REST and WebSocket alike: anyone until an account exists, then admins.
pub fn may_write_products(accounts: &Accounts, viewer: Option<&User>) -> Result<(), AuthError> {
    if !accounts.exist() {
        return Ok(());
    }
    match viewer {
        None => Err(AuthError::LoginRequired(
            "product changes need an admin: log in first (POST /api/sessions/login)",
        )),
        Some(user) => require_admin(user),
    }
}

/// The rule for admin-only actions.
pub fn require_admin(user: &User) -> Result<(), AuthError> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(AuthError::Forbidden("only an admin may do this"))
    }
}
