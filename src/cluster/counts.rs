//! Counts in Redis for limits that must hold across instances (login
//! attempts, chat messages): one counter per thing counted and fixed time
//! window, `INCR` then `EXPIRE`, so the keys go away by themselves. When
//! Redis does not answer in time the caller counts on its own instance.

use std::time::Duration;

use futures_util::future::try_join_all;

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

/// Counts one use of each allowance in its current window, all at once
/// (each counter is its own key, on a cluster maybe its own shard): for
/// each, whether it is within its allowance.
pub async fn count_in_window(
    link: &ClusterLink,
    allowances: &[Allowance<'_>],
    wait: Duration,
) -> Result<Vec<bool>, CountError> {
    let connection = link.connection().ok_or(CountError::Unlinked)?;
    let now = chrono::Utc::now().timestamp().unsigned_abs();
    let counts = allowances.iter().map(|allowance| {
        let seconds = allowance.window.as_secs().max(1);
        let index = now / seconds;
        let key = format!(
            "{}:limit:{}:{}:{index}",
            link.prefix(),
            allowance.kind,
            allowance.key
        );
        let mut connection = connection.clone();
        async move {
            // The window's key lives through the window, then a little longer.
            let (count,): (u32,) = redis::pipe()
                .incr(&key, 1)
                .expire(&key, seconds as i64 + 1)
                .ignore()
                .query_async(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(count <= allowance.per_window)
        }
    });
    Ok(tokio::time::timeout(wait, try_join_all(counts))
        .await
        .map_err(|_| CountError::Slow(wait))??)
}
