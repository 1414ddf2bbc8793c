//! A bin's requests: storing a capture, reading one or those after
//! another, filtered, searched and paged lists and counts, and deletes
//! (one, the matching, all, the oldest), index rows and counts kept in
//! step in the same transaction.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::search::{unindex, Plan};
use super::SqliteStore;
use crate::model::{CapturedRequest, Header, Timestamp};
use crate::signature::Verdict;
use crate::store::{codec, Count, Page, RequestFilter, RequestSummary, StoreError};

const SUMMARY_COLUMNS: &str = "id, received_at, method, path, query, remote_addr, size, headers,
     signature_provider, signature_valid, signature_reason";

/// `FROM … WHERE …` of a filter, with its parameters. With search terms the
/// full-text index drives (its rowid order is arrival order); without, the
/// (bin_id, id) index does.
struct Selection {
    from_where: String,
    order_by: &'static str,
    params: Vec<Value>,
    plan: Plan,
}

impl Selection {
    fn new(bin: Uuid, filter: &RequestFilter) -> Self {
        let mut params = vec![Value::Blob(bin.as_bytes().to_vec())];
        let plan = filter.query.plan(bin, &mut params);
        let mut from_where = match &plan {
            Plan::Index { param, filter } => {
                let mut sql = format!(
                    "FROM requests_fts f JOIN requests r ON r.seq = f.rowid
                     WHERE r.bin_id = ?1 AND requests_fts MATCH ?{param}"
                );
                if let Some(filter) = filter {
                    sql.push_str(&format!(" AND {filter}"));
                }
                sql
            }
            Plan::Rows { filter } => {
                format!("FROM requests r WHERE r.bin_id = ?1 AND {filter}")
            }
            Plan::Everything => String::from("FROM requests r WHERE r.bin_id = ?1"),
        };
        if let Some(from) = filter.from {
            params.push(Value::Integer(from.as_micros()));
            from_where.push_str(&format!(" AND r.received_at >= ?{}", params.len()));
        }
        if let Some(to) = filter.to {
            params.push(Value::Integer(to.as_micros()));
            from_where.push_str(&format!(" AND r.received_at <= ?{}", params.len()));
        }
        if let Some(after) = filter.after {
            // Ids are handed out in commit order (see `insert_request`).
            params.push(Value::Blob(after.as_bytes().to_vec()));
            from_where.push_str(&format!(" AND r.id > ?{}", params.len()));
        }
        let by_index = matches!(plan, Plan::Index { .. });
        let order_by = match (by_index, filter.oldest_first) {
            (false, true) => "ORDER BY r.id ASC",
            (false, false) => "ORDER BY r.id DESC",
            (true, true) => "ORDER BY f.rowid ASC",
            (true, false) => "ORDER BY f.rowid DESC",
        };
        Self {
            from_where,
            order_by,
            params,
            plan,
        }
    }

    fn page_sql(&self, columns: &str, page: Page) -> (String, Vec<Value>) {
        let columns = qualified(columns);
        let mut params = self.params.clone();
        params.push(Value::Integer(i64::from(page.limit)));
        params.push(Value::Integer(
            i64::try_from(page.offset).unwrap_or(i64::MAX),
        ));
        let n = params.len();
        (
            format!(
                "SELECT {columns} {} {} LIMIT ?{} OFFSET ?{n}",
                self.from_where,
                self.order_by,
                n - 1
            ),
            params,
        )
    }
}

