//! The background housekeeping of `serve`: every so often, delete expired
//! bins, and what is older than the retention period (through the store's
//! writer, in short steps), and let the rate limiters forget idle clients
//! and bins. It stops when the server shuts down.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::model::Timestamp;
use crate::state::AppState;

/// Time between two retention passes; the first runs at start.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// How often expired bins are deleted. Lookups already treat an expired
/// bin as gone; this frees its rows.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(10);
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut retention = tokio::time::interval(RETENTION_EVERY);
        let mut expiry = tokio::time::interval(EXPIRY_SWEEP_EVERY);
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                _ = expiry.tick() => sweep_expired_bins(&state).await,
                _ = retention.tick() => {
                    state.limits.forget_idle();
                    // A pass interrupted by shutdown resumes at the next start.
                    tokio::select! {
                        () = state.shutdown.cancelled() => return,
                        () = delete_old(&state) => {}
                    }
                }
            }
        }
    })
}

async fn sweep_expired_bins(state: &AppState) {
    match state.store.delete_expired_bins(Timestamp::now()).await {
        Ok(deleted) if !deleted.is_empty() => {
            tracing::info!(count = deleted.len(), "deleted expired bins");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
    }
}

async fn delete_old(state: &AppState) {
    let days = state.config.retention_days;
    if days == 0 {
        return;
    }
    let cutoff = Timestamp(Timestamp::now().0 - i64::from(days) * MICROS_PER_DAY);
    match state.store.delete_before(cutoff).await {
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
