//! The background housekeeping of `serve`: every so often, delete expired
//! bins, and what is older than the retention period (through the store's
//! writer, in short steps), and let the rate limiters forget idle clients
//! and bins. It stops when the server shuts down.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::limits::Limits;
use crate::model::Timestamp;
use crate::store::Store;

/// Time between two retention passes; the first runs at start.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// How often expired bins are deleted. Lookups already treat an expired
/// bin as gone; this frees its rows.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(10);
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// Starts housekeeping on `store` and `limits`: requests and idle bins
/// older than `retention_days` go (0: none), expired bins go, until
/// `shutdown` is cancelled.
pub fn spawn(
    store: Store,
    limits: Limits,
    retention_days: u32,
    shutdown: Arc<CancellationToken>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut retention = tokio::time::interval(RETENTION_EVERY);
        let mut expiry = tokio::time::interval(EXPIRY_SWEEP_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = expiry.tick() => sweep_expired_bins(&store).await,
                _ = retention.tick() => {
                    limits.forget_idle();
                    // A pass interrupted by shutdown resumes at the next start.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = delete_old(&store, retention_days) => {}
                    }
                }
            }
        }
    })
}

async fn sweep_expired_bins(store: &Store) {
    match store.delete_expired_bins(Timestamp::now()).await {
        Ok(deleted) if !deleted.is_empty() => {
            tracing::info!(count = deleted.len(), "deleted expired bins");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
    }
}

async fn delete_old(store: &Store, days: u32) {
    if days == 0 {
        return;
    }
    let cutoff = Timestamp(Timestamp::now().0 - i64::from(days) * MICROS_PER_DAY);
    match store.delete_before(cutoff).await {
        Ok(deleted) if deleted.requests + deleted.bins > 0 => tracing::info!(
            requests = deleted.requests,
            bins = deleted.bins,
            days,
            "retention: deleted old requests and idle bins"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "retention pass failed"),
    }
}
