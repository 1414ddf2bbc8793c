//! Bins: create, read (through an in-memory cache), update, delete, and
//! the expiry sweep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::SqliteStore;
use crate::model::{alias_problem, Bin, BinSettings, Header, Timestamp};
use crate::store::{codec, StoreError};

/// Most bins kept in memory; past it the cache starts over (bins are
/// re-read on their next request).
const MAX_CACHED_BINS: usize = 100_000;

/// Bins by id, and the id of every aliased bin by its alias. Bins are
/// filled on a read miss; aliases are all read when the store opens. Both
/// are kept right by the store's own writes (create, update, delete).
/// Unknown ids are not cached, so random ids cannot grow it; and since
/// every alias is here, a capture through an alias, known or not, reads
/// nothing from SQLite but its bin on a miss.
#[derive(Clone, Default)]
pub(super) struct BinCache {
    bins: Arc<RwLock<HashMap<Uuid, Arc<Bin>>>>,
    /// Keyed by the alias in ASCII lower case: aliases match ignoring case.
    /// Only aliases that can be URLs ([`alias_problem`]) are here.
    aliases: Arc<RwLock<HashMap<String, Uuid>>>,
    /// Counts removals, so a read that raced with a delete does not put
    /// the deleted bin back.
    removals: Arc<AtomicU64>,
}

impl BinCache {
    /// An empty cache that knows every alias stored in `conn`.
    pub(super) fn with_aliases_of(conn: &Connection) -> Result<Self, StoreError> {
        let cache = Self::default();
        let mut stmt = conn.prepare("SELECT id, alias FROM bins WHERE alias IS NOT NULL")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, Uuid>(0)?, row.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, alias) = row?;
            cache.set_alias(id, Some(&alias));
        }
        Ok(cache)
    }

    fn aliases(&self) -> parking_lot::RwLockWriteGuard<'_, HashMap<String, Uuid>> {
        self.aliases.write()
    }

    fn alias(&self, alias: &str) -> Option<Uuid> {
        self.aliases
            .read()
            .get(&alias.to_ascii_lowercase())
            .copied()
    }

    /// Makes `alias` (or none) the one alias of the bin `id`.
    fn set_alias(&self, id: Uuid, alias: Option<&str>) {
        let mut aliases = self.aliases();
        aliases.retain(|_, bin| *bin != id);
        if let Some(alias) = alias.filter(|a| alias_problem(a).is_none()) {
            aliases.insert(alias.to_ascii_lowercase(), id);
        }
    }

    fn forget_aliases(&self, ids: &[Uuid]) {
        self.aliases().retain(|_, bin| !ids.contains(bin));
    }

    fn removals(&self) -> u64 {
        self.removals.load(Ordering::SeqCst)
    }

    /// Caches a bin read from the database, unless a bin was removed since
    /// the read began (`removals_before`).
    fn put_read(&self, bin: Arc<Bin>, removals_before: u64) {
        let mut bins = self.bins.write();
        if self.removals() != removals_before {
            return;
        }
        if bins.len() >= MAX_CACHED_BINS && !bins.contains_key(&bin.id) {
            bins.clear();
        }
        bins.insert(bin.id, bin);
    }

    fn get(&self, id: Uuid) -> Option<Arc<Bin>> {
        self.bins.read().get(&id).cloned()
    }

    fn put(&self, bin: Bin) {
        let mut bins = self.bins.write();
        if bins.len() >= MAX_CACHED_BINS && !bins.contains_key(&bin.id) {
            bins.clear();
        }
        bins.insert(bin.id, Arc::new(bin));
    }

    fn remove(&self, id: Uuid) {
        let mut bins = self.bins.write();
        self.removals.fetch_add(1, Ordering::SeqCst);
        bins.remove(&id);
    }
}

/// The columns a bin's settings are stored in, in the order of
/// [`settings_values`]; creating and updating a bin write the same ones.
const SETTINGS_COLUMNS: [&str; 13] = [
    "alias",
    "description",
    "default_status",
    "default_content",
    "default_content_type",
    "response_headers",
    "timeout",
    "listen",
    "cors",
    "request_limit",
    "expiry",
    "password_hash",
    "verifiers",
];

