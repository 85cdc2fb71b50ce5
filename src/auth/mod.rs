//! Accounts and sessions: registration, login, who is asking, and the
//! rules for protected actions.

pub mod password;
mod session_store;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_session::Session;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub use session_store::MemorySessionStore;

use crate::configuration::UserSettings;
use crate::domain::{Email, Id, NewUser, Password, Role, StoredUser, User};
use crate::routes::{ask_store, ApiError};
use crate::store::{AnyUsers, CreateCart, CreateUser, FindUserByEmail, GetUser, MongoStore, StoreError};

/// The session entry that names the logged-in user.
const USER_ID: &str = "user_id";

/// Whether any account exists. Until one does, the server is open (a fresh
/// install works without setup); from then on product writes need an
/// admin. Once true it stays true for the life of the process.
#[derive(Default)]
pub struct Accounts {
    exist: AtomicBool,
}

impl Accounts {
    pub fn exist(&self) -> bool {
        self.exist.load(Ordering::Acquire)
    }

    pub fn mark_existing(&self) {
        self.exist.store(true, Ordering::Release);
    }
}

/// Caps login attempts per e-mail and per client address (per minute).
pub struct LoginLimiter {
    by_email: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    pub fn new(settings: &UserSettings) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            by_email: RateLimiter::keyed(per_minute(settings.login_attempts_per_email)),
            by_address: RateLimiter::keyed(per_minute(settings.login_attempts_per_address)),
        }
    }

    /// Counts one attempt; refuses it when either limit is reached.
    fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        // Forget idle keys now and then so the maps stay small.
        if self.by_email.len() > 10_000 || self.by_address.len() > 10_000 {
            self.by_email.retain_recent();
            self.by_address.retain_recent();
        }
        let address_ok = address.is_none_or(|ip| self.by_address.check_key(&ip).is_ok());
        if !address_ok || self.by_email.check_key(&email.to_ascii_lowercase()).is_err() {
            return Err(ApiError::TooManyRequests(
                "too many login attempts; wait a minute and try again".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The logged-in user, if any. A session naming a user that no longer
/// exists is cleared.
pub async fn current_user(session: &Session, store: &Addr<MongoStore>) -> Result<Option<User>, ApiError> {
    let Some(id) = session.get::<String>(USER_ID).ok().flatten() else {
        return Ok(None);
    };
    let Ok(id) = Id::parse_str(&id) else {
        session.purge();
        return Ok(None);
    };
    match ask_store(store, GetUser { id }).await {
        Ok(user) => Ok(Some(user)),
        Err(ApiError::Store(StoreError::NotFound(_))) => {
            session.purge();
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The logged-in user, or 401.
pub async fn require_user(session: &Session, store: &Addr<MongoStore>) -> Result<User, ApiError> {
    current_user(session, store)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("log in first (POST /api/sessions/login)".to_owned()))
}

/// The logged-in admin, or 401/403.
pub async fn require_admin(session: &Session, store: &Addr<MongoStore>) -> Result<User, ApiError> {
    let user = require_user(session, store).await?;
    if !user.is_admin() {
        return Err(ApiError::Forbidden("only an admin may do this".to_owned()));
    }
    Ok(user)
}

/// Who may create, change or delete products, decided in one place for
/// REST and WebSocket alike.
pub fn may_write_products(accounts: &Accounts, viewer: Option<&User>) -> Result<(), ApiError> {
    if !accounts.exist() {
        return Ok(());
    }
    match viewer {
        None => Err(ApiError::Unauthorized(
            "product changes need an admin: log in first (POST /api/sessions/login)".to_owned(),
        )),
        Some(user) if !user.is_admin() => Err(ApiError::Forbidden(
            "only an admin may change products".to_owned(),
        )),
        Some(_) => Ok(()),
    }
}

/// Checks credentials (rate limited); the user on success, 401 otherwise.
pub async fn authenticate(
    store: &Addr<MongoStore>,
    limiter: &LoginLimiter,
    email: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<User, ApiError> {
    limiter.check(email, address)?;
    let invalid = || ApiError::Unauthorized("wrong e-mail or password".to_owned());
    let stored = match Email::parse("email", email) {
        Ok(email) => ask_store(store, FindUserByEmail { email }).await?,
        Err(_) => None,
    };
    let (user, hash) = match stored {
        Some(StoredUser { user, password_hash }) => (Some(user), Some(password_hash)),
        None => (None, None),
    };
    if password::verify(password.to_owned(), hash).await {
        user.ok_or_else(invalid)
    } else {
        Err(invalid())
    }
}

/// Starts a session for `user` under a fresh session id.
pub fn log_in(session: &Session, user: &User) -> Result<(), ApiError> {
    session.renew();
    session
        .insert(USER_ID, user.id.to_hex())
        .map_err(|e| ApiError::Internal(format!("session: {e}")))
}

pub fn log_out(session: &Session) {
    session.purge();
}

/// Registers an account with its own cart.
pub async fn register(
    store: &Addr<MongoStore>,
    accounts: &Accounts,
    new_user: NewUser,
    role: Role,
) -> Result<User, ApiError> {
    // Refuse a taken e-mail before creating the cart (the unique index
    // still decides races).
    if ask_store(
        store,
        FindUserByEmail {
            email: new_user.email.clone(),
        },
    )
    .await?
    .is_some()
    {
        return Err(
            StoreError::Conflict(format!("a user with e-mail {} already exists", new_user.email)).into(),
        );
    }
    let password_hash = password::hash(new_user.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let cart = ask_store(store, CreateCart {}).await?;
    let user = User {
        id: Id::new(),
        first_name: new_user.first_name,
        last_name: new_user.last_name,
        email: new_user.email,
        age: new_user.age,
        role,
        cart: cart.id,
    };
    let created = ask_store(
        store,
        CreateUser {
            user: StoredUser { user, password_hash },
        },
    )
    .await?;
    accounts.mark_existing();
    Ok(created)
}

/// At startup: learns whether accounts exist and creates the configured
/// admin if there is no user with that e-mail yet. If the store cannot be
/// reached, product writes stay protected and this retries in the
/// background (1 s, doubling to 30 s) until it succeeds.
pub async fn prepare_accounts(store: Addr<MongoStore>, accounts: Arc<Accounts>, settings: UserSettings) {
    if !needs_retry(
        try_prepare_accounts(&store, &accounts, &settings).await,
        &accounts,
    ) {
        return;
    }
    actix::spawn(async move {
        let mut delay = Duration::from_secs(1);
        loop {
            log::warn!("store unreachable: accounts not checked yet, retrying in {delay:?}");
            tokio::time::sleep(delay).await;
            if !needs_retry(
                try_prepare_accounts(&store, &accounts, &settings).await,
                &accounts,
            ) {
                return;
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    });
}

/// Whether an attempt failed because the store was unreachable.
fn needs_retry(attempt: Result<(), ApiError>, accounts: &Accounts) -> bool {
    match attempt {
        Ok(()) => false,
        Err(ApiError::Store(StoreError::Unavailable(_)) | ApiError::StoreStopped(_)) => {
            // Unknown: assume accounts exist, so writes stay protected.
            accounts.mark_existing();
            true
        }
        Err(error) => {
            log::error!("could not prepare accounts: {}", error.client_message());
            false
        }
    }
}

async fn try_prepare_accounts(
    store: &Addr<MongoStore>,
    accounts: &Accounts,
    settings: &UserSettings,
) -> Result<(), ApiError> {
    if ask_store(store, AnyUsers {}).await? {
        accounts.mark_existing();
    }
    if settings.admin_email.trim().is_empty() {
        if !accounts.exist() {
            log::warn!(
                "no accounts and no ADMIN_EMAIL: product writes are open to anyone until a user registers"
            );
        }
        return Ok(());
    }
    let email = Email::parse("ADMIN_EMAIL", &settings.admin_email)?;
    if ask_store(store, FindUserByEmail { email: email.clone() })
        .await?
        .is_some()
    {
        return Ok(());
    }
    let admin = NewUser {
        first_name: "Admin".to_owned(),
        last_name: "Admin".to_owned(),
        email,
        age: 0,
        password: Password::parse(&settings.admin_password)?,
    };
    register(store, accounts, admin, Role::Admin).await?;
    log::info!("created the admin account {}", settings.admin_email);
    Ok(())
}
