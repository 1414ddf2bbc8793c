//! A bin's requests on PostgreSQL: reads in commit order (`seq`), filtered
//! and searched lists and counts, deletes (counts kept in step under the
//! bin's row lock), and listen-mode answers.

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::search::{self, Param};
use super::{column, pg_error, PgStore};
use crate::model::{CapturedRequest, Header, SentResponse, Timestamp};
use crate::signature::Verdict;
use crate::store::{codec, Count, Page, RequestFilter, RequestSummary, StoreError};

const FULL_COLUMNS: &str =
    "r.id, r.bin_id, r.received_at, r.method, r.path, r.query, r.version, r.remote_addr,
     r.headers, r.body, r.signature_provider, r.signature_valid, r.signature_reason";
const SUMMARY_COLUMNS: &str =
    "r.id, r.received_at, r.method, r.path, r.query, r.remote_addr, r.size, r.headers,
     r.signature_provider, r.signature_valid, r.signature_reason";

/// `FROM … WHERE …` of a filter, with its parameters (`$1` is the bin).
struct Selection {
    from_where: String,
    params: Vec<Param>,
    order_by: &'static str,
}

impl Selection {
    fn new(bin: Uuid, filter: &RequestFilter) -> Self {
        let mut params: Vec<Param> = vec![Box::new(bin)];
        let condition = search::condition(&filter.query, bin, &mut params);
        let mut from_where = format!("FROM requests r WHERE r.bin_id = $1 AND {condition}");
        if let Some(from) = filter.from {
            params.push(Box::new(from.0));
            from_where.push_str(&format!(" AND r.received_at >= ${}", params.len()));
        }
        if let Some(to) = filter.to {
            params.push(Box::new(to.0));
            from_where.push_str(&format!(" AND r.received_at <= ${}", params.len()));
        }
        if let Some(after) = filter.after {
            params.push(Box::new(after));
            from_where.push_str(&after_cursor(params.len()));
        }
        let order_by = if filter.oldest_first {
            "ORDER BY r.seq ASC"
        } else {
            "ORDER BY r.seq DESC"
        };
        Self {
            from_where,
            params,
            order_by,
        }
    }

    fn page(mut self, columns: &str, page: Page) -> (String, Vec<Param>) {
        self.params.push(Box::new(i64::from(page.limit)));
        self.params
            .push(Box::new(i64::try_from(page.offset).unwrap_or(i64::MAX)));
        let n = self.params.len();
        (
            format!(
                "SELECT {columns} {} {} LIMIT ${} OFFSET ${n}",
                self.from_where,
                self.order_by,
                n - 1
            ),
            self.params,
        )
    }
}

