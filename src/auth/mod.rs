//! Accounts and sessions: registration, login, who is asking, and the rules
//! for protected actions. Errors are `AuthError`; `routes` maps them to HTTP.

mod accounts;
mod carts;
mod error;
mod limiter;
mod login;
pub mod password;
mod session_store;

pub use accounts::{prepare_accounts, register, Accounts};
pub use carts::authorize_cart;
pub use error::AuthError;
pub use limiter::LoginLimiter;
pub use login::{authenticate, chat_identity, current_user, log_in, log_out};
pub use session_store::{LoginSessions, RedisSessions, StoreSessionStore};

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
        Some(user) => require_admin(accounts, user),
    }
}

/// The rule for admin-only actions. When accounts exist but no admin does,
/// the refusal says how to create one.
pub fn require_admin(accounts: &Accounts, user: &User) -> Result<(), AuthError> {
    if user.is_admin() {
        return Ok(());
    }
    let mut message = "only an admin may do this".to_owned();
    if !accounts.admin_exists() {
        message.push_str(NO_ADMIN_HINT);
    }
    Err(AuthError::Forbidden(message))
}

/// How to get an admin when there is none.
const NO_ADMIN_HINT: &str =
    "; no admin account exists yet: restart the server with ADMIN_EMAIL and ADMIN_PASSWORD set to create one";
