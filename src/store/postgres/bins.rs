//! Bins on PostgreSQL: create (under `max_bins`, across instances), read
//! (never cached: another instance may change a bin at any time), update,
//! delete, and the expiry and retention sweeps (one instance at a time).

use std::sync::Arc;

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::{column, pg_error, PgStore, BIN_COUNT_LOCK};
use crate::model::{alias_problem, Bin, BinSettings, Header, Timestamp};
use crate::store::{codec, Deleted, StoreError};

const BIN_COLUMNS: &str = "id, created_at, updated_at, alias, description, default_status,
     default_content, default_content_type, response_headers, timeout, listen, cors,
     request_limit, expiry, creator_ip, creator_user_agent, password_hash, verifiers";

/// Requests deleted per transaction during retention, so a bin's row is
/// locked (and its captures wait) for a short statement only.
const DELETE_CHUNK: i64 = 2_000;

/// A bin's settings as the values of the settings columns, in the order
/// `alias … password_hash, verifiers` of [`BIN_COLUMNS`].
struct SettingsRow {
    alias: Option<String>,
    description: Option<String>,
    default_status: i32,
    default_content: Vec<u8>,
    default_content_type: String,
    response_headers: Vec<u8>,
    timeout: i32,
    listen: i32,
    cors: bool,
    request_limit: Option<i64>,
    expiry: Option<i64>,
    password_hash: Option<String>,
    verifiers: String,
}

impl SettingsRow {
    fn of(settings: &BinSettings) -> Self {
        let headers: Vec<Header> = settings
            .response_headers
            .iter()
            .map(|(name, value)| Header::new(name.clone(), value.as_bytes()))
            .collect();
        Self {
            alias: settings.alias.clone(),
            description: settings.description.clone(),
            default_status: i32::from(settings.default_status),
            default_content: settings.default_content.clone().into_bytes(),
            default_content_type: settings.default_content_type.clone(),
            response_headers: codec::encode_headers(&headers),
            timeout: i32::try_from(settings.timeout).unwrap_or(i32::MAX),
            listen: i32::try_from(settings.answer_wait_secs).unwrap_or(i32::MAX),
            cors: settings.cors,
            request_limit: settings.request_limit.map(i64::from),
            expiry: settings.expiry.map(i64::from),
            password_hash: settings.password_hash.clone(),
            verifiers: codec::encode_verifiers(&settings.verifiers),
        }
    }

    fn values(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.alias,
            &self.description,
            &self.default_status,
            &self.default_content,
            &self.default_content_type,
            &self.response_headers,
            &self.timeout,
            &self.listen,
            &self.cors,
            &self.request_limit,
            &self.expiry,
            &self.password_hash,
            &self.verifiers,
        ]
    }
}

