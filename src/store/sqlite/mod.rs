//! The SQLite backend: one database file, one writer thread with group
//! commit (`writer.rs`), a small pool of read-only connections that never
//! wait for the writer (WAL), an FTS5 search index filled off the capture
//! path (`search/`), and an in-memory cache of bins (only this process
//! writes the file, so its own writes keep the cache right).
//!
//! SQLite's own extras stay outside the list of [`super::Store`]'s
//! operations: [`migrations`] (tests and tools build old databases with
//! it) and `drop_idle_readers` (after the file was replaced).

mod answers;
mod bins;
mod checkpoint;
mod counts;
mod pool;
mod requests;
mod resends;
mod search;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, Row};
use rusqlite_migration::{Migrations, M};

use super::{Durability, StoreConfig, StoreError, StoreObserver};
use bins::BinCache;
use checkpoint::Checkpointer;
use counts::PendingCounts;
use pool::ReadPool;
use writer::Writer;

/// The database's migrations, in order, compiled into the binary.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../../migrations/0001_initial.sql")),
        M::up(include_str!("../../../migrations/0002_bin_settings.sql")),
        M::up(include_str!("../../../migrations/0003_bin_password.sql")),
        M::up(include_str!(
            "../../../migrations/0004_deferred_search_index.sql"
        )),
        M::up(include_str!(
            "../../../migrations/0005_listen_responses.sql"
        )),
        M::up(include_str!("../../../migrations/0006_cookie_secret.sql")),
        M::up(include_str!("../../../migrations/0007_unique_aliases.sql")),
        M::up(include_str!("../../../migrations/0008_search_fields.sql")),
        M::up(include_str!("../../../migrations/0009_signatures.sql")),
        M::up(include_str!("../../../migrations/0010_resends.sql")),
    ])
}

/// Handle to the database; cheap to clone: one reference count, as the
/// state holding it is cloned for every request (cloning several counts
/// and the writer channel's sender showed up in a capture's profile).
#[derive(Clone)]
pub(super) struct SqliteStore(Arc<Parts>);

impl std::ops::Deref for SqliteStore {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What a [`SqliteStore`] is made of.
pub(super) struct Parts {
    writer: Writer,
    readers: ReadPool,
    /// Bins by id, so a capture reads no SQLite. Only this process's store
    /// writes bins, so its own writes keep the cache right; a backend shared
    /// by several instances must invalidate it when another one writes.
    bins: BinCache,
    /// Most bins the database may hold; 0: no limit.
    max_bins: u64,
    /// Checkpoints the WAL off the commit path.
    checkpointer: Arc<Checkpointer>,
    /// Captures of the writer's current batch, counted at its end.
    counts: PendingCounts,
    /// The next request's `seq`; only the writer takes from it.
    next_seq: Arc<AtomicI64>,
    /// When the last capture was stored (µs): the search index is filled
    /// in the pauses between captures.
    last_insert: Arc<AtomicI64>,
    /// Signs browsers' cookies; kept in the database across restarts.
    cookie_secret: [u8; 32],
    /// Requests the search indexer could not index and skipped.
    index_skipped: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database `config` names, applies
    /// pending migrations and starts the writer thread. `fresh_secret`
    /// becomes the cookie secret if the database has none yet (its first
    /// start); the caller makes it, from a source of randomness of its
    /// choosing. `observer` is told of every writer batch.
    pub(super) fn open(
        path: &Path,
        config: &StoreConfig,
        fresh_secret: [u8; 32],
        observer: &'static dyn StoreObserver,
    ) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        plan_once(&conn)?;
        let sync = match config.durability {
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
        let next_seq: i64 = conn.query_row(
            "SELECT max(ifnull((SELECT max(seq) FROM requests), 0),
                        (SELECT indexed_up_to FROM search_index_state)) + 1",
            [],
            |row| row.get(0),
        )?;
        let cookie_secret = keep_cookie_secret(&conn, fresh_secret)?;
        let bins = BinCache::with_aliases_of(&conn)?;
        let readers = ReadPool::new(path.to_owned());
        let tail = checkpoint::Tail::default();
        let checkpointer = Checkpointer::start(path, tail.clone())?;
        let counts = PendingCounts::default();
        let before_commit = {
            let (counts, cap) = (counts.clone(), config.request_cap);
            Box::new(move |conn: &Connection| counts.apply(conn, cap))
        };
        let writer = Writer::start(conn, tail, before_commit, observer)
            .map_err(|e| StoreError::Sqlite(e.to_string()))?;
        Ok(Self(Arc::new(Parts {
            writer,
            readers,
            bins,
            counts,
            max_bins: config.max_bins,
            checkpointer: Arc::new(checkpointer),
            next_seq: Arc::new(AtomicI64::new(next_seq)),
            last_insert: Arc::default(),
            cookie_secret,
            index_skipped: Arc::default(),
        })))
    }

