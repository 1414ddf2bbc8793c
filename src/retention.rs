//! The background task of `serve`: every so often, delete what is older
//! than the retention period (through the store's writer, in short steps)
//! and let the rate limiters forget idle clients and bins. It stops when
//! the server shuts down.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::model::Timestamp;

/// Time between two passes; the first runs at start.
const EVERY: Duration = Duration::from_secs(600);
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            state.limits.forget_idle();
            let days = state.config.retention_days;
            if days == 0 {
                continue;
            }
            let cutoff = Timestamp(Timestamp::now().0 - i64::from(days) * MICROS_PER_DAY);
            // A pass interrupted by shutdown resumes at the next start.
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                deleted = state.store.delete_before(cutoff) => match deleted {
                    Ok(deleted) if deleted.requests + deleted.bins > 0 => tracing::info!(
                        requests = deleted.requests,
                        bins = deleted.bins,
                        days,
                        "retention: deleted old requests and idle bins"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention pass failed"),
                },
            }
        }
    })
}
