//! The store: SQLite behind a narrow boundary. Model types go in and come
//! out; nothing here knows about HTTP. Writes go through the one writer
//! thread ([`writer`]); reads use a small pool of read-only connections and
//! never wait for the writer (WAL).

mod checkpoint;
mod codec;
mod pool;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rusqlite::{params, Connection, OptionalExtension, Row};
use rusqlite_migration::{Migrations, M};
use uuid::Uuid;

use crate::model::{Bin, CapturedRequest, Timestamp};
use checkpoint::Checkpointer;
use pool::ReadPool;
use writer::Writer;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("no such bin")]
    UnknownBin,
    #[error("stored row is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("the store is shut down")]
    Closed,
    #[error("this server already holds its maximum of {0} bins")]
    TooManyBins(u64),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e.to_string())
    }
}

/// How durable a commit is; see README "Durability".
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// `synchronous=NORMAL`: a committed request survives a crash of the
    /// process; the last commits may be lost on power loss.
    Normal,
    /// `synchronous=FULL`: the WAL is fsynced at every commit (once per
    /// batch), so committed requests also survive power loss.
    Full,
}

/// The database's migrations, in order, compiled into the binary.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(include_str!(
        "../../migrations/0001_initial.sql"
    ))])
}

/// One line of a bin's request list: everything but headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    pub id: Uuid,
    pub received_at: Timestamp,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub remote_addr: String,
    pub size: usize,
}

/// Which slice of a bin's requests to list, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u32,
}

/// Bins kept in memory so a capture does not read its bin from SQLite.
/// Past this many the cache starts over; it only ever saves reads.
const CACHED_BINS: usize = 10_000;

/// Handle to the database; cheap to clone (one `Arc`: the state is cloned
/// for every request).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    readers: ReadPool,
    bins: RwLock<HashMap<Uuid, Bin>>,
    checkpointer: Checkpointer,
    /// Most bins the database may hold; 0: no limit.
    max_bins: AtomicU64,
    /// Requests per bin, counted once and then kept up to date by every
    /// insert and delete, so a dashboard on a huge bin does not count it.
    counts: Mutex<HashMap<Uuid, u64>>,
}

impl Inner {
    fn counts(&self) -> MutexGuard<'_, HashMap<Uuid, u64>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub requests: u64,
    pub bins: u64,
}

/// Requests deleted per writer operation during retention, so captures
/// queued behind a deletion wait for a short statement only.
const DELETE_CHUNK: u32 = 2_000;