    /// The secret that signs browsers' cookies: the one given to `open` on
    /// the database's first start, the same after every restart.
    pub(super) fn cookie_secret(&self) -> [u8; 32] {
        self.cookie_secret
    }

    /// Closes the idle read connections; reads open new ones as needed
    /// (after the database file was replaced, say).
    pub(super) fn drop_idle_readers(&self) {
        self.readers.clear();
    }

    /// Commits everything queued, stops the writer and the checkpoint
    /// thread, and closes their connections and the idle readers', so the
    /// file can be opened again at once (a restart in the same process).
    /// Later writes fail.
    pub(super) async fn close(&self) {
        self.writer.stop().await;
        self.checkpointer.stop().await;
        self.readers.clear();
    }

    /// Answers when the database can be read and the writer commits.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .read(|conn| {
                Ok(conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?)
            })
            .await?;
        self.writer
            .write(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

fn count(row: &Row<'_>) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0))
}

/// Reads the cookie secret, storing `fresh` as it on first start.
fn keep_cookie_secret(conn: &Connection, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO cookie_secret (id, value) VALUES (1, ?1)",
        [&fresh[..]],
    )?;
    let kept: Vec<u8> =
        conn.query_row("SELECT value FROM cookie_secret WHERE id = 1", [], |row| {
            row.get(0)
        })?;
    kept.try_into()
        .map_err(|_| StoreError::Sqlite("the stored cookie secret is not 32 bytes".into()))
}