/// `a, b` → `r.a, r.b`: the join with the index has same-named columns.
fn qualified(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("r.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqliteStore {
    /// Stores one captured request and resolves, once it is committed, to
    /// the request with its id. The writer assigns ids (UUID v7) as it
    /// inserts, so id order is commit order: a reader that has seen id N
    /// has seen every request before it.
    pub async fn insert_request(
        &self,
        mut req: CapturedRequest,
    ) -> Result<CapturedRequest, StoreError> {
        let next_seq = Arc::clone(&self.next_seq);
        let counts = self.counts.clone();
        // Arrival time is close enough to "now" for the indexer's pause
        // check, and spares a clock read per capture.
        self.last_insert
            .store(req.received_at.as_micros(), Ordering::Relaxed);
        self.writer
            .write(move |conn| {
                req.id = Uuid::now_v7();
                let headers = codec::encode_headers(&req.headers);
                let (provider, valid, reason) = codec::verdict_columns(req.signature.as_ref());
                // Not indexed here: see `index_pending`.
                let seq = next_seq.fetch_add(1, Ordering::Relaxed);
                conn.prepare_cached(
                    "INSERT INTO requests (id, bin_id, received_at, method, path, query,
                                           version, remote_addr, headers, body, size, seq,
                                           signature_provider, signature_valid,
                                           signature_reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
                    seq,
                    provider,
                    valid,
                    reason,
                ])
                .map_err(|e| match e {
                    // The bin's row is gone (deleted since the capture found it).
                    rusqlite::Error::SqliteFailure(failure, _)
                        if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                    {
                        StoreError::UnknownBin
                    }
                    e => StoreError::from(e),
                })?;
                // Counted (and the bin pruned) at the end of the batch.
                counts.add(req.bin);
                Ok(req)
            })
            .await
    }

    /// One request of a bin, with headers and body.
    pub async fn request(
        &self,
        bin: Uuid,
        id: Uuid,
    ) -> Result<Option<CapturedRequest>, StoreError> {
        self.readers
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
        self.readers
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

    pub async fn count_requests(&self, bin: Uuid) -> Result<u64, StoreError> {
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT request_count FROM bins WHERE id = ?1")?
                    .query_row([bin], super::count)
                    .optional()?
                    .unwrap_or(0))
            })
            .await
    }

    /// Before a search: index whatever is not indexed yet, so the search
    /// sees every request stored before it. Should indexing fail, the
    /// search still answers, from what is indexed: a background step's
    /// failure never fails a read.
    async fn index_for(&self, filter: &RequestFilter) {
        if filter.query.is_empty() {
            return;
        }
        if let Err(e) = self.index_pending().await {
            tracing::warn!(error = %e, "search index not caught up; searching what is indexed");
        }
    }

    /// A page of a bin's requests matching `filter`, with headers and body.
    pub async fn find_requests(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        page: Page,
    ) -> Result<Vec<CapturedRequest>, StoreError> {
        self.index_for(&filter).await;
        self.readers
            .read(move |conn| {
                let (sql, params) = Selection::new(bin, &filter).page_sql(FULL_COLUMNS, page);
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(params), full_request)?;
                rows.map(|row| row?).collect()
            })
            .await
    }

    /// A page of a bin's request list (no headers or bodies) matching
    /// `filter`.
    pub async fn find_summaries(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        page: Page,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        self.index_for(&filter).await;
        self.readers
            .read(move |conn| {
                let (sql, params) = Selection::new(bin, &filter).page_sql(SUMMARY_COLUMNS, page);
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(params), |row| {
                    Ok(RequestSummary {
                        id: row.get(0)?,
                        received_at: Timestamp(row.get(1)?),
                        method: row.get(2)?,
                        path: row.get(3)?,
                        query: row.get(4)?,
                        remote_addr: row.get(5)?,
                        size: usize::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                        content_type: content_type(&row.get::<_, Vec<u8>>(7)?),
                        signature: verdict(row, 8)?,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// How many of a bin's requests match a search (`filter` filters
    /// something: [`Store::count_matching`](crate::store::Store::count_matching)
    /// answers the unfiltered count), counting no further than `limit`: a
    /// term that matches a million requests would otherwise cost a walk of a
    /// million index entries on every page.
    pub async fn count_matching(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        limit: u64,
    ) -> Result<Count, StoreError> {
        self.index_for(&filter).await;
        self.readers
            .read(move |conn| {
                let selection = Selection::new(bin, &filter);
                let (inner, mut params) = match selection.plan {
                    // The index alone answers; no join with the rows.
                    Plan::Index {
                        param,
                        filter: None,
                    } if filter.from.is_none() && filter.to.is_none() && filter.after.is_none() => {
                        (
                            String::from("SELECT 1 FROM requests_fts WHERE requests_fts MATCH ?1"),
                            vec![selection.params[param - 1].clone()],
                        )
                    }
                    _ => (
                        format!("SELECT 1 {}", selection.from_where),
                        selection.params,
                    ),
                };
                let sql = format!("SELECT count(*) FROM ({inner} LIMIT ?{})", params.len() + 1);
                params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
                let n: i64 = conn
                    .prepare_cached(&sql)?
                    .query_row(params_from_iter(params), |row| row.get(0))?;
                let n = u64::try_from(n).unwrap_or(0);
                Ok(Count {
                    n,
                    exact: n < limit,
                })
            })
            .await
    }

    /// Deletes one request of a bin; `false` when there was none.
    pub async fn delete_request(&self, bin: Uuid, id: Uuid) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| {
                unindex(
                    conn,
                    "SELECT seq FROM requests WHERE bin_id = ?1 AND id = ?2",
                    params![bin, id],
                )?;
                let deleted = conn
                    .prepare_cached("DELETE FROM requests WHERE bin_id = ?1 AND id = ?2")?
                    .execute(params![bin, id])?;
                recount(conn, bin, deleted)?;
                Ok(deleted > 0)
            })
            .await
    }

    /// Replaces the signature verdicts of some of a bin's requests (a
    /// "verify again"), in one short write; a request deleted since is
    /// skipped.
    pub async fn set_signatures(
        &self,
        bin: Uuid,
        verdicts: Vec<(Uuid, Option<Verdict>)>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "UPDATE requests SET signature_provider = ?3, signature_valid = ?4,
                         signature_reason = ?5
                     WHERE bin_id = ?1 AND id = ?2",
                )?;
                for (id, verdict) in &verdicts {
                    let (provider, valid, reason) = codec::verdict_columns(verdict.as_ref());
                    stmt.execute(params![bin, id, provider, valid, reason])?;
                }
                Ok(())
            })
            .await
    }

    /// Deletes the requests of a bin that match `filter` (all of them when
    /// it filters nothing); resolves to how many were deleted.
    pub async fn delete_matching(
        &self,
        bin: Uuid,
        filter: RequestFilter,
    ) -> Result<u64, StoreError> {
        if filter.is_everything() {
            return self.clear_requests(bin).await;
        }
        self.index_for(&filter).await;
        self.writer
            .write(move |conn| {
                let selection = Selection::new(bin, &filter);
                let doomed: Vec<(Uuid, i64)> = conn
                    .prepare(&format!("SELECT r.id, r.seq {}", selection.from_where))?
                    .query_map(params_from_iter(selection.params), |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut rows =
                    conn.prepare_cached("DELETE FROM requests WHERE bin_id = ?1 AND id = ?2")?;
                let mut deleted = 0;
                for (id, seq) in doomed {
                    unindex(conn, "SELECT ?1 AS seq", [seq])?;
                    deleted += rows.execute(params![bin, id])?;
                }
                recount(conn, bin, deleted)?;
                Ok(deleted as u64)
            })
            .await
    }

    /// Deletes every request of a bin, keeping the bin; resolves to how
    /// many there were.
    pub async fn clear_requests(&self, bin: Uuid) -> Result<u64, StoreError> {
        self.writer
            .write(move |conn| {
                unindex(conn, "SELECT seq FROM requests WHERE bin_id = ?1", [bin])?;
                let deleted = conn
                    .prepare_cached("DELETE FROM requests WHERE bin_id = ?1")?
                    .execute([bin])?;
                recount(conn, bin, deleted)?;
                Ok(deleted as u64)
            })
            .await
    }
}

/// Deletes up to `n` of the oldest requests of `bin` (only those with an id
/// below `before`, when given), with their index rows, keeping the bin's
/// count in step; returns how many went. O(log n + n) through the
/// (bin_id, id) index.
pub(super) fn delete_oldest(
    conn: &Connection,
    bin: Uuid,
    before: Option<Uuid>,
    n: i64,
) -> Result<u64, StoreError> {
    let before = before.unwrap_or(Uuid::max());
    unindex(
        conn,
        "SELECT seq FROM requests WHERE bin_id = ?1 AND id < ?2 ORDER BY id LIMIT ?3",
        params![bin, before, n],
    )?;
    let deleted = conn
        .prepare_cached(
            "DELETE FROM requests WHERE bin_id = ?1 AND id IN
               (SELECT id FROM requests WHERE bin_id = ?1 AND id < ?2 ORDER BY id LIMIT ?3)",
        )?
        .execute(params![bin, before, n])?;
    conn.prepare_cached("UPDATE bins SET request_count = request_count - ?2 WHERE id = ?1")?
        .execute(params![bin, deleted as i64])?;
    Ok(deleted as u64)
}

pub(super) const FULL_COLUMNS: &str =
    "id, bin_id, received_at, method, path, query, version, remote_addr, headers, body,
     signature_provider, signature_valid, signature_reason";

/// Maps a row of [`FULL_COLUMNS`]; the outer error is SQLite's, the inner
/// one a corrupt headers blob.
pub(super) fn full_request(row: &Row<'_>) -> rusqlite::Result<Result<CapturedRequest, StoreError>> {
    let headers: Vec<u8> = row.get(8)?;
    let body: Vec<u8> = row.get(9)?;
    let Some(headers) = codec::decode_headers(&headers) else {
        return Ok(Err(StoreError::Corrupt("headers")));
    };
    let signature = verdict(row, 10)?;
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
        signature,
    }))
}