/// ` AND r.seq > …`: after the request whose id is parameter `$n`, in
/// commit order (see the module doc, "Order without gaps"); `$1` is the
/// bin.
fn after_cursor(n: usize) -> String {
    format!(
        " AND r.seq > coalesce(
             (SELECT seq FROM requests WHERE bin_id = $1 AND id = ${n}),
             (SELECT max(seq) FROM requests WHERE bin_id = $1 AND id <= ${n}),
             0)"
    )
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PgStore {
    pub async fn insert_request(
        &self,
        req: CapturedRequest,
    ) -> Result<CapturedRequest, StoreError> {
        self.writer.insert(req).await
    }

    pub async fn request(
        &self,
        bin: Uuid,
        id: Uuid,
    ) -> Result<Option<CapturedRequest>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {FULL_COLUMNS} FROM requests r WHERE r.bin_id = $1 AND r.id = $2"),
                &[&bin, &id],
            )
            .await
            .map_err(pg_error)?;
        row.as_ref().map(full_request).transpose()
    }

    /// Requests of a bin committed after the request `after`, in commit
    /// order (see the module doc, "Order without gaps"). A request deleted
    /// since stands for the highest seq at or below its id in the bin.
    pub async fn requests_after(
        &self,
        bin: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<CapturedRequest>, StoreError> {
        let client = self.client().await?;
        let after = after.unwrap_or(Uuid::nil());
        let limit = i64::from(limit);
        let rows = client
            .query(
                &format!(
                    "SELECT {FULL_COLUMNS} FROM requests r WHERE r.bin_id = $1{}
                     ORDER BY r.seq LIMIT $3",
                    after_cursor(2)
                ),
                &[&bin, &after, &limit],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(full_request).collect()
    }

    pub async fn count_requests(&self, bin: Uuid) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT request_count FROM bins WHERE id = $1", &[&bin])
            .await
            .map_err(pg_error)?;
        Ok(row.map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
    }

    pub async fn find_requests(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        page: Page,
    ) -> Result<Vec<CapturedRequest>, StoreError> {
        let (sql, params) = Selection::new(bin, &filter).page(FULL_COLUMNS, page);
        let client = self.client().await?;
        let rows = client.query(&sql, &refs(&params)).await.map_err(pg_error)?;
        rows.iter().map(full_request).collect()
    }

    pub async fn find_summaries(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        page: Page,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        let (sql, params) = Selection::new(bin, &filter).page(SUMMARY_COLUMNS, page);
        let client = self.client().await?;
        let rows = client.query(&sql, &refs(&params)).await.map_err(pg_error)?;
        rows.iter()
            .map(|row| {
                let headers: Vec<u8> = row.try_get(7).map_err(column)?;
                Ok(RequestSummary {
                    id: row.try_get(0).map_err(column)?,
                    received_at: Timestamp(row.try_get(1).map_err(column)?),
                    method: row.try_get(2).map_err(column)?,
                    path: row.try_get(3).map_err(column)?,
                    query: row.try_get(4).map_err(column)?,
                    remote_addr: row.try_get(5).map_err(column)?,
                    size: usize::try_from(row.try_get::<_, i64>(6).map_err(column)?).unwrap_or(0),
                    content_type: content_type(&headers),
                    signature: verdict(row, 8)?,
                })
            })
            .collect()
    }

    pub async fn count_matching(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        limit: u64,
    ) -> Result<Count, StoreError> {
        let Selection {
            from_where,
            mut params,
            ..
        } = Selection::new(bin, &filter);
        params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 {from_where} LIMIT ${}) AS matching",
            params.len()
        );
        let client = self.client().await?;
        let n: i64 = client
            .query_one(&sql, &refs(&params))
            .await
            .map_err(pg_error)?
            .get(0);
        let n = u64::try_from(n).unwrap_or(0);
        Ok(Count {
            n,
            exact: n < limit,
        })
    }

    pub async fn delete_request(&self, bin: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let deleted = self
            .delete_in_bin(
                bin,
                "DELETE FROM requests WHERE bin_id = $1 AND id = $2".into(),
                vec![Box::new(bin), Box::new(id)],
            )
            .await?;
        Ok(deleted > 0)
    }

    /// Replaces the signature verdicts of some of a bin's requests (a
    /// "verify again") in one statement; a request deleted since is
    /// skipped.
    pub async fn set_signatures(
        &self,
        bin: Uuid,
        verdicts: Vec<(Uuid, Option<Verdict>)>,
    ) -> Result<(), StoreError> {
        let mut ids = Vec::with_capacity(verdicts.len());
        let mut providers = Vec::with_capacity(verdicts.len());
        let mut valid = Vec::with_capacity(verdicts.len());
        let mut reasons = Vec::with_capacity(verdicts.len());
        for (id, verdict) in &verdicts {
            let (provider, is_valid, reason) = codec::verdict_columns(verdict.as_ref());
            ids.push(*id);
            providers.push(provider);
            valid.push(is_valid);
            reasons.push(reason);
        }
        let client = self.client().await?;
        client
            .execute(
                "UPDATE requests r SET signature_provider = v.provider,
                     signature_valid = v.valid, signature_reason = v.reason
                 FROM unnest($2::uuid[], $3::text[], $4::bool[], $5::text[])
                      AS v(id, provider, valid, reason)
                 WHERE r.bin_id = $1 AND r.id = v.id",
                &[&bin, &ids, &providers, &valid, &reasons],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    pub async fn delete_matching(
        &self,
        bin: Uuid,
        filter: RequestFilter,
    ) -> Result<u64, StoreError> {
        if filter.is_everything() {
            return self.clear_requests(bin).await;
        }
        let selection = Selection::new(bin, &filter);
        let sql = format!(
            "DELETE FROM requests WHERE seq IN (SELECT r.seq {})",
            selection.from_where
        );
        self.delete_in_bin(bin, sql, selection.params).await
    }

    pub async fn clear_requests(&self, bin: Uuid) -> Result<u64, StoreError> {
        self.delete_in_bin(
            bin,
            "DELETE FROM requests WHERE bin_id = $1".into(),
            vec![Box::new(bin)],
        )
        .await
    }

    /// Runs a delete of some of `bin`'s requests with its count kept in
    /// step: the bin's row is locked first (the order every writer takes),
    /// so a batch pruning the same bin waits rather than deadlocks.
    async fn delete_in_bin(
        &self,
        bin: Uuid,
        sql: String,
        params: Vec<Param>,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        if !lock_bin(&*tx, bin).await? {
            return Ok(0);
        }
        let deleted = tx.execute(&sql, &refs(&params)).await.map_err(pg_error)?;
        recount(&*tx, bin, deleted).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(deleted)
    }

    /// Search needs no catching up on PostgreSQL: a request's words are
    /// written with it.
    pub async fn index_pending(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    pub async fn record_response(
        &self,
        bin: Uuid,
        id: Uuid,
        sent: SentResponse,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO listen_responses (bin_id, request_id, from_app, status, headers, body)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (bin_id, request_id) DO UPDATE SET from_app = excluded.from_app,
                     status = excluded.status, headers = excluded.headers, body = excluded.body",
                &[
                    &bin,
                    &id,
                    &sent.from_app,
                    &i32::from(sent.status),
                    &codec::encode_headers(&sent.headers),
                    &&sent.body[..],
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    pub async fn sent_response(
        &self,
        bin: Uuid,
        id: Uuid,
    ) -> Result<Option<SentResponse>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT from_app, status, headers, body FROM listen_responses
                 WHERE bin_id = $1 AND request_id = $2",
                &[&bin, &id],
            )
            .await
            .map_err(pg_error)?
        else {
            return Ok(None);
        };
        let status: i32 = row.try_get(1).map_err(column)?;
        let headers: Vec<u8> = row.try_get(2).map_err(column)?;
        let body: Vec<u8> = row.try_get(3).map_err(column)?;
        Ok(Some(SentResponse {
            from_app: row.try_get(0).map_err(column)?,
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt("answer status"))?,
            headers: codec::decode_headers(&headers)
                .ok_or(StoreError::Corrupt("response headers"))?,
            body: body.into(),
        }))
    }
}

/// Locks `bin`'s row until the transaction ends, so deletions and its
/// count change together; `false` when the bin is gone.
pub(super) async fn lock_bin(client: &impl GenericClient, bin: Uuid) -> Result<bool, StoreError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM bins WHERE id = $1 FOR NO KEY UPDATE",
            &[&bin],
        )
        .await
        .map_err(pg_error)?;
    Ok(row.is_some())
}