/// Binds the id, times and creator (?1 to ?5), then the settings.
static INSERT_BIN: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=5 + SETTINGS_COLUMNS.len())
        .map(|n| format!("?{n}"))
        .collect();
    format!(
        "INSERT INTO bins (id, created_at, updated_at, creator_ip, creator_user_agent, {})
         VALUES ({})",
        SETTINGS_COLUMNS.join(", "),
        placeholders.join(", ")
    )
});

/// Binds the id (?1) and `updated_at` (?2), then the settings.
static UPDATE_BIN: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> = SETTINGS_COLUMNS
        .iter()
        .zip(3..)
        .map(|(column, n)| format!("{column} = ?{n}"))
        .collect();
    format!(
        "UPDATE bins SET updated_at = ?2, {} WHERE id = ?1",
        assignments.join(", ")
    )
});

/// A bin's settings as the values of [`SETTINGS_COLUMNS`].
fn settings_values(settings: BinSettings) -> [Value; 13] {
    [
        Value::from(settings.alias),
        Value::from(settings.description),
        Value::from(settings.default_status),
        // A BLOB column: the body is stored as bytes.
        Value::Blob(settings.default_content.into_bytes()),
        Value::from(settings.default_content_type),
        Value::Blob(encode_response_headers(&settings.response_headers)),
        Value::from(settings.timeout),
        Value::from(settings.answer_wait_secs),
        Value::from(settings.cors),
        Value::from(settings.request_limit),
        Value::from(settings.expiry),
        Value::from(settings.password_hash),
        Value::from(codec::encode_verifiers(&settings.verifiers)),
    ]
}

const BIN_COLUMNS: &str = "id, created_at, updated_at, alias, description, default_status,
     default_content, default_content_type, response_headers, timeout, listen, cors,
     request_limit, expiry, creator_ip, creator_user_agent, password_hash, verifiers";

impl SqliteStore {
    pub async fn create_bin(&self, bin: Bin) -> Result<(), StoreError> {
        let row = bin.clone();
        let max_bins = self.max_bins;
        self.writer
            .write(move |conn| {
                if max_bins > 0 {
                    let bins = conn
                        .prepare_cached("SELECT count(*) FROM bins")?
                        .query_row([], super::count)?;
                    if bins >= max_bins {
                        return Err(StoreError::TooManyBins(max_bins));
                    }
                }
                refuse_taken_alias(conn, row.id, row.settings.alias.as_deref())?;
                let identity = [
                    Value::Blob(row.id.as_bytes().to_vec()),
                    Value::from(row.created_at.as_micros()),
                    Value::from(row.updated_at.as_micros()),
                    Value::from(row.creator_ip),
                    Value::from(row.creator_user_agent),
                ];
                conn.prepare_cached(&INSERT_BIN)?.execute(params_from_iter(
                    identity.into_iter().chain(settings_values(row.settings)),
                ))?;
                Ok(())
            })
            .await?;
        self.bins.set_alias(bin.id, bin.settings.alias.as_deref());
        self.bins.put(bin);
        Ok(())
    }

    /// The bin whose alias is `alias` (ignoring ASCII case), unless there
    /// is none or it has expired. Reads SQLite only on a bin cache miss.
    pub async fn bin_by_alias(&self, alias: &str) -> Result<Option<Arc<Bin>>, StoreError> {
        match self.bins.alias(alias) {
            Some(id) => self.bin(id).await,
            None => Ok(None),
        }
    }

    /// The bin with this id, unless it does not exist or has expired.
    /// Shared with the cache: a capture reads its bin without copying it.
    pub async fn bin(&self, id: Uuid) -> Result<Option<Arc<Bin>>, StoreError> {
        let now = Timestamp::now();
        if let Some(bin) = self.bins.get(id) {
            return Ok((!bin.is_expired(now)).then_some(bin));
        }
        let removals = self.bins.removals();
        let found = self
            .readers
            .read(move |conn| {
                conn.prepare_cached(&format!("SELECT {BIN_COLUMNS} FROM bins WHERE id = ?1"))?
                    .query_row([id], bin_row)
                    .optional()?
                    .transpose()
            })
            .await?;
        Ok(found.and_then(|bin| {
            let bin = Arc::new(bin);
            self.bins.put_read(Arc::clone(&bin), removals);
            (!bin.is_expired(now)).then_some(bin)
        }))
    }