/// The verdict in the three columns from `first`.
fn verdict(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<Verdict>> {
    Ok(codec::decode_verdict(
        row.get(first)?,
        row.get(first + 1)?,
        row.get(first + 2)?,
    ))
}

fn recount(conn: &Connection, bin: Uuid, deleted: usize) -> Result<(), StoreError> {
    if deleted > 0 {
        conn.prepare_cached("UPDATE bins SET request_count = request_count - ?2 WHERE id = ?1")?
            .execute(params![bin, deleted as i64])?;
    }
    Ok(())
}

/// The first `Content-Type` in an encoded headers blob (none when the blob
/// is corrupt: a list line does without its badge).
fn content_type(headers: &[u8]) -> Option<String> {
    codec::decode_headers(headers)?
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(Header::value_lossy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::QUERY_PIECES;
    use crate::store::SearchQuery;

    proptest::proptest! {
        /// Every query that parses becomes SQL that SQLite runs: a
        /// well-formed query is never a storage error.
        #[test]
        fn every_parsed_query_runs(parts in proptest::collection::vec(
            proptest::sample::select(QUERY_PIECES), 0..12,
        )) {
            let text = parts.concat();
            let Ok(query) = SearchQuery::parse(&text) else {
                return Ok(());
            };
            let mut conn = Connection::open_in_memory().expect("in-memory db");
            super::super::migrations().to_latest(&mut conn).expect("migrations");
            let filter = RequestFilter { query, ..RequestFilter::default() };
            let selection = Selection::new(Uuid::nil(), &filter);
            let (sql, params) = selection.page_sql(SUMMARY_COLUMNS, Page { offset: 0, limit: 50 });
            let rows = conn
                .prepare(&sql)
                .and_then(|mut stmt| stmt.query_map(params_from_iter(params), |_| Ok(())).map(|rows| rows.count()));
            proptest::prop_assert!(rows.is_ok(), "{text}: {sql}: {rows:?}");
        }
    }
}
