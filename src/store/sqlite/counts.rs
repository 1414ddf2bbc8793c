//! Per-bin request counts, kept in `bins.request_count` so the dashboard
//! never counts rows. A capture does not update its bin's row itself: it
//! notes itself here, and at the end of each writer batch, inside the same
//! transaction, every bin gets one update for all its new requests and is
//! pruned to what it keeps. One statement per bin per batch instead of one
//! per capture: that `UPDATE … RETURNING` was a large share of a
//! capture's writer time (bench/RESULTS.md).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::store::StoreError;

/// Requests inserted during the writer's current batch, by bin.
#[derive(Clone, Default)]
pub(super) struct PendingCounts(Arc<Mutex<HashMap<Uuid, i64>>>);

impl PendingCounts {
    /// Notes one more request in `bin` (called by an insert, on the writer
    /// thread, once its row is written).
    pub(super) fn add(&self, bin: Uuid) {
        *self.0.lock().entry(bin).or_default() += 1;
    }

    /// Applies the batch's counts and prunes each bin to what it keeps:
    /// its own `request_limit`, at most `cap`. Runs before the commit.
    pub(super) fn apply(&self, conn: &Connection, cap: u32) -> Result<(), StoreError> {
        let counts = std::mem::take(&mut *self.0.lock());
        let cap = i64::from(cap);
        for (bin, added) in counts {
            let counted = conn
                .prepare_cached(
                    "UPDATE bins SET request_count = request_count + ?2 WHERE id = ?1
                     RETURNING request_count, request_limit",
                )?
                .query_row(params![bin, added], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
                })
                .optional()?;
            // A bin deleted later in the same batch took its rows with it.
            let Some((count, limit)) = counted else {
                continue;
            };
            let keep = limit.map_or(cap, |limit| limit.min(cap));
            if count > keep {
                super::requests::delete_oldest(conn, bin, None, count - keep)?;
            }
        }
        Ok(())
    }
}
