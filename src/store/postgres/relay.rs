//! Relayed answers across instances (webhook.site's listen mode): a
//! capture waits on the instance that took it, while the forwarder that
//! answers may be connected to, and send its answer to, another one.
//!
//! - Presence: an instance with a relaying forwarder of a bin keeps a row
//!   in `answerers`, refreshed while it stays ([`PRESENCE_LASTS`]), so a
//!   crashed instance's row lapses by itself.
//! - Answers: the instance that gets an answer it has no waiting capture
//!   for stores it in `relayed_answers` and notifies `hookscope_answers`
//!   with the request id in the same transaction; the instance whose
//!   capture waits hears it and takes the row.

use std::time::Duration;

use uuid::Uuid;

use super::{column, pg_error, PgStore};
use crate::model::SentResponse;
use crate::store::{codec, StoreError};

/// The channel relayed answers are announced on.
pub(super) const ANSWERS_CHANNEL: &str = "hookscope_answers";

/// How long a presence row counts without being refreshed.
pub(super) const PRESENCE_LASTS: Duration = Duration::from_secs(30);

/// Answers nobody took (their capture stopped waiting) are deleted after
/// this long.
const UNCLAIMED_KEPT: Duration = Duration::from_secs(600);

impl PgStore {
    /// Notes (or clears) that this instance has a relaying forwarder of
    /// `bin` connected; called again to keep the note alive.
    pub async fn answerer_present(&self, bin: Uuid, present: bool) -> Result<(), StoreError> {
        let client = self.client().await?;
        if present {
            client
                .execute(
                    "INSERT INTO answerers (bin_id, instance, expires_at)
                     VALUES ($1, $2, now() + make_interval(secs => $3))
                     ON CONFLICT (bin_id, instance) DO UPDATE SET expires_at = excluded.expires_at",
                    &[&bin, &self.tag, &PRESENCE_LASTS.as_secs_f64()],
                )
                .await
                .map_err(pg_error)?;
        } else {
            client
                .execute(
                    "DELETE FROM answerers WHERE bin_id = $1 AND instance = $2",
                    &[&bin, &self.tag],
                )
                .await
                .map_err(pg_error)?;
        }
        Ok(())
    }

    /// Whether another instance has a relaying forwarder of `bin`.
    pub async fn answerer_elsewhere(&self, bin: Uuid) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM answerers
                     WHERE bin_id = $1 AND instance <> $2 AND expires_at > now())",
                &[&bin, &self.tag],
            )
            .await
            .map_err(pg_error)?;
        row.try_get(0).map_err(column)
    }

    /// Hands an answer to whichever instance's capture waits for request
    /// `id` of `bin`: stored, and announced when it commits. Unclaimed
    /// answers of long ago go at the same time.
    pub async fn relay_answer(
        &self,
        bin: Uuid,
        id: Uuid,
        answer: SentResponse,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute(
            "DELETE FROM relayed_answers WHERE created_at < now() - make_interval(secs => $1)",
            &[&UNCLAIMED_KEPT.as_secs_f64()],
        )
        .await
        .map_err(pg_error)?;
        tx.execute(
            "INSERT INTO relayed_answers (request_id, bin_id, status, headers, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (request_id) DO NOTHING",
            &[
                &id,
                &bin,
                &i32::from(answer.status),
                &codec::encode_headers(&answer.headers),
                &&answer.body[..],
            ],
        )
        .await
        .map_err(pg_error)?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&ANSWERS_CHANNEL, &id.to_string()],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(true)
    }

    /// Takes the relayed answer for request `id`, if one is stored: its
    /// bin and the answer. Only one instance gets it.
    pub async fn take_relayed_answer(
        &self,
        id: Uuid,
    ) -> Result<Option<(Uuid, SentResponse)>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "DELETE FROM relayed_answers WHERE request_id = $1
                 RETURNING bin_id, status, headers, body",
                &[&id],
            )
            .await
            .map_err(pg_error)?
        else {
            return Ok(None);
        };
        let bin: Uuid = row.try_get(0).map_err(column)?;
        let status: i32 = row.try_get(1).map_err(column)?;
        let headers: Vec<u8> = row.try_get(2).map_err(column)?;
        let body: Vec<u8> = row.try_get(3).map_err(column)?;
        Ok(Some((
            bin,
            SentResponse {
                from_app: true,
                status: u16::try_from(status).map_err(|_| StoreError::Corrupt("answer status"))?,
                headers: codec::decode_headers(&headers)
                    .ok_or(StoreError::Corrupt("answer headers"))?,
                body: body.into(),
            },
        )))
    }
}