    /// Replaces the settings of a bin and stamps `updated_at`; resolves to
    /// the updated bin.
    pub async fn update_bin(&self, id: Uuid, settings: BinSettings) -> Result<Bin, StoreError> {
        let mut bin = Bin::clone(&*self.bin(id).await?.ok_or(StoreError::UnknownBin)?);
        bin.settings = settings;
        bin.updated_at = Timestamp::now();
        let row = bin.clone();
        let updated = self
            .writer
            .write(move |conn| {
                refuse_taken_alias(conn, row.id, row.settings.alias.as_deref())?;
                let identity = [
                    Value::Blob(row.id.as_bytes().to_vec()),
                    Value::from(row.updated_at.as_micros()),
                ];
                Ok(conn.prepare_cached(&UPDATE_BIN)?.execute(params_from_iter(
                    identity.into_iter().chain(settings_values(row.settings)),
                ))?)
            })
            .await?;
        if updated == 0 {
            self.bins.remove(id);
            self.bins.forget_aliases(&[id]);
            return Err(StoreError::UnknownBin);
        }
        self.bins.set_alias(id, bin.settings.alias.as_deref());
        // The removal makes a read that raced with this update drop its
        // older copy instead of caching it.
        self.bins.remove(id);
        self.bins.put(bin.clone());
        Ok(bin)
    }

    /// Deletes a bin and every request in it; `false` when there was none.
    pub async fn delete_bin(&self, id: Uuid) -> Result<bool, StoreError> {
        self.bins.remove(id);
        let deleted = self
            .writer
            .write(move |conn| delete_bin_rows(conn, id))
            .await?;
        self.bins.remove(id);
        self.bins.forget_aliases(&[id]);
        Ok(deleted)
    }

    pub async fn count_bins(&self) -> Result<u64, StoreError> {
        self.readers
            .read(|conn| Ok(conn.query_row("SELECT count(*) FROM bins", [], super::count)?))
            .await
    }

