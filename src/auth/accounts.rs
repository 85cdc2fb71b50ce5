//! Accounts: registration, whether any exist, and the configured admin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use secrecy::ExposeSecret;

use super::{password, AuthError};
use crate::configuration::UserSettings;
use crate::domain::{Email, Id, NewUser, Password, Role, StoredUser, User};
use crate::store::{
    ask_store, AnyAdmin, AnyUsers, CreateCart, CreateUser, FindUserByEmail, MongoStore, StoreError,
    UniqueField,
};

/// Whether any account exists. Until one does, the server is open (a fresh
/// install works without setup); from then on product writes need an
/// admin. Once true it stays true for the life of the process.
#[derive(Default)]
pub struct Accounts {
    exist: AtomicBool,
    /// Whether an admin account exists (else refusals say how to make one).
    admin: AtomicBool,
}

impl Accounts {
    pub fn exist(&self) -> bool {
        self.exist.load(Ordering::Acquire)
    }

    pub fn mark_existing(&self) {
        self.exist.store(true, Ordering::Release);
    }

    pub fn admin_exists(&self) -> bool {
        self.admin.load(Ordering::Acquire)
    }

    fn mark_admin(&self) {
        self.admin.store(true, Ordering::Release);
    }

    /// What another instance registered: accounts (and maybe an admin)
    /// exist now.
    pub fn learn(&self, exist: bool, admin: bool) {
        if exist {
            self.mark_existing();
        }
        if admin {
            self.mark_admin();
        }
    }

    /// Reads again from the store whether accounts and an admin exist
    /// (after events from other instances may have been missed).
    pub async fn recheck(self: Arc<Self>, store: Addr<MongoStore>) {
        if let (Ok(exist), Ok(admin)) = (
            ask_store(&store, AnyUsers {}).await,
            ask_store(&store, AnyAdmin {}).await,
        ) {
            self.learn(exist, admin);
        }
    }
}

/// Registers an account with its own cart.
pub async fn register(
    store: &Addr<MongoStore>,
    accounts: &Accounts,
    new_user: NewUser,
    role: Role,
) -> Result<User, AuthError> {
    // Refuse a taken e-mail before creating the cart (the unique index
    // still decides races).
    let email = new_user.email.clone();
    if ask_store(store, FindUserByEmail { email: email.clone() })
        .await?
        .is_some()
    {
        return Err(UniqueField::UserEmail(&email).conflict().into());
    }
    let password_hash = password::hash(new_user.password).await?;
    let id = Id::new();
    let cart = ask_store(store, CreateCart { owner: Some(id) }).await?;
    let user = User {
        id,
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
    if role == Role::Admin {
        accounts.mark_admin();
    }
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
fn needs_retry(attempt: Result<(), AuthError>, accounts: &Accounts) -> bool {
    match attempt {
        Ok(()) => false,
        Err(AuthError::Store(StoreError::Unavailable(_))) => {
            // Unknown: assume accounts exist, so writes stay protected.
            accounts.mark_existing();
            true
        }
        Err(AuthError::Store(error)) => {
            log::error!("could not prepare accounts: {}", error.client_message());
            false
        }
        Err(error) => {
            log::error!("could not prepare accounts: {error}");
            false
        }
    }
}

async fn try_prepare_accounts(
    store: &Addr<MongoStore>,
    accounts: &Accounts,
    settings: &UserSettings,
) -> Result<(), AuthError> {
    if ask_store(store, AnyUsers {}).await? {
        accounts.mark_existing();
    }
    if ask_store(store, AnyAdmin {}).await? {
        accounts.mark_admin();
    }
    if settings.admin_email.trim().is_empty() {
        if !accounts.exist() {
            log::warn!(
                "no accounts and no ADMIN_EMAIL: product writes are open to anyone until a user registers"
            );
        } else if !accounts.admin_exists() {
            log::warn!(
                "accounts exist but no admin: nobody can change products or list users; \
                 restart with ADMIN_EMAIL and ADMIN_PASSWORD set to create an admin"
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
        password: Password::parse(settings.admin_password.expose_secret())?,
    };
    register(store, accounts, admin, Role::Admin).await?;
    log::info!("created the admin account {}", settings.admin_email);
    Ok(())
}
