//! Resends of stored requests (see `store::resends`), beside the request
//! they sent and deleted with it (a foreign key).

use uuid::Uuid;

use super::{column, pg_error, PgStore};
use crate::model::Timestamp;
use crate::store::{codec, Resend, ResendOrigin, StoreError};

impl PgStore {
    pub async fn record_resend(&self, resend: Resend) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO resends (id, bin_id, request_id, at, origin, target, status,
                    headers, body, truncated, duration_ms, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &resend.id,
                    &resend.bin,
                    &resend.request,
                    &resend.at.as_micros(),
                    &resend.origin.as_str(),
                    &resend.target,
                    &resend.status.map(i32::from),
                    &codec::encode_headers(&resend.headers),
                    &resend.body,
                    &resend.truncated,
                    &i64::try_from(resend.duration_ms).unwrap_or(i64::MAX),
                    &resend.error,
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    pub async fn resends(
        &self,
        bin: Uuid,
        request: Uuid,
        limit: u32,
    ) -> Result<Vec<Resend>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, at, origin, target, status, headers, body, truncated,
                    duration_ms, error
                 FROM resends WHERE bin_id = $1 AND request_id = $2
                 ORDER BY id DESC LIMIT $3",
                &[&bin, &request, &i64::from(limit)],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|row| {
                let origin: String = row.try_get(2).map_err(column)?;
                let status: Option<i32> = row.try_get(4).map_err(column)?;
                let headers: Vec<u8> = row.try_get(5).map_err(column)?;
                let duration: i64 = row.try_get(8).map_err(column)?;
                Ok(Resend {
                    id: row.try_get(0).map_err(column)?,
                    bin,
                    request,
                    at: Timestamp(row.try_get(1).map_err(column)?),
                    origin: ResendOrigin::parse(&origin)
                        .ok_or(StoreError::Corrupt("resend origin"))?,
                    target: row.try_get(3).map_err(column)?,
                    status: status
                        .map(u16::try_from)
                        .transpose()
                        .map_err(|_| StoreError::Corrupt("resend status"))?,
                    headers: codec::decode_headers(&headers)
                        .ok_or(StoreError::Corrupt("resend headers"))?,
                    body: row.try_get(6).map_err(column)?,
                    truncated: row.try_get(7).map_err(column)?,
                    duration_ms: u64::try_from(duration).unwrap_or(0),
                    error: row.try_get(9).map_err(column)?,
                })
            })
            .collect()
    }
}
