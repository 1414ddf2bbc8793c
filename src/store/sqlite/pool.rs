//! A small pool of read-only connections. Reads run on the blocking thread
//! pool and, with WAL, never wait for the writer.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// Idle connections kept for reuse; more are opened under load and closed
/// when returned to a full pool.
const MAX_IDLE: usize = 8;

#[derive(Clone)]
pub(super) struct ReadPool {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Idle>>,
}

/// The idle connections, and the generation they belong to: [`ReadPool::clear`]
/// starts a new one, so a connection in use at that moment is closed when
/// it comes back instead of joining the pool.
#[derive(Default)]
struct Idle {
    generation: u64,
    connections: Vec<Connection>,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path: Arc::new(path),
            idle: Arc::default(),
        }
    }

    pub(super) async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let (generation, conn) = pool.take()?;
            let result = query(&conn);
            pool.give_back(generation, conn);
            result
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("read task failed: {e}")))?
    }

    /// An idle connection or a new one, with the generation it belongs to.
    fn take(&self) -> Result<(u64, Connection), StoreError> {
        let generation = {
            let mut idle = self.idle.lock();
            if let Some(conn) = idle.connections.pop() {
                return Ok((idle.generation, conn));
            }
            idle.generation
        };
        let conn = Connection::open_with_flags(
            self.path.as_path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        super::plan_once(&conn)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
        Ok((generation, conn))
    }

    /// Closes the idle connections, and those in use as they come back.
    pub(super) fn clear(&self) {
        let mut idle = self.idle.lock();
        idle.generation += 1;
        idle.connections.clear();
    }

    fn give_back(&self, generation: u64, conn: Connection) {
        let mut idle = self.idle.lock();
        if generation == idle.generation && idle.connections.len() < MAX_IDLE {
            idle.connections.push(conn);
        }
    }
}