/// Keeps every prepared statement's plan for its lifetime. By default
/// SQLite plans `LIMIT ?n` with the bound value and so re-prepares (parses
/// and plans again) the statement each time `?n` is bound: pruning a full
/// bin did that twice per batch.
fn plan_once(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CapturedRequest, Timestamp};
    use crate::store::{Store, Unobserved};
    use rusqlite::params;
    use uuid::Uuid;

    fn capture_for(bin: Uuid, body: &'static str) -> CapturedRequest {
        CapturedRequest {
            id: Uuid::nil(),
            bin,
            received_at: Timestamp::now(),
            method: "POST".into(),
            path: format!("/{bin}"),
            query: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".into(),
            headers: Vec::new(),
            body: bytes::Bytes::from_static(body.as_bytes()),
            signature: None,
        }
    }

    /// The search indexer reads before it writes. While another connection
    /// holds the write lock (the checkpoint thread's TRUNCATE does), its
    /// batch must wait for the lock, not fail at its first write.
    #[tokio::test]
    async fn a_batch_that_reads_first_waits_for_the_write_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let store = Store::open(&StoreConfig::new(&path), [0; 32], &Unobserved).expect("open");
        let bin = crate::model::Bin::new();
        store.create_bin(bin.clone()).await.expect("create");
        let to_index = capture_for(bin.id, "to index");
        store.insert_request(to_index).await.expect("insert");
        let other = Connection::open(&path).expect("open");
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        let indexing = store.index_pending();
        tokio::pin!(indexing);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(300), &mut indexing);
        assert!(waited.await.is_err(), "the batch failed instead of waiting");
        other.execute_batch("COMMIT").expect("release the lock");
        assert_eq!(indexing.await.expect("indexed once the lock is free"), 1);
    }

    #[tokio::test]
    async fn the_first_secret_given_is_kept_across_restarts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig::new(dir.path().join("s.db"));
        let first = Store::open(&config, [1; 32], &Unobserved).expect("open");
        assert_eq!(first.cookie_secret(), [1; 32]);
        first.close().await;
        let again = Store::open(&config, [2; 32], &Unobserved).expect("reopen");
        assert_eq!(again.cookie_secret(), [1; 32]);
        again.close().await;
    }

    #[tokio::test]
    async fn an_insert_into_a_deleted_bin_fails_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            &StoreConfig::new(dir.path().join("s.db")),
            [0; 32],
            &Unobserved,
        )
        .expect("open");
        let (kept, gone) = (crate::model::Bin::new(), crate::model::Bin::new());
        store.create_bin(kept.clone()).await.expect("create");
        store.create_bin(gone.clone()).await.expect("create");
        assert!(store.delete_bin(gone.id).await.expect("delete"));
        // Queued together, so they may share a batch.
        let (lost, stored) = tokio::join!(
            store.insert_request(capture_for(gone.id, "lost")),
            store.insert_request(capture_for(kept.id, "stored")),
        );
        assert!(matches!(lost, Err(StoreError::UnknownBin)), "{lost:?}");
        let stored = stored.expect("the other insert commits");
        assert!(store
            .request(kept.id, stored.id)
            .await
            .expect("read")
            .is_some());
        assert_eq!(store.count_requests(kept.id).await.expect("count"), 1);
        assert_eq!(store.count_requests(gone.id).await.expect("count"), 0);
        store.close().await;
    }

    #[test]
    fn a_statement_is_not_prepared_again_for_each_new_limit() {
        let conn = Connection::open_in_memory().expect("in-memory db");
        plan_once(&conn).expect("configure");
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            .expect("table");
        let mut newest = conn
            .prepare("SELECT x FROM t ORDER BY x DESC LIMIT ?1")
            .expect("prepare");
        for limit in 1..=3_i64 {
            let rows = newest
                .query_map([limit], |row| row.get::<_, i64>(0))
                .expect("query")
                .count();
            assert_eq!(rows as i64, limit);
        }
        assert_eq!(newest.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn migrations_validate_and_apply_to_an_empty_database() {
        migrations().validate().expect("migrations are valid");
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        migrations().to_latest(&mut conn).expect("migrations apply");
    }

    #[test]
    fn settings_migration_keeps_and_indexes_existing_requests() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        migrations()
            .to_version(&mut conn, 1)
            .expect("first migration");
        let bin = Uuid::new_v4();
        conn.execute("INSERT INTO bins (id, created_at) VALUES (?1, 1)", [bin])
            .expect("bin");
        for (n, body) in [&b"hello invoice"[..], b"\xff\x00binary"]
            .iter()
            .enumerate()
        {
            conn.execute(
                "INSERT INTO requests (id, bin_id, received_at, method, path, query, version,
                                       remote_addr, headers, body, size)
                 VALUES (?1, ?2, ?3, 'POST', '/x', NULL, 'HTTP/1.1', '1.2.3.4:5', X'', ?4, ?5)",
                params![Uuid::now_v7(), bin, n as i64, body, body.len() as i64],
            )
            .expect("request");
        }
        migrations().to_version(&mut conn, 6).expect("upgrade");
        let (count, status): (i64, i64) = conn
            .query_row("SELECT request_count, default_status FROM bins", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("bin row");
        assert_eq!((count, status), (2, 200));
        // The index as migration 0002 built it (0008 rebuilds it).
        let expr = format!(
            "bin : \"{}\" AND body : \"invoice\"",
            search::bin_token(bin)
        );
        let hits: i64 = conn
            .query_row(
                "SELECT count(*) FROM requests_fts WHERE requests_fts MATCH ?1",
                [expr],
                |r| r.get(0),
            )
            .expect("search");
        assert_eq!(hits, 1);
    }

    #[test]
    fn alias_migration_keeps_the_oldest_of_duplicate_aliases_and_makes_them_unique() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        migrations()
            .to_version(&mut conn, 6)
            .expect("migrations before unique aliases");
        let bins: Vec<(Uuid, i64, Option<&str>)> = vec![
            (Uuid::new_v4(), 30, Some("stripe")),
            (Uuid::new_v4(), 10, Some("Stripe")),
            (Uuid::new_v4(), 20, Some("STRIPE")),
            (Uuid::new_v4(), 40, Some("github")),
            (Uuid::new_v4(), 50, Some("My old name")),
            (Uuid::new_v4(), 60, None),
        ];
        for (id, created, alias) in &bins {
            conn.execute(
                "INSERT INTO bins (id, created_at, updated_at, alias) VALUES (?1, ?2, ?2, ?3)",
                params![id, created, alias],
            )
            .expect("bin");
        }
        migrations().to_latest(&mut conn).expect("upgrade");
        let alias_of = |id: Uuid| -> Option<String> {
            conn.query_row("SELECT alias FROM bins WHERE id = ?1", [id], |r| r.get(0))
                .expect("bin row")
        };
        let kept: Vec<Option<String>> = bins.iter().map(|(id, _, _)| alias_of(*id)).collect();
        assert_eq!(
            kept,
            [
                None,
                Some("Stripe".into()),
                None,
                Some("github".into()),
                Some("My old name".into()),
                None
            ]
        );
        let again = conn.execute(
            "UPDATE bins SET alias = 'GITHUB' WHERE id = ?1",
            [bins[0].0],
        );
        assert!(again.is_err(), "the unique index refuses a second alias");
        conn.execute(
            "UPDATE bins SET alias = 'gitlab' WHERE id = ?1",
            [bins[0].0],
        )
        .expect("a free alias");
    }
}
