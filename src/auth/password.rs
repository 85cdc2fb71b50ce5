//! Password hashing with argon2 (PHC strings). Hashing is deliberately
//! slow and takes ~19 MiB, so both functions run on the blocking pool, off
//! the event loop, and at most one per core runs at a time: the others wait
//! their turn (up to `QUEUE_WAIT`, then `Busy`), so a burst of sign-ups or
//! logins cannot take the server's memory with it.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;

/// A valid hash of a password nobody has: verifying against it costs what
/// a real check costs, so an unknown e-mail answers as slowly as a wrong
/// password and timing does not reveal which accounts exist.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ldYvyDyT0RquGmqwrLQmjH4pZ0KkkgOvvOQwTt4Vxts";

/// How long a request waits for its turn to hash before it is refused.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// One permit per core: argon2 is CPU-bound, more at once only adds memory.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Semaphore::new(cores)
});

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Every hashing slot stayed busy for `QUEUE_WAIT`.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
}

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn with_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
    let _slot = tokio::time::timeout(QUEUE_WAIT, HASHING.acquire())
        .await
        .map_err(|_| HashError::Busy)?
        .map_err(|e| HashError::Failed(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
}

pub async fn hash(password: Password) -> Result<String, HashError> {
    with_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Failed(e.to_string()))
    })
    .await?
}

/// Whether `password` matches `stored` (or, with `None`, spends the same
/// time and answers false).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, HashError> {
    with_slot(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DECOY_HASH.to_owned());
        let matches = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_never_does() {
        let hashed = hash(Password::parse("correct horse").unwrap()).await.unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(hashed.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse!".into(), Some(hashed)).await.unwrap());
        assert!(
            PasswordHash::new(DECOY_HASH).is_ok(),
            "the decoy is a well-formed hash"
        );
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