impl Store {
    /// Opens (creating if needed) the database at `path`, applies pending
    /// migrations and starts the writer thread.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        let sync = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {sync};
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA wal_autocheckpoint = 0;"
        ))?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let readers = ReadPool::new(path.to_owned());
        let checkpointer = Checkpointer::start(path)?;
        let writer = Writer::start(conn).map_err(|e| StoreError::Sqlite(e.to_string()))?;
        Ok(Self::from_inner(Inner {
            writer,
            readers,
            bins: RwLock::default(),
            checkpointer,
            max_bins: AtomicU64::new(0),
            counts: Mutex::default(),
        }))
    }

    fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Refuses to create bins beyond `max` (0: no limit) with
    /// [`StoreError::TooManyBins`].
    pub fn with_max_bins(self, max: u64) -> Self {
        let max_bins = (max > 0).then_some(max);
        self.inner.max_bins.store(max_bins.unwrap_or(0), Relaxed);
        self
    }

    fn remember_bin(&self, bin: &Bin) {
        let mut bins = self.inner.bins.write().unwrap_or_else(|p| p.into_inner());
        if bins.len() >= CACHED_BINS {
            bins.clear();
        }
        bins.insert(bin.id, bin.clone());
    }

    /// The kept request counts. Only code running on the writer thread
    /// changes an entry, so each stays equal to the committed count.
    fn counts(&self) -> MutexGuard<'_, HashMap<Uuid, u64>> {
        self.inner.counts()
    }

    fn forget_bins(&self, ids: &[Uuid]) {
        let mut bins = self.inner.bins.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            bins.remove(id);
        }
    }

    /// Commits everything queued and stops the writer. Later writes fail.
    pub async fn close(&self) {
        self.inner.writer.stop().await;
        self.inner.checkpointer.stop();
    }

    /// Answers when the database can be read and the writer commits.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.inner
            .readers
            .read(|conn| {
                Ok(conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?)
            })
            .await?;
        self.inner
            .writer
            .write(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// Closes the idle read connections; reads open new ones as needed
    /// (after the database file was replaced, say).
    pub fn drop_idle_readers(&self) {
        self.inner.readers.clear();
    }

    pub async fn create_bin(&self, bin: Bin) -> Result<(), StoreError> {
        let row = bin.clone();
        let max_bins = self.inner.max_bins.load(Relaxed);
        self.inner
            .writer
            .write(move |conn| {
                if let Some(max) = (max_bins > 0).then_some(max_bins) {
                    let bins = conn
                        .prepare_cached("SELECT count(*) FROM bins")?
                        .query_row([], count)?;
                    if bins >= max {
                        return Err(StoreError::TooManyBins(max));
                    }
                }
                conn.prepare_cached("INSERT INTO bins (id, created_at) VALUES (?1, ?2)")?
                    .execute(params![row.id, row.created_at.as_micros()])?;
                Ok(())
            })
            .await?;
        self.remember_bin(&bin);
        Ok(())
    }

    /// The bin `id`, if it exists; served from memory after the first read.
    pub async fn bin(&self, id: Uuid) -> Result<Option<Bin>, StoreError> {
        let cached = self
            .inner
            .bins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self.bin_from_db(id).await?;
        if let Some(bin) = &found {
            self.remember_bin(bin);
        }
        Ok(found)
    }

    async fn bin_from_db(&self, id: Uuid) -> Result<Option<Bin>, StoreError> {
        self.inner
            .readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT created_at FROM bins WHERE id = ?1")?
                    .query_row([id], |row| {
                        Ok(Bin {
                            id,
                            created_at: Timestamp(row.get(0)?),
                        })
                    })
                    .optional()?)
            })
            .await
    }

    /// Stores one captured request and resolves, once it is committed, to
    /// the request with its id. The writer assigns ids (UUID v7) as it
    /// inserts, so id order is commit order: a reader that has seen id N
    /// has seen every request before it.
    pub async fn insert_request(
        &self,
        mut req: CapturedRequest,
    ) -> Result<CapturedRequest, StoreError> {
        let inner = Arc::clone(&self.inner);
        let stored = self
            .inner
            .writer
            .write(move |conn| {
                req.id = Uuid::now_v7();
                let headers = codec::encode_headers(&req.headers);
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO requests (id, bin_id, received_at, method, path, query,
                                               version, remote_addr, headers, body, size)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )?
                    .execute(params![
                        req.id,
                        req.bin,
                        req.received_at.as_micros(),
                        req.method,
                        req.path,
                        req.query,
                        req.version,
                        req.remote_addr,
                        headers,
                        &req.body[..],
                        req.body.len() as i64,
                    ]);
                match inserted {
                    Ok(_) => {
                        if let Some(count) = inner.counts().get_mut(&req.bin) {
                            *count += 1;
                        }
                        Ok(req)
                    }
                    Err(e) if is_foreign_key_violation(&e) => Err(StoreError::UnknownBin),
                    Err(e) => Err(e.into()),
                }
            })
            .await;
        if matches!(stored, Err(StoreError::Sqlite(_) | StoreError::Closed)) {
            // The batch may have failed after the count moved: count anew.
            self.counts().clear();
        }
        stored
    }

    /// One request of a bin, with headers and body.
    pub async fn request(
        &self,
        bin: Uuid,
        id: Uuid,
    ) -> Result<Option<CapturedRequest>, StoreError> {
        self.inner
            .readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {FULL_COLUMNS} FROM requests WHERE bin_id = ?1 AND id = ?2"
                ))?
                .query_row(params![bin, id], full_request)
                .optional()?
                .transpose()
            })
            .await
    }

    /// Requests of a bin that arrived after `after` (all of them when
    /// `None`), oldest first, at most `limit`.
    pub async fn requests_after(
        &self,
        bin: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<CapturedRequest>, StoreError> {
        self.inner
            .readers
            .read(move |conn| {
                let after = after.unwrap_or(Uuid::nil());
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {FULL_COLUMNS} FROM requests WHERE bin_id = ?1 AND id > ?2
                     ORDER BY id LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![bin, after, limit], full_request)?;
                rows.map(|row| row?).collect()
            })
            .await
    }

    /// A page of a bin's request list, newest first.
    pub async fn list_requests(
        &self,
        bin: Uuid,
        page: Page,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, received_at, method, path, query, remote_addr, size
                     FROM requests WHERE bin_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                )?;
                let rows = stmt.query_map(params![bin, page.limit, page.offset as i64], |row| {
                    Ok(RequestSummary {
                        id: row.get(0)?,
                        received_at: Timestamp(row.get(1)?),
                        method: row.get(2)?,
                        path: row.get(3)?,
                        query: row.get(4)?,
                        remote_addr: row.get(5)?,
                        size: row.get::<_, i64>(6)? as usize,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Deletes requests received before `cutoff`, then bins created before
    /// it that have no request left (idle since). Runs as many short writer
    /// operations, so captures keep flowing meanwhile.
    pub async fn delete_before(&self, cutoff: Timestamp) -> Result<Deleted, StoreError> {
        let first_kept = first_v7_at(cutoff);
        let bins: Vec<Uuid> = self
            .inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached("SELECT id FROM bins")?;
                let ids = stmt.query_map([], |row| row.get(0))?;
                Ok(ids.collect::<Result<_, _>>()?)
            })
            .await?;
        let mut deleted = Deleted::default();
        for bin in bins {
            loop {
                let inner = Arc::clone(&self.inner);
                let n = self
                    .inner
                    .writer
                    .write(move |conn| {
                        let n = conn
                            .prepare_cached(
                                "DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests
                                 WHERE bin_id = ?1 AND id < ?2 LIMIT ?3)",
                            )?
                            .execute(params![bin, first_kept, DELETE_CHUNK])?;
                        if let Some(count) = inner.counts().get_mut(&bin) {
                            *count = count.saturating_sub(n as u64);
                        }
                        Ok(n)
                    })
                    .await?;
                deleted.requests += n as u64;
                if n < DELETE_CHUNK as usize {
                    break;
                }
            }
        }
        let gone: Vec<Uuid> = self
            .inner
            .writer
            .write(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "DELETE FROM bins WHERE created_at < ?1 AND NOT EXISTS
                     (SELECT 1 FROM requests WHERE bin_id = bins.id AND id >= ?2)
                     RETURNING id",
                )?;
                let ids =
                    stmt.query_map(params![cutoff.as_micros(), first_kept], |row| row.get(0))?;
                Ok(ids.collect::<Result<_, _>>()?)
            })
            .await?;
        self.forget_bins(&gone);
        let mut counts = self.counts();
        for id in &gone {
            counts.remove(id);
        }
        drop(counts);
        deleted.bins = gone.len() as u64;
        Ok(deleted)
    }

    pub async fn count_bins(&self) -> Result<u64, StoreError> {
        self.inner
            .readers
            .read(|conn| Ok(conn.query_row("SELECT count(*) FROM bins", [], count)?))
            .await
    }

    /// Requests stored in `bin`: counted once (on the writer thread, so no
    /// insert slips between the count and the first increment), then kept.
    pub async fn count_requests(&self, bin: Uuid) -> Result<u64, StoreError> {
        if let Some(&count) = self.counts().get(&bin) {
            return Ok(count);
        }
        let inner = Arc::clone(&self.inner);
        self.inner
            .writer
            .write(move |conn| {
                let count = conn
                    .prepare_cached("SELECT count(*) FROM requests WHERE bin_id = ?1")?
                    .query_row([bin], count)?;
                inner.counts().insert(bin, count);
                Ok(count)
            })
            .await
    }
}

