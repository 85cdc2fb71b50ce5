//! Password hashing with argon2 (PHC strings). Hashing is deliberately
//! slow, so both functions run on the blocking pool, off the event loop.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;

/// A valid hash of a password nobody has: verifying against it costs what
/// a real check costs, so an unknown e-mail answers as slowly as a wrong
/// password and timing does not reveal which accounts exist.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ldYvyDyT0RquGmqwrLQmjH4pZ0KkkgOvvOQwTt4Vxts";

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

pub async fn hash(password: Password) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
    .map_err(|e| HashError(e.to_string()))?
}

/// Whether `password` matches `stored` (or, with `None`, spends the same
/// time and answers false).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
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
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_never_does() {
        let hashed = hash(Password::parse("correct horse").unwrap()).await.unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(hashed.clone())).await);
        assert!(!verify("wrong horse!".into(), Some(hashed)).await);
        assert!(
            PasswordHash::new(DECOY_HASH).is_ok(),
            "the decoy is a well-formed hash"
        );
        assert!(!verify("anything".into(), None).await);
    }
}