/// Deletes up to `n` of the oldest requests of `bin` (only those with an
/// id below `before`, when given), keeping the bin's count in step; the
/// caller holds the bin's row lock. Returns how many went.
pub(super) async fn delete_oldest(
    client: &impl GenericClient,
    bin: Uuid,
    before: Option<Uuid>,
    n: i64,
) -> Result<u64, StoreError> {
    let before = before.unwrap_or(Uuid::max());
    let deleted = client
        .execute(
            "DELETE FROM requests WHERE seq IN
               (SELECT seq FROM requests WHERE bin_id = $1 AND id < $2 ORDER BY seq LIMIT $3)",
            &[&bin, &before, &n],
        )
        .await
        .map_err(pg_error)?;
    recount(client, bin, deleted).await?;
    Ok(deleted)
}

async fn recount(client: &impl GenericClient, bin: Uuid, deleted: u64) -> Result<(), StoreError> {
    if deleted > 0 {
        let deleted = i64::try_from(deleted).unwrap_or(i64::MAX);
        client
            .execute(
                "UPDATE bins SET request_count = request_count - $2 WHERE id = $1",
                &[&bin, &deleted],
            )
            .await
            .map_err(pg_error)?;
    }
    Ok(())
}

/// Maps a row of [`FULL_COLUMNS`].
fn full_request(row: &Row) -> Result<CapturedRequest, StoreError> {
    let headers: Vec<u8> = row.try_get(8).map_err(column)?;
    let body: Vec<u8> = row.try_get(9).map_err(column)?;
    let headers = codec::decode_headers(&headers).ok_or(StoreError::Corrupt("headers"))?;
    Ok(CapturedRequest {
        id: row.try_get(0).map_err(column)?,
        bin: row.try_get(1).map_err(column)?,
        received_at: Timestamp(row.try_get(2).map_err(column)?),
        method: row.try_get(3).map_err(column)?,
        path: row.try_get(4).map_err(column)?,
        query: row.try_get(5).map_err(column)?,
        version: row.try_get(6).map_err(column)?,
        remote_addr: row.try_get(7).map_err(column)?,
        headers,
        body: body.into(),
        signature: verdict(row, 10)?,
    })
}

/// The verdict in the three columns from `first`.
fn verdict(row: &Row, first: usize) -> Result<Option<Verdict>, StoreError> {
    Ok(codec::decode_verdict(
        row.try_get(first).map_err(column)?,
        row.try_get(first + 1).map_err(column)?,
        row.try_get(first + 2).map_err(column)?,
    ))
}

/// The first `Content-Type` in an encoded headers blob.
fn content_type(headers: &[u8]) -> Option<String> {
    codec::decode_headers(headers)?
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(Header::value_lossy)
}
