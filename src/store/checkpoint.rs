//! WAL checkpoints off the writer thread. With SQLite's automatic
//! checkpoints, the commit that crosses the threshold copies the whole WAL
//! back into the database before it can answer, and every capture queued
//! behind it waits (tens of milliseconds at p99 in bench/RESULTS.md). Here
//! the writer never checkpoints (`wal_autocheckpoint = 0`); this thread
//! does a PASSIVE checkpoint twice a second, which runs beside the writer
//! and readers without blocking them. Once a checkpoint has copied
//! everything, the writer starts the WAL over from its beginning, so the
//! file stays about as large as half a second of writes.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;

const EVERY: Duration = Duration::from_millis(500);

/// Handle to the checkpoint thread; stops it when told or when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Checkpointer {
    stop: Arc<Mutex<Option<mpsc::Sender<()>>>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        let (stop, stopped) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("hookscope-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| StoreError::Sqlite(format!("cannot start checkpoints: {e}")))?;
        Ok(Self {
            stop: Arc::new(Mutex::new(Some(stop))),
        })
    }

    /// Stops the thread after one last checkpoint.
    pub fn stop(&self) {
        let mut stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stop) = stop.take() {
            let _ = stop.send(());
        }
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        let last = !matches!(stopped.recv_timeout(EVERY), Err(RecvTimeoutError::Timeout));
        let mode = if last { "TRUNCATE" } else { "PASSIVE" };
        if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if last {
            return;
        }
    }
}