const FULL_COLUMNS: &str =
    "id, bin_id, received_at, method, path, query, version, remote_addr, headers, body";

/// Maps a row of [`FULL_COLUMNS`]; the outer error is SQLite's, the inner
/// one a corrupt headers blob.
fn full_request(row: &Row<'_>) -> rusqlite::Result<Result<CapturedRequest, StoreError>> {
    let headers: Vec<u8> = row.get(8)?;
    let body: Vec<u8> = row.get(9)?;
    let Some(headers) = codec::decode_headers(&headers) else {
        return Ok(Err(StoreError::Corrupt("headers")));
    };
    Ok(Ok(CapturedRequest {
        id: row.get(0)?,
        bin: row.get(1)?,
        received_at: Timestamp(row.get(2)?),
        method: row.get(3)?,
        path: row.get(4)?,
        query: row.get(5)?,
        version: row.get(6)?,
        remote_addr: row.get(7)?,
        headers,
        body: body.into(),
    }))
}

/// The smallest UUID v7 of the millisecond `at`: every request id below it
/// was assigned before `at` (UUID v7 starts with big-endian Unix millis,
/// and SQLite compares blobs bytewise).
fn first_v7_at(at: Timestamp) -> Uuid {
    let millis = u64::try_from(at.as_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

fn count(row: &Row<'_>) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0))
}

fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_validate_and_apply_to_an_empty_database() {
        migrations().validate().expect("migrations are valid");
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        migrations().to_latest(&mut conn).expect("migrations apply");
    }
}
