//! Filling the search index off the capture path. Captures are stored
//! unindexed; the writer indexes them in short steps when captures pause,
//! and before any search runs. A request that cannot be indexed is skipped
//! (logged once with its id, counted): one odd row never stalls the index,
//! and never turns searches into errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode};
use uuid::Uuid;

use super::bin_token;
use crate::model::{CapturedRequest, Timestamp};
use crate::store::search::{IndexedText, INDEXED_BODY_BYTES};
use crate::store::sqlite::requests::full_request;
use crate::store::sqlite::SqliteStore;
use crate::store::StoreError;
/// Requests indexed per writer operation, so captures queued behind
/// indexing wait for a short step only (what a step costs is in
/// bench/RESULTS.md, "Query language").
const INDEX_CHUNK: i64 = 500;
/// How long captures must pause before the background indexer works.
const INDEX_WHEN_QUIET_FOR: Duration = Duration::from_millis(500);
/// While indexing keeps failing as a whole (a full disk, say), how often
/// the failure is logged again.
const WARN_AGAIN_AFTER: Duration = Duration::from_secs(60);

impl SqliteStore {
    /// Indexes stored requests that are not in the search index yet, in
    /// short writer steps, until none is left; a search calls this first,
    /// so it sees every request stored before it.
    pub async fn index_pending(&self) -> Result<u64, StoreError> {
        let mut indexed = 0;
        loop {
            let n = self.index_step().await?;
            indexed += n;
            if n < INDEX_CHUNK as u64 {
                return Ok(indexed);
            }
        }
    }

    /// Requests the indexer skipped since the start, because it could not
    /// read or index them.
    pub fn index_skipped(&self) -> u64 {
        self.index_skipped.load(Ordering::Relaxed)
    }

    /// One writer step: indexes up to [`INDEX_CHUNK`] requests.
    async fn index_step(&self) -> Result<u64, StoreError> {
        let skipped = std::sync::Arc::clone(&self.index_skipped);
        self.writer
            .write(move |conn| index_chunk(conn, INDEX_CHUNK, &skipped))
            .await
    }

    /// Fills the search index whenever captures pause, until `stop`.
    pub async fn run_indexer(&self, stop: &tokio_util::sync::CancellationToken) {
        // The last capture (by arrival time) known to be indexed: while no
        // capture came since, the indexer leaves the writer alone (an idle
        // writer lets the WAL file be truncated; see `checkpoint`).
        let mut caught_up_with = None;
        let mut warned_at: Option<Instant> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(INDEX_WHEN_QUIET_FOR) => {}
            }
            let quiet_since = self.last_insert.load(Ordering::Relaxed);
            let quiet_for = Timestamp::now().as_micros() - quiet_since;
            if quiet_for < INDEX_WHEN_QUIET_FOR.as_micros() as i64
                || caught_up_with == Some(quiet_since)
            {
                continue;
            }
            // One chunk per pause check, so a new burst of captures waits
            // for at most one short step.
            match self.index_step().await {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(indexed = n, "search index caught up a step");
                    }
                    if n < INDEX_CHUNK as u64 {
                        caught_up_with = Some(quiet_since);
                    }
                    warned_at = None;
                }
                Err(e) => {
                    if warned_at.is_none_or(|at| at.elapsed() >= WARN_AGAIN_AFTER) {
                        tracing::warn!(error = %e, "search indexing failed; retrying");
                        warned_at = Some(Instant::now());
                    }
                }
            }
        }
    }
}

