//! Counts in Redis for limits that must hold across instances (login
//! attempts, chat messages): one counter per thing counted and fixed time
//! window, `INCR` then `EXPIRE`, so the keys go away by themselves. When
//! Redis does not answer in time the caller counts on its own instance.

use std::time::Duration;

use super::ClusterLink;

/// One thing counted: what, the key, the allowance per window (whole
/// seconds).
pub struct Allowance<'a> {
    pub kind: &'static str,
    pub key: &'a str,
    pub per_window: u32,
    pub window: Duration,
}

/// Why Redis gave no count.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("not linked to Redis")]
    Unlinked,
    #[error("Redis did not answer within {0:?}")]
    Slow(Duration),
    #[error("Redis failed: {0}")]
    Failed(#[from] redis::RedisError),
}

/// Counts one use of each allowance in its current window, in one round
/// trip: for each, whether it is within its allowance.
pub async fn count_in_window(
    link: &ClusterLink,
    allowances: &[Allowance<'_>],
    wait: Duration,
) -> Result<Vec<bool>, CountError> {
    let mut connection = link.connection().ok_or(CountError::Unlinked)?;
    let now = chrono::Utc::now().timestamp().unsigned_abs();
    let mut pipeline = redis::pipe();
    for allowance in allowances {
        let seconds = allowance.window.as_secs().max(1);
        let index = now / seconds;
        let key = format!(
            "{}:limit:{}:{}:{index}",
            link.prefix(),
            allowance.kind,
            allowance.key
        );
        // The window's key lives through the window, then a little longer.
        pipeline.incr(&key, 1).expire(&key, seconds as i64 + 1).ignore();
    }
    let counts = tokio::time::timeout(wait, pipeline.query_async::<Vec<u32>>(&mut connection))
        .await
        .map_err(|_| CountError::Slow(wait))??;
    Ok(counts
        .iter()
        .zip(allowances)
        .map(|(count, allowance)| *count <= allowance.per_window)
        .collect())
}