impl PgStore {
    pub async fn create_bin(&self, bin: Bin) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        if self.max_bins > 0 {
            // Instances creating bins at once count one after the other.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BIN_COUNT_LOCK])
                .await
                .map_err(pg_error)?;
            let bins: i64 = tx
                .query_one("SELECT count(*) FROM bins", &[])
                .await
                .map_err(pg_error)?
                .get(0);
            if u64::try_from(bins).unwrap_or(0) >= self.max_bins {
                return Err(StoreError::TooManyBins(self.max_bins));
            }
        }
        refuse_taken_alias(&*tx, bin.id, bin.settings.alias.as_deref()).await?;
        let settings = SettingsRow::of(&bin.settings);
        let identity: [&(dyn ToSql + Sync); 5] = [
            &bin.id,
            &bin.created_at.0,
            &bin.updated_at.0,
            &bin.creator_ip,
            &bin.creator_user_agent,
        ];
        let params: Vec<&(dyn ToSql + Sync)> =
            identity.into_iter().chain(settings.values()).collect();
        tx.execute(
            "INSERT INTO bins (id, created_at, updated_at, creator_ip, creator_user_agent,
                 alias, description, default_status, default_content, default_content_type,
                 response_headers, timeout, listen, cors, request_limit, expiry, password_hash,
                 verifiers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18)",
            &params,
        )
        .await
        .map_err(|e| alias_race(e, bin.settings.alias.as_deref()))?;
        tx.commit().await.map_err(pg_error)
    }

    /// The bin whose alias is `alias` (ignoring ASCII case), unless there
    /// is none or it has expired. Only aliases that can be URLs are found.
    pub async fn bin_by_alias(&self, alias: &str) -> Result<Option<Arc<Bin>>, StoreError> {
        if alias_problem(alias).is_some() {
            return Ok(None);
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {BIN_COLUMNS} FROM bins WHERE lower(alias) = lower($1)"),
                &[&alias],
            )
            .await
            .map_err(pg_error)?;
        live(row)
    }

    pub async fn bin(&self, id: Uuid) -> Result<Option<Arc<Bin>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {BIN_COLUMNS} FROM bins WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(pg_error)?;
        live(row)
    }

    pub async fn update_bin(&self, id: Uuid, settings: BinSettings) -> Result<Bin, StoreError> {
        let mut bin = Bin::clone(&*self.bin(id).await?.ok_or(StoreError::UnknownBin)?);
        bin.settings = settings;
        bin.updated_at = Timestamp::now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        refuse_taken_alias(&*tx, id, bin.settings.alias.as_deref()).await?;
        let row = SettingsRow::of(&bin.settings);
        let identity: [&(dyn ToSql + Sync); 2] = [&id, &bin.updated_at.0];
        let params: Vec<&(dyn ToSql + Sync)> = identity.into_iter().chain(row.values()).collect();
        let updated = tx
            .execute(
                "UPDATE bins SET updated_at = $2, alias = $3, description = $4,
                     default_status = $5, default_content = $6, default_content_type = $7,
                     response_headers = $8, timeout = $9, listen = $10, cors = $11,
                     request_limit = $12, expiry = $13, password_hash = $14, verifiers = $15
                 WHERE id = $1",
                &params,
            )
            .await
            .map_err(|e| alias_race(e, bin.settings.alias.as_deref()))?;
        tx.commit().await.map_err(pg_error)?;
        if updated == 0 {
            return Err(StoreError::UnknownBin);
        }
        Ok(bin)
    }

    /// Deletes a bin; its requests and answers go with it (cascade).
    pub async fn delete_bin(&self, id: Uuid) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM bins WHERE id = $1", &[&id])
            .await
            .map_err(pg_error)?;
        Ok(deleted > 0)
    }

    pub async fn count_bins(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM bins", &[])
            .await
            .map_err(pg_error)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes every bin that expired by `now`, one bin per transaction;
    /// resolves to their ids. One instance at a time sweeps.
    pub async fn delete_expired_bins(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError> {
        let swept = self
            .as_the_one_job_runner(|client| async move {
                let result = async {
                    let expired: Vec<Uuid> = client
                        .query(
                            "SELECT id FROM bins WHERE expiry IS NOT NULL
                               AND created_at + expiry * 1000000 <= $1",
                            &[&now.0],
                        )
                        .await
                        .map_err(pg_error)?
                        .iter()
                        .map(|row| row.get(0))
                        .collect();
                    let mut deleted = Vec::with_capacity(expired.len());
                    for id in expired {
                        let n = client
                            .execute("DELETE FROM bins WHERE id = $1", &[&id])
                            .await
                            .map_err(pg_error)?;
                        if n > 0 {
                            deleted.push(id);
                        }
                    }
                    Ok(deleted)
                }
                .await;
                (client, result)
            })
            .await?;
        Ok(swept)
    }

    /// Retention: deletes requests received before `cutoff`, then bins
    /// created before it that have no request left. Short transactions,
    /// one instance at a time.
    pub async fn delete_before(&self, cutoff: Timestamp) -> Result<Deleted, StoreError> {
        let first_kept = first_v7_at(cutoff);
        let swept = self
            .as_the_one_job_runner(|mut client| async move {
                let result = retention(&mut client, cutoff, first_kept).await;
                (client, result)
            })
            .await?;
        Ok(swept)
    }
}

async fn retention(
    client: &mut deadpool_postgres::Object,
    cutoff: Timestamp,
    first_kept: Uuid,
) -> Result<Deleted, StoreError> {
    let mut deleted = Deleted::default();
    // Bin by bin, through the (bin_id, id) index, as on SQLite.
    let bins: Vec<Uuid> = client
        .query("SELECT id FROM bins", &[])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for bin in bins {
        loop {
            let tx = client.transaction().await.map_err(pg_error)?;
            if !super::requests::lock_bin(&*tx, bin).await? {
                break;
            }
            let n =
                super::requests::delete_oldest(&*tx, bin, Some(first_kept), DELETE_CHUNK).await?;
            tx.commit().await.map_err(pg_error)?;
            deleted.requests += n;
            if n < DELETE_CHUNK as u64 {
                break;
            }
        }
    }
    // One bin per statement: a statement locking many bins' rows could
    // deadlock with a writer batch that locks some of them.
    let idle: Vec<Uuid> = client
        .query(
            "SELECT id FROM bins WHERE created_at < $1 AND NOT EXISTS
               (SELECT 1 FROM requests WHERE bin_id = bins.id AND id >= $2)",
            &[&cutoff.0, &first_kept],
        )
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for id in idle {
        // Locked, then checked again in a statement of its own (a fresh
        // snapshot): a capture may have been committed since.
        let tx = client.transaction().await.map_err(pg_error)?;
        let still_idle = tx
            .query_opt("SELECT 1 FROM bins WHERE id = $1 FOR UPDATE", &[&id])
            .await
            .map_err(pg_error)?
            .is_some()
            && tx
                .query_opt(
                    "SELECT 1 FROM requests WHERE bin_id = $1 AND id >= $2 LIMIT 1",
                    &[&id, &first_kept],
                )
                .await
                .map_err(pg_error)?
                .is_none();
        if still_idle {
            deleted.bins += tx
                .execute("DELETE FROM bins WHERE id = $1", &[&id])
                .await
                .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
    }
    Ok(deleted)
}

/// The smallest UUID v7 of the millisecond `at`: every request id below it
/// was made before `at` (UUID v7 starts with big-endian Unix millis, and
/// PostgreSQL compares uuids bytewise).
fn first_v7_at(at: Timestamp) -> Uuid {
    let millis = u64::try_from(at.as_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// Fails when another bin than `id` has `alias`, ignoring case. The unique
/// index catches a bin that takes it in between ([`alias_race`]).
async fn refuse_taken_alias(
    client: &impl GenericClient,
    id: Uuid,
    alias: Option<&str>,
) -> Result<(), StoreError> {
    let Some(alias) = alias else {
        return Ok(());
    };
    let taken = client
        .query_opt(
            "SELECT 1 FROM bins WHERE lower(alias) = lower($1) AND id <> $2",
            &[&alias, &id],
        )
        .await
        .map_err(pg_error)?
        .is_some();
    if taken {
        return Err(StoreError::AliasTaken(alias.to_owned()));
    }
    Ok(())
}

/// A unique violation on the alias index is a taken alias.
fn alias_race(e: tokio_postgres::Error, alias: Option<&str>) -> StoreError {
    let unique = e
        .as_db_error()
        .is_some_and(|db| db.constraint() == Some("bins_by_alias"));
    match alias {
        Some(alias) if unique => StoreError::AliasTaken(alias.to_owned()),
        _ => pg_error(e),
    }
}

/// The bin in `row`, unless there is none or it has expired.
fn live(row: Option<Row>) -> Result<Option<Arc<Bin>>, StoreError> {
    let Some(row) = row else {
        return Ok(None);
    };
    let bin = bin_row(&row)?;
    Ok((!bin.is_expired(Timestamp::now())).then(|| Arc::new(bin)))
}

/// Maps a row of [`BIN_COLUMNS`].
fn bin_row(row: &Row) -> Result<Bin, StoreError> {
    let content: Vec<u8> = row.try_get(6).map_err(column)?;
    let headers: Vec<u8> = row.try_get(8).map_err(column)?;
    let headers = codec::decode_headers(&headers).ok_or(StoreError::Corrupt("response headers"))?;
    let default_content =
        String::from_utf8(content).map_err(|_| StoreError::Corrupt("default content"))?;
    let get_u32 = |n: usize| -> Result<u32, StoreError> {
        let v: i32 = row.try_get(n).map_err(pg_error)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt("a negative setting"))
    };
    let get_opt_u32 = |n: usize| -> Result<Option<u32>, StoreError> {
        let v: Option<i64> = row.try_get(n).map_err(pg_error)?;
        v.map(u32::try_from)
            .transpose()
            .map_err(|_| StoreError::Corrupt("a setting out of range"))
    };
    let status: i32 = row.try_get(5).map_err(column)?;
    Ok(Bin {
        id: row.try_get(0).map_err(column)?,
        created_at: Timestamp(row.try_get(1).map_err(column)?),
        updated_at: Timestamp(row.try_get(2).map_err(column)?),
        settings: BinSettings {
            alias: row.try_get(3).map_err(column)?,
            description: row.try_get(4).map_err(column)?,
            default_status: u16::try_from(status)
                .map_err(|_| StoreError::Corrupt("default status"))?,
            default_content,
            default_content_type: row.try_get(7).map_err(column)?,
            response_headers: Header::pairs_lossy(&headers),
            timeout: get_u32(9)?,
            answer_wait_secs: get_u32(10)?,
            cors: row.try_get(11).map_err(column)?,
            request_limit: get_opt_u32(12)?,
            expiry: get_opt_u32(13)?,
            password_hash: row.try_get(16).map_err(column)?,
            verifiers: codec::decode_verifiers(&row.try_get::<_, String>(17).map_err(column)?)?,
        },
        creator_ip: row.try_get(14).map_err(column)?,
        creator_user_agent: row.try_get(15).map_err(column)?,
    })
}
