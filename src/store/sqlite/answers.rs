//! Listen-mode answers: what a capture relayed to a `hookscope forward
//! --listen` client answered its sender (the local app's response, or the
//! bin's own when the app did not answer), kept beside the request.

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::SqliteStore;
use crate::model::SentResponse;
use crate::store::{codec, StoreError};

impl SqliteStore {
    /// Notes what a capture awaiting a relayed answer answered its sender.
    pub async fn record_response(
        &self,
        bin: Uuid,
        id: Uuid,
        sent: SentResponse,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO listen_responses
                       (bin_id, request_id, from_app, status, headers, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    bin,
                    id,
                    sent.from_app,
                    sent.status,
                    codec::encode_headers(&sent.headers),
                    &sent.body[..],
                ])?;
                Ok(())
            })
            .await
    }

    /// What a capture awaiting a relayed answer answered; `None` for other captures.
    pub async fn sent_response(
        &self,
        bin: Uuid,
        id: Uuid,
    ) -> Result<Option<SentResponse>, StoreError> {
        self.readers
            .read(move |conn| {
                let row = conn
                    .prepare_cached(
                        "SELECT from_app, status, headers, body FROM listen_responses
                         WHERE bin_id = ?1 AND request_id = ?2",
                    )?
                    .query_row(params![bin, id], |row| {
                        Ok((
                            row.get::<_, bool>(0)?,
                            row.get::<_, u16>(1)?,
                            row.get::<_, Vec<u8>>(2)?,
                            row.get::<_, Vec<u8>>(3)?,
                        ))
                    })
                    .optional()?;
                let Some((from_app, status, headers, body)) = row else {
                    return Ok(None);
                };
                Ok(Some(SentResponse {
                    from_app,
                    status,
                    headers: codec::decode_headers(&headers)
                        .ok_or(StoreError::Corrupt("response headers"))?,
                    body: body.into(),
                }))
            })
            .await
    }
}
