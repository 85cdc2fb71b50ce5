//! Logging in and out, and who the session's user is. The session (cookie
//! plus server-side state) names the user by id; the account is read from
//! the store.

use std::net::IpAddr;

use actix::Addr;
use actix_session::Session;

use super::{password, AuthError, LoginLimiter};
use crate::domain::{Email, Id, StoredUser, User};
use crate::store::{ask_store, FindUserByEmail, GetUser, MongoStore, StoreError};

/// The session entry that names the logged-in user.
const USER_ID: &str = "user_id";
/// The logged-in user's e-mail, kept in the session so the chat can say who
/// is speaking without asking the store (it keeps working while the store
/// is down).
const USER_EMAIL: &str = "email";

/// The logged-in user, if any. A session naming a user that no longer
/// exists is cleared.
pub async fn current_user(session: &Session, store: &Addr<MongoStore>) -> Result<Option<User>, AuthError> {
    let Some(id) = session.get::<String>(USER_ID).ok().flatten() else {
        return Ok(None);
    };
    let Ok(id) = Id::parse_str(&id) else {
        session.purge();
        return Ok(None);
    };
    match ask_store(store, GetUser { id }).await {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound(_)) => {
            session.purge();
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Checks credentials (rate limited); the user on success.
pub async fn authenticate(
    store: &Addr<MongoStore>,
    limiter: &LoginLimiter,
    email: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<User, AuthError> {
    limiter.check(email, address).await?;
    let stored = match Email::parse("email", email) {
        Ok(email) => ask_store(store, FindUserByEmail { email }).await?,
        Err(_) => None,
    };
    let (user, hash) = match stored {
        Some(StoredUser { user, password_hash }) => (Some(user), Some(password_hash)),
        None => (None, None),
    };
    if password::verify(password.to_owned(), hash).await? {
        user.ok_or(AuthError::WrongCredentials)
    } else {
        Err(AuthError::WrongCredentials)
    }
}

/// Starts a session for `user` under a fresh session id.
pub fn log_in(session: &Session, user: &User) -> Result<(), AuthError> {
    session.renew();
    session
        .insert(USER_ID, user.id.to_hex())
        .and_then(|()| session.insert(USER_EMAIL, user.email.as_str()))
        .map_err(|e| AuthError::Internal(format!("session: {e}")))
}

/// The chat identity of the session: the e-mail it logged in with, read
/// from the session alone (no store call); sessions from before the e-mail
/// was kept fall back to the store.
pub async fn chat_identity(session: &Session, store: &Addr<MongoStore>) -> Result<Option<Email>, AuthError> {
    if let Some(email) = session.get::<String>(USER_EMAIL).ok().flatten() {
        return Ok(Some(Email::from_stored(email)));
    }
    Ok(current_user(session, store).await?.map(|user| user.email))
}

pub fn log_out(session: &Session) {
    session.purge();
}