/// Indexes up to `limit` requests above the index's high-water mark and
/// moves the mark past them; returns how many were read. A request that
/// cannot be indexed is skipped and counted in `skipped`; an error of the
/// database itself (busy, full, I/O) fails the whole step, which is retried.
fn index_chunk(conn: &Connection, limit: i64, skipped: &AtomicU64) -> Result<u64, StoreError> {
    let mark: i64 = conn
        .prepare_cached("SELECT indexed_up_to FROM search_index_state WHERE id = 1")?
        .query_row([], |row| row.get(0))?;
    // `substr` of a zero-length blob is NULL, not an empty blob.
    let mut stmt = conn.prepare_cached(
        "SELECT id, bin_id, received_at, method, path, query, version, remote_addr,
                headers, ifnull(substr(body, 1, ?3), X''),
                signature_provider, signature_valid, signature_reason, seq
         FROM requests WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![mark, limit, INDEXED_BODY_BYTES as i64])?;
    let mut last = mark;
    let mut read = 0;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(13)?;
        // Why this row cannot be indexed, if it cannot.
        let indexed = match full_request(row) {
            Ok(Ok(req)) => match index_request(conn, seq, &req) {
                Err(e) if is_database_failure(&e) => return Err(e.into()),
                other => other.map_err(|e| e.to_string()),
            },
            Ok(Err(corrupt)) => Err(corrupt.to_string()),
            Err(unreadable) => Err(unreadable.to_string()),
        };
        match indexed {
            Ok(()) => {}
            Err(e) => {
                let id: Option<Uuid> = row.get(0).ok();
                tracing::warn!(
                    request = ?id, seq, error = %e,
                    "search index: skipped a request it could not index"
                );
                skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        last = seq;
        read += 1;
    }
    if last > mark {
        conn.prepare_cached("UPDATE search_index_state SET indexed_up_to = ?1 WHERE id = 1")?
            .execute([last])?;
    }
    Ok(read)
}

/// Deletes the index rows of the requests that `seqs` (SQL yielding a
/// `seq` column, bound to `params`) selects, before the rows themselves go.
/// Only rows at or below the index's mark have one: deleting a missing row
/// from a contentless index still costs a tombstone. Every delete of
/// requests goes through here, so that rule is written once.
pub(in crate::store) fn unindex(
    conn: &Connection,
    seqs: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(&format!(
        "DELETE FROM requests_fts WHERE rowid IN
           (SELECT seq FROM ({seqs})
            WHERE seq <= (SELECT indexed_up_to FROM search_index_state))"
    ))?
    .execute(params)
}

/// Whether `e` is the database's own failure (busy, full, read-only, I/O)
/// rather than something about one row: the step is then retried whole.
fn is_database_failure(e: &rusqlite::Error) -> bool {
    let rusqlite::Error::SqliteFailure(failure, _) = e else {
        return false;
    };
    matches!(
        failure.code,
        ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::NotADatabase
            | ErrorCode::OperationInterrupted
            | ErrorCode::FileLockingProtocolFailed
    )
}

/// Adds one request to the search index (row `seq`): its bin token and
/// the text [`IndexedText`] takes from it.
fn index_request(conn: &Connection, seq: i64, req: &CapturedRequest) -> rusqlite::Result<()> {
    let text = IndexedText::of(req);
    conn.prepare_cached(
        "INSERT INTO requests_fts (rowid, bin, method, ip, path, query, headers, body, named)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        seq,
        bin_token(req.bin),
        text.method,
        text.ip,
        text.path,
        text.query,
        text.headers,
        text.body,
        text.named,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Header;
    use crate::store::{Page, RequestFilter, SearchQuery, Store, StoreConfig, Unobserved};

    fn capture(bin: Uuid, method: &str, body: &'static [u8]) -> CapturedRequest {
        CapturedRequest {
            id: Uuid::nil(),
            bin,
            received_at: Timestamp::now(),
            method: method.into(),
            path: format!("/{bin}/ping"),
            query: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".into(),
            headers: Vec::new(),
            body: bytes::Bytes::from_static(body),
            signature: None,
        }
    }

    async fn found(store: &Store, bin: Uuid, query: &str) -> usize {
        let filter = RequestFilter {
            query: SearchQuery::parse(query).expect("query parses"),
            ..RequestFilter::default()
        };
        let page = Page {
            offset: 0,
            limit: 50,
        };
        store
            .find_summaries(bin, filter, page)
            .await
            .expect("search answers")
            .len()
    }

    #[tokio::test]
    async fn requests_with_empty_bodies_are_indexed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            &StoreConfig::new(dir.path().join("s.db")),
            [0; 32],
            &Unobserved,
        )
        .expect("open");
        let bin = crate::model::Bin::new();
        store.create_bin(bin.clone()).await.expect("create");
        store
            .insert_request(capture(bin.id, "POST", b"{\"word\":\"invoice\"}"))
            .await
            .expect("insert");
        assert_eq!(found(&store, bin.id, "invoice").await, 1);
        for method in ["GET", "HEAD", "POST"] {
            store
                .insert_request(capture(bin.id, method, b""))
                .await
                .expect("insert");
        }
        assert_eq!(found(&store, bin.id, "invoice").await, 1);
        assert_eq!(found(&store, bin.id, "method:GET").await, 1);
        assert_eq!(found(&store, bin.id, "ping").await, 4);
        assert_eq!(store.index_skipped(), 0);
        store.close().await;
    }

    /// Migration 0008 drops the old index and rebuilds it from the stored
    /// requests, so requests captured before it are found by the new
    /// fields (a word inside a header value).
    #[tokio::test]
    async fn the_index_is_rebuilt_for_requests_stored_before_the_upgrade() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let store = Store::open(&StoreConfig::new(&path), [0; 32], &Unobserved).expect("open");
        let bin = crate::model::Bin::new();
        store.create_bin(bin.clone()).await.expect("create");
        let mut req = capture(bin.id, "POST", b"old invoice");
        req.headers = vec![Header::new("Content-Type", "application/json")];
        store.insert_request(req).await.expect("insert");
        assert_eq!(found(&store, bin.id, "invoice").await, 1);
        store.close().await;
        // Back to the schema before the search-fields migration (0008),
        // with an index in the old shape: the signature columns (0009) are
        // dropped so it applies again; 0010 (resends) applies again
        // harmlessly.
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "ALTER TABLE bins DROP COLUMN verifiers;
             ALTER TABLE requests DROP COLUMN signature_provider;
             ALTER TABLE requests DROP COLUMN signature_valid;
             ALTER TABLE requests DROP COLUMN signature_reason;
             DROP TABLE requests_fts;
             CREATE VIRTUAL TABLE requests_fts USING fts5 (
                 bin, method, ip, path, headers, body,
                 content = '', contentless_delete = 1);
             PRAGMA user_version = 7;",
        )
        .expect("downgrade");
        drop(conn);

        let store = Store::open(&StoreConfig::new(&path), [0; 32], &Unobserved).expect("upgrade");
        assert_eq!(found(&store, bin.id, "headers.content-type:json").await, 1);
        assert_eq!(found(&store, bin.id, "invoice method:POST").await, 1);
        store.close().await;
    }

    /// Index rows left behind would be found by the index alone (counts)
    /// though their requests are gone: every way of deleting requests
    /// deletes their index rows, and leaves those not indexed yet alone.
    #[tokio::test]
    async fn deleted_requests_leave_nothing_in_the_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let store = Store::open(&StoreConfig::new(&path), [0; 32], &Unobserved).expect("open");
        let bin = crate::model::Bin::new();
        store.create_bin(bin.clone()).await.expect("create");
        let mut ids = Vec::new();
        for body in [
            &b"one invoice"[..],
            b"two invoice",
            b"three invoice",
            b"four",
        ] {
            let req = store
                .insert_request(capture(bin.id, "POST", body))
                .await
                .expect("insert");
            ids.push(req.id);
        }
        store.index_pending().await.expect("index");
        // Stored after indexing: has no index row yet.
        store
            .insert_request(capture(bin.id, "POST", b"late invoice"))
            .await
            .expect("insert");
        let indexed = || -> i64 {
            Connection::open(&path)
                .expect("open")
                .query_row(
                    "SELECT count(*) FROM requests_fts WHERE requests_fts MATCH ?1",
                    [format!("bin : \"{}\"", bin_token(bin.id))],
                    |row| row.get(0),
                )
                .expect("count")
        };
        assert_eq!(indexed(), 4);
        assert!(store.delete_request(bin.id, ids[0]).await.expect("delete"));
        assert_eq!(indexed(), 3);
        let two = RequestFilter {
            query: SearchQuery::parse("two").expect("query parses"),
            ..RequestFilter::default()
        };
        assert_eq!(store.delete_matching(bin.id, two).await.expect("delete"), 1);
        // The search indexed the late request first.
        assert_eq!(indexed(), 3);
        assert_eq!(store.clear_requests(bin.id).await.expect("clear"), 3);
        assert_eq!(indexed(), 0);
        assert_eq!(found(&store, bin.id, "invoice").await, 0);
        store.close().await;
    }

    /// A row the indexer cannot read (here a method that is not UTF-8,
    /// written behind the store's back) is skipped and counted; the rows
    /// after it are indexed and searches keep answering.
    #[tokio::test]
    async fn a_request_that_cannot_be_indexed_is_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let store = Store::open(&StoreConfig::new(&path), [0; 32], &Unobserved).expect("open");
        let bin = crate::model::Bin::new();
        store.create_bin(bin.clone()).await.expect("create");
        store
            .insert_request(capture(bin.id, "POST", b"before"))
            .await
            .expect("insert");
        let bad = store
            .insert_request(capture(bin.id, "POST", b"odd"))
            .await
            .expect("insert");
        Connection::open(&path)
            .expect("open")
            .execute(
                "UPDATE requests SET method = CAST(X'FF' AS TEXT) WHERE id = ?1",
                [bad.id],
            )
            .expect("break the row");
        store
            .insert_request(capture(bin.id, "POST", b"after"))
            .await
            .expect("insert");
        assert_eq!(found(&store, bin.id, "before").await, 1);
        assert_eq!(found(&store, bin.id, "after").await, 1);
        assert_eq!(found(&store, bin.id, "odd").await, 0);
        assert_eq!(store.index_skipped(), 1);
        // Skipped once: later steps do not meet it again.
        store.index_pending().await.expect("index");
        assert_eq!(store.index_skipped(), 1);
        store.close().await;
    }
}
