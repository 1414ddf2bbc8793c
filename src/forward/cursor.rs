//! Where a forwarder resumes after a reconnect, so that nothing is skipped
//! and nothing is sent twice.
//!
//! The server gives ids (UUID v7) in commit order and backfills every stored
//! request after `?after=`. Live messages, though, may arrive slightly out
//! of id order (two captures publish concurrently), so "the last id seen" is
//! not a safe resume point: a lower id may still be on its way. The cursor
//! therefore resumes from a *floor* that trails the newest forwarded id by
//! [`REORDER_WINDOW`], and remembers every id forwarded above the floor to
//! skip them when the backfill repeats them.

use std::collections::BTreeSet;
use std::time::Duration;

use uuid::Uuid;

/// How far behind the newest forwarded request the resume point stays.
/// A request published later than this after a newer one committed could be
/// missed; publishing follows the commit by microseconds.
pub const REORDER_WINDOW: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// Everything at or below it is handled (or before the start).
    floor: Option<Uuid>,
    /// Ids handled above the floor.
    handled: BTreeSet<Uuid>,
    /// Requests received before this (µs since the epoch) are skipped.
    since_micros: Option<i64>,
}

impl Cursor {
    /// Starts after `floor` (everything from the start when `None` and no
    /// later [`Cursor::start_at`]); with `since_micros`, requests received
    /// before that time are skipped.
    pub fn new(floor: Option<Uuid>, since_micros: Option<i64>) -> Self {
        Self {
            floor,
            handled: BTreeSet::new(),
            since_micros,
        }
    }

    /// The `after=` to resume from.
    pub fn after(&self) -> Option<Uuid> {
        self.floor
    }

    /// Sets the starting floor if there is none yet (the first connection
    /// started at the server's time `unix_millis`).
    pub fn start_at(&mut self, unix_millis: u64) {
        if self.floor.is_none() {
            self.floor = Some(before_millis(unix_millis));
        }
    }

    /// Whether a request still has to be forwarded.
    pub fn wants(&self, id: Uuid, received_micros: i64) -> bool {
        self.floor.is_none_or(|floor| id > floor)
            && !self.handled.contains(&id)
            && self
                .since_micros
                .is_none_or(|since| received_micros >= since)
    }

    /// Records that `id` was forwarded (or its failure reported) and moves
    /// the floor up behind the newest handled id.
    pub fn handled(&mut self, id: Uuid) {
        self.handled.insert(id);
        let Some(newest) = self.handled.last().copied() else {
            return;
        };
        let window = u64::try_from(REORDER_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let candidate = before_millis(millis_of(newest).saturating_sub(window));
        if self.floor.is_none_or(|floor| candidate > floor) {
            self.floor = Some(candidate);
            self.handled = self.handled.split_off(&candidate);
        }
    }
}

/// The id just below every UUID v7 made at or after `unix_millis`.
pub fn before_millis(unix_millis: u64) -> Uuid {
    let first = uuid::Builder::from_unix_timestamp_millis(unix_millis, &[0; 10]).into_uuid();
    just_before(first)
}

/// The id right below `id`: `after=` it starts a backfill at `id`.
pub fn just_before(id: Uuid) -> Uuid {
    Uuid::from_u128(id.as_u128().saturating_sub(1))
}

/// The creation time of a UUID v7, in milliseconds since the epoch.
fn millis_of(id: Uuid) -> u64 {
    u64::try_from(id.as_u128() >> 80).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_at(ms: u64, n: u8) -> Uuid {
        uuid::Builder::from_unix_timestamp_millis(ms, &[n; 10]).into_uuid()
    }

    #[test]
    fn the_floor_trails_the_newest_id_so_late_lower_ids_are_not_skipped() {
        let start = 1_000_000_000;
        let mut cursor = Cursor::new(None, None);
        cursor.start_at(start);
        let (a, b) = (id_at(start + 10, 1), id_at(start + 20, 1));
        assert!(cursor.wants(b, 0));
        cursor.handled(b);
        // `a` committed first but arrives later: still wanted, and a resume
        // from the floor would backfill it.
        assert!(cursor.wants(a, 0));
        assert!(cursor.after().expect("floor") < a);
        assert!(!cursor.wants(b, 0), "b is not sent twice");
        cursor.handled(a);

        let window = REORDER_WINDOW.as_millis() as u64;
        let later = id_at(start + 10 * window, 1);
        cursor.handled(later);
        assert!(cursor.after().expect("floor") > b);
        assert!(!cursor.wants(a, 0) && !cursor.wants(later, 0));
        assert_eq!(cursor.handled.len(), 1, "ids below the floor are forgotten");
    }

    #[test]
    fn since_skips_older_requests_and_just_before_starts_at_the_id() {
        let cursor = Cursor::new(None, Some(5_000));
        assert!(!cursor.wants(id_at(1, 1), 4_999));
        assert!(cursor.wants(id_at(1, 1), 5_000));
        let id = id_at(7, 3);
        assert!(just_before(id) < id);
        assert!(before_millis(7) < id_at(7, 0));
        assert!(before_millis(8) > id);
    }
}
