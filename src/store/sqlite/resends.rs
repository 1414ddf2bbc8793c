//! Resends of stored requests (see `store::resends`), beside the request
//! they sent and deleted with it (a foreign key).

use rusqlite::{params, Row};
use uuid::Uuid;

use super::SqliteStore;
use crate::model::Timestamp;
use crate::store::{codec, Resend, ResendOrigin, StoreError};

impl SqliteStore {
    pub async fn record_resend(&self, resend: Resend) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO resends (id, bin_id, request_id, at, origin, target, status,
                        headers, body, truncated, duration_ms, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    resend.id,
                    resend.bin,
                    resend.request,
                    resend.at.as_micros(),
                    resend.origin.as_str(),
                    resend.target,
                    resend.status,
                    codec::encode_headers(&resend.headers),
                    resend.body,
                    resend.truncated,
                    i64::try_from(resend.duration_ms).unwrap_or(i64::MAX),
                    resend.error,
                ])?;
                Ok(())
            })
            .await
    }

    pub async fn resends(
        &self,
        bin: Uuid,
        request: Uuid,
        limit: u32,
    ) -> Result<Vec<Resend>, StoreError> {
        self.readers
            .read(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT id, at, origin, target, status, headers, body, truncated,
                        duration_ms, error
                     FROM resends WHERE bin_id = ?1 AND request_id = ?2
                     ORDER BY id DESC LIMIT ?3",
                )?;
                let rows = statement.query_map(params![bin, request, limit], |row| {
                    Ok(resend_of(row, bin, request))
                })?;
                let mut found = Vec::new();
                for row in rows {
                    found.push(row??);
                }
                Ok(found)
            })
            .await
    }
}

fn resend_of(row: &Row<'_>, bin: Uuid, request: Uuid) -> Result<Resend, StoreError> {
    let origin: String = row.get(2)?;
    let headers: Vec<u8> = row.get(5)?;
    Ok(Resend {
        id: row.get(0)?,
        bin,
        request,
        at: Timestamp(row.get(1)?),
        origin: ResendOrigin::parse(&origin).ok_or(StoreError::Corrupt("resend origin"))?,
        target: row.get(3)?,
        status: row.get(4)?,
        headers: codec::decode_headers(&headers).ok_or(StoreError::Corrupt("resend headers"))?,
        body: row.get(6)?,
        truncated: row.get(7)?,
        duration_ms: u64::try_from(row.get::<_, i64>(8)?).unwrap_or(0),
        error: row.get(9)?,
    })
}
