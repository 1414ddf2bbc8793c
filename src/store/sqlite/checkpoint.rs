//! WAL checkpoints off the writer thread. With SQLite's automatic
//! checkpoints, the commit that crosses the threshold copies the whole WAL
//! back into the database before it can answer, and every capture queued
//! behind it waits (the p99 latency it costs is in bench/RESULTS.md). Here
//! the writer never checkpoints (`wal_autocheckpoint = 0`); this thread
//! does a PASSIVE checkpoint twice a second, which runs beside the writer
//! and readers without blocking them.
//!
//! Under steady load such a pass never copies everything: the writer has
//! appended more by the time it ends, and SQLite starts the WAL over from
//! its beginning only once every frame is copied. So after each pass the
//! writer, between two batches, copies the short tail written meanwhile
//! ([`Tail::after_commit`]); its next transaction then restarts the WAL,
//! which stays about as large as half a second of writes instead of growing
//! for as long as the load lasts (with every capture's pages).
//!
//! Between checkpoints the thread also flushes the WAL every 50 ms, so the
//! sync a checkpoint starts with is short (see `run`).
//!
//! A WAL that starts over keeps its size on disk. So once no commit came
//! for a whole period, the thread copies what is left and truncates the
//! file to nothing: after a burst, the disk holds the database alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

const EVERY: Duration = Duration::from_millis(500);
/// How often the WAL's new pages are flushed between checkpoints.
const FLUSH_WAL_EVERY: Duration = Duration::from_millis(50);
/// Passes in a row at most, each copying what the one before left.
const MAX_PASSES: usize = 6;
/// A tail this short (in 4 KiB pages) is left to the writer.
const SMALL_TAIL_FRAMES: i64 = 256;
/// How long the truncating checkpoint may wait for the writer or a reader;
/// it holds the write lock while it waits for readers, so keep it short
/// (it is tried again after the next quiet period).
const TRUNCATE_WAITS_AT_MOST: Duration = Duration::from_millis(20);
/// How long other checkpoints may wait for a lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle to the checkpoint thread; stops it when told or when the last
/// handle is dropped.
#[derive(Clone)]
pub(super) struct Checkpointer {
    stop: Arc<Mutex<Option<mpsc::Sender<Stopped>>>>,
}

/// Told once the thread has made its last checkpoint and closed the file.
type Stopped = oneshot::Sender<()>;

/// What the writer and the checkpoint thread tell each other.
#[derive(Clone, Default)]
pub(super) struct Tail(Arc<TailFlags>);

#[derive(Default)]
struct TailFlags {
    /// A pass has ended; the tail written since waits to be copied.
    due: AtomicBool,
    /// Batches the writer has committed: when it has not moved, there is
    /// nothing to flush or copy.
    commits: AtomicU64,
}

impl Tail {
    /// Called by the writer after each batch: notes the commit, and copies
    /// what the last pass left if it is due (between batches, nothing is
    /// appended meanwhile, so the copy is complete unless a reader still
    /// uses an older snapshot).
    pub(super) fn after_commit(&self, conn: &Connection) {
        self.0.commits.fetch_add(1, Ordering::Relaxed);
        if self.0.due.swap(false, Ordering::Relaxed) {
            checkpoint(conn, "PASSIVE");
        }
    }
}

impl Checkpointer {
    /// Starts the thread; `tail` is handed to the writer.
    pub(super) fn start(path: &Path, tail: Tail) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let db = std::fs::File::open(path)
            .map_err(|e| StoreError::Sqlite(format!("cannot open the database file: {e}")))?;
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let (stop, stopped) = mpsc::channel::<Stopped>();
        thread::Builder::new()
            .name("hookscope-checkpoint".into())
            .spawn(move || {
                let done = run(&conn, &db, &wal, &stopped, &tail);
                // Closed before saying so: a store opened on the same file
                // next (a restart) must not meet this connection's locks.
                drop((conn, db));
                if let Some(done) = done {
                    let _ = done.send(());
                }
            })
            .map_err(|e| StoreError::Sqlite(format!("cannot start checkpoints: {e}")))?;
        Ok(Self {
            stop: Arc::new(Mutex::new(Some(stop))),
        })
    }

    /// Stops the thread after one last checkpoint; resolves once it has
    /// closed the database.
    pub(super) async fn stop(&self) {
        let stop = self.stop.lock().take();
        let Some(stop) = stop else { return };
        let (done, stopped) = oneshot::channel();
        if stop.send(done).is_ok() {
            let _ = stopped.await;
        }
    }
}

fn run(
    conn: &Connection,
    db: &std::fs::File,
    wal_path: &Path,
    stopped: &mpsc::Receiver<Stopped>,
    tail: &Tail,
) -> Option<Stopped> {
    let mut wal = None;
    let mut next_checkpoint = Instant::now() + EVERY;
    let (mut flushed, mut checkpointed) = (0, 0);
    // What opening the database wrote is truncated after the first quiet
    // period too.
    let mut truncated = u64::MAX;
    loop {
        match stopped.recv_timeout(FLUSH_WAL_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            // Told to stop, or every handle dropped.
            last => {
                checkpoint(conn, "TRUNCATE");
                return last.ok();
            }
        }
        // A checkpoint first syncs the WAL. Syncing a large WAL at once
        // stalls the writer: its next frame shares a page with the last
        // one synced and waits for that write to land.
        // Flushed often, each sync is short.
        if wal.is_none() {
            wal = std::fs::File::open(wal_path).ok();
        }
        let commits = tail.0.commits.load(Ordering::Relaxed);
        if let Some(wal) = wal.as_ref().filter(|_| commits != flushed) {
            let _ = wal.sync_data();
            flushed = commits;
        }
        if Instant::now() < next_checkpoint {
            continue;
        }
        next_checkpoint = Instant::now() + EVERY;
        if commits == checkpointed {
            // No commit since the last checkpoint began.
            if commits != truncated && truncate(conn) {
                truncated = commits;
            }
            continue;
        }
        checkpointed = commits;
        // Each pass copies what was appended during the one before, then
        // flushes the database file (SQLite syncs it only in the pass that
        // copies the last frame: that would be the writer's, with every
        // earlier pass's pages still to write out). Passes shorten until
        // the tail left for the writer is small.
        let mut copied_up_to = 0;
        for _ in 0..MAX_PASSES {
            let Some((_, log)) = checkpoint(conn, "PASSIVE") else {
                break;
            };
            if let Err(e) = db.sync_data() {
                tracing::warn!(error = %e, "cannot sync the database file");
            }
            let appended = log - copied_up_to.min(log);
            copied_up_to = log;
            if appended <= SMALL_TAIL_FRAMES {
                break;
            }
        }
        tail.0.due.store(true, Ordering::Relaxed);
    }
}

/// Copies the whole WAL into the database and truncates the file; false
/// when the writer or a reader kept it from finishing.
fn truncate(conn: &Connection) -> bool {
    let _ = conn.busy_timeout(TRUNCATE_WAITS_AT_MOST);
    let finished = checkpoint(conn, "TRUNCATE").is_some_and(|(finished, _)| finished);
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    finished
}

/// Runs one checkpoint; returns whether it finished (no lock held it
/// back) and the WAL's length in frames when it began (all of which it
/// copied, unless a reader held some back).
fn checkpoint(conn: &Connection, mode: &str) -> Option<(bool, i64)> {
    match conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get::<_, i64>(0)? == 0, row.get(1)?))
    }) {
        Ok(outcome) => Some(outcome),
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            None
        }
    }
}