    /// Deletes every bin that expired by `now`; resolves to their ids.
    pub async fn delete_expired_bins(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError> {
        let deleted = self
            .writer
            .write(move |conn| {
                let expired: Vec<Uuid> = conn
                    .prepare_cached(
                        "SELECT id FROM bins WHERE expiry IS NOT NULL
                           AND created_at + expiry * 1000000 <= ?1",
                    )?
                    .query_map([now.as_micros()], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                for &id in &expired {
                    delete_bin_rows(conn, id)?;
                }
                Ok(expired)
            })
            .await?;
        for &id in &deleted {
            self.bins.remove(id);
        }
        self.bins.forget_aliases(&deleted);
        Ok(deleted)
    }
}

impl SqliteStore {
    /// Retention: deletes requests received before `cutoff`, then bins
    /// created before it that have no request left (idle since). Runs as
    /// many short writer operations, so captures keep flowing meanwhile.
    pub async fn delete_before(
        &self,
        cutoff: Timestamp,
    ) -> Result<crate::store::Deleted, StoreError> {
        let first_kept = first_v7_at(cutoff);
        let bins: Vec<Uuid> = self
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached("SELECT id FROM bins")?;
                let ids = stmt.query_map([], |row| row.get(0))?;
                Ok(ids.collect::<Result<_, _>>()?)
            })
            .await?;
        let mut deleted = crate::store::Deleted::default();
        for bin in bins {
            loop {
                let n = self
                    .writer
                    .write(move |conn| {
                        super::requests::delete_oldest(
                            conn,
                            bin,
                            Some(first_kept),
                            i64::from(DELETE_CHUNK),
                        )
                    })
                    .await?;
                deleted.requests += n;
                if n < u64::from(DELETE_CHUNK) {
                    break;
                }
            }
        }
        let gone: Vec<Uuid> = self
            .writer
            .write(move |conn| {
                let idle: Vec<Uuid> = conn
                    .prepare_cached(
                        "SELECT id FROM bins WHERE created_at < ?1 AND NOT EXISTS
                         (SELECT 1 FROM requests WHERE bin_id = bins.id AND id >= ?2)",
                    )?
                    .query_map(params![cutoff.as_micros(), first_kept], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                for &id in &idle {
                    delete_bin_rows(conn, id)?;
                }
                Ok(idle)
            })
            .await?;
        for &id in &gone {
            self.bins.remove(id);
        }
        self.bins.forget_aliases(&gone);
        deleted.bins = gone.len() as u64;
        Ok(deleted)
    }
}

/// Requests deleted per writer operation during retention, so captures
/// queued behind a deletion wait for a short statement only.
const DELETE_CHUNK: u32 = 2_000;

/// The smallest UUID v7 of the millisecond `at`: every request id below it
/// was assigned before `at` (UUID v7 starts with big-endian Unix millis,
/// and SQLite compares blobs bytewise).
fn first_v7_at(at: Timestamp) -> Uuid {
    let millis = u64::try_from(at.as_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// Fails when another bin than `id` has `alias` (ignoring ASCII case, as
/// the unique index `bins_by_alias` compares). In the writer, so no other
/// write comes between the check and the write.
fn refuse_taken_alias(conn: &Connection, id: Uuid, alias: Option<&str>) -> Result<(), StoreError> {
    let Some(alias) = alias else {
        return Ok(());
    };
    let taken = conn
        .prepare_cached("SELECT 1 FROM bins WHERE alias = ?1 COLLATE NOCASE AND id != ?2")?
        .query_row(params![alias, id], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(StoreError::AliasTaken(alias.to_owned()));
    }
    Ok(())
}

fn delete_bin_rows(conn: &Connection, id: Uuid) -> Result<bool, StoreError> {
    super::search::unindex(conn, "SELECT seq FROM requests WHERE bin_id = ?1", [id])?;
    conn.prepare_cached("DELETE FROM requests WHERE bin_id = ?1")?
        .execute([id])?;
    Ok(conn
        .prepare_cached("DELETE FROM bins WHERE id = ?1")?
        .execute([id])?
        > 0)
}

fn encode_response_headers(headers: &[(String, String)]) -> Vec<u8> {
    let headers: Vec<Header> = headers
        .iter()
        .map(|(name, value)| Header::new(name.clone(), value.as_bytes()))
        .collect();
    codec::encode_headers(&headers)
}

/// Maps a row of [`BIN_COLUMNS`]; the inner error is a corrupt column.
fn bin_row(row: &Row<'_>) -> rusqlite::Result<Result<Bin, StoreError>> {
    let content: Vec<u8> = row.get(6)?;
    let headers: Vec<u8> = row.get(8)?;
    let Some(headers) = codec::decode_headers(&headers) else {
        return Ok(Err(StoreError::Corrupt("response headers")));
    };
    let Ok(default_content) = String::from_utf8(content) else {
        return Ok(Err(StoreError::Corrupt("default content")));
    };
    let verifiers = match codec::decode_verifiers(&row.get::<_, String>(17)?) {
        Ok(verifiers) => verifiers,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Bin {
        id: row.get(0)?,
        created_at: Timestamp(row.get(1)?),
        updated_at: Timestamp(row.get(2)?),
        settings: BinSettings {
            alias: row.get(3)?,
            description: row.get(4)?,
            default_status: row.get(5)?,
            default_content,
            default_content_type: row.get(7)?,
            response_headers: Header::pairs_lossy(&headers),
            timeout: row.get(9)?,
            answer_wait_secs: row.get(10)?,
            cors: row.get(11)?,
            request_limit: row.get(12)?,
            expiry: row.get(13)?,
            password_hash: row.get(16)?,
            verifiers,
        },
        creator_ip: row.get(14)?,
        creator_user_agent: row.get(15)?,
    }))
}
