//! The store: the database behind a narrow boundary, SQLite (default,
//! `sqlite/`) or PostgreSQL (`postgres/`, several instances on one
//! database). Model types and the plain types below go in and come out;
//! nothing here knows about HTTP, flags, metrics or where randomness comes
//! from (the caller passes a [`StoreConfig`], a fresh secret and a
//! [`StoreObserver`]). Handlers hold a [`Store`] and never know which
//! backend runs: `Store` is an enum over the two, and each of its methods
//! passes the call on (no trait objects, nothing boxed on the capture path).
//!
//! What a backend provides, as [`Store`]'s methods (both implement the same
//! list with the same promises):
//!
//! - **lifetime**: `open`, `close` (commit what is queued, then stop),
//!   `ping`, `cookie_secret` (the first one given, kept across restarts);
//! - **bins**: `create_bin` (refusing past `max_bins` and taken aliases),
//!   `bin`, `bin_by_alias` (expired bins are none), `update_bin`,
//!   `delete_bin`, `count_bins`;
//! - **requests**: `insert_request` (resolves once committed; requests
//!   come back from `requests_after` and lists in commit order, and each
//!   bin is pruned to its cap), `request`, `requests_after`,
//!   `list_requests`, `find_requests`, `find_summaries`, `count_requests`,
//!   `count_matching` (stops at a limit), `delete_request`,
//!   `delete_matching`, `clear_requests`;
//! - **search**: [`SearchQuery`] in [`RequestFilter`]s, answered over
//!   every request stored before the search; `index_pending`,
//!   `run_indexer` (fill the index off the capture path) and
//!   `index_skipped`, for a backend whose index lags behind its rows;
//! - **signatures**: `verify_again` (re-check a bin's stored requests
//!   with its verifiers, in batches; written once above `set_signatures`);
//! - **answers** (listen mode): `record_response`, `sent_response`;
//! - **resends**: `record_resend`, `resends` (deleted with their request);
//! - **housekeeping**: `delete_expired_bins`, `delete_before` (retention,
//!   in short steps).
//!
//! SQLite's own extras stay outside that list: [`migrations`] (tests and
//! tools build old databases with it) and `drop_idle_readers` (after the
//! file was replaced; nothing to do on PostgreSQL).

mod codec;
mod postgres;
mod resends;
mod search;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::model::{Bin, BinSettings, CapturedRequest, SentResponse, Timestamp};
use crate::signature::{Verdict, Verifier};
use postgres::PgStore;
pub use resends::{Resend, ResendOrigin, KEPT_ANSWER_BYTES, RESENDS_LISTED};
pub use search::{SearchQuery, Term};
pub use sqlite::migrations;
use sqlite::SqliteStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("database error: {0}")]
    Postgres(String),
    /// The database could not be reached (connection lost or refused):
    /// the call may succeed again once it is back.
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("no such bin")]
    UnknownBin,
    #[error("stored row is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("the store is shut down")]
    Closed,
    #[error("this server already holds its maximum of {0} bins")]
    TooManyBins(u64),
    #[error("the alias {0:?} is taken by another bin")]
    AliasTaken(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e.to_string())
    }
}

/// How durable a commit is; see README "Durability".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: a committed request survives a crash of the
    /// process; the last commits may be lost on power loss.
    Normal,
    /// `synchronous=FULL`: the WAL is fsynced at every commit (once per
    /// batch), so committed requests also survive power loss.
    Full,
}

/// Which database a store keeps its data in.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file; created on first start.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:pass@host:port/db`);
    /// several instances may share one database.
    Postgres(String),
}

impl Database {
    /// A `postgres://` or `postgresql://` URL names a PostgreSQL
    /// database; anything else is a SQLite file's path.
    pub fn parse(text: &str) -> Self {
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Self::Postgres(text.to_owned())
        } else {
            Self::Sqlite(PathBuf::from(text))
        }
    }

    /// The database for logs and error messages, without a password.
    pub fn display(&self) -> impl std::fmt::Display + '_ {
        DisplayDatabase(self)
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(text))
    }
}

impl From<&str> for Database {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<String> for Database {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        match path.to_str() {
            Some(text) => Self::parse(text),
            None => Self::Sqlite(path),
        }
    }
}

impl From<&PathBuf> for Database {
    fn from(path: &PathBuf) -> Self {
        Self::from(path.clone())
    }
}

impl From<&std::path::Path> for Database {
    fn from(path: &std::path::Path) -> Self {
        Self::from(path.to_owned())
    }
}

/// Debug output hides the password too: configs end up in logs.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f
                .debug_tuple("Postgres")
                .field(&self.display().to_string())
                .finish(),
        }
    }
}

struct DisplayDatabase<'a>(&'a Database);

impl std::fmt::Display for DisplayDatabase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => {
                // scheme://[user[:password]@]rest: the password goes.
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                match rest.rsplit_once('@') {
                    Some((user, host)) => {
                        let user = user.split_once(':').map_or(user, |(user, _)| user);
                        write!(f, "{scheme}://{user}:***@{host}")
                    }
                    None => write!(f, "{scheme}://{rest}"),
                }
            }
        }
    }
}

/// What a store is opened with: plain values, which the caller builds from
/// its own settings (the store knows nothing of flags or files of settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub db: Database,
    /// SQLite's commit mode. PostgreSQL commits as its server is set up
    /// (`synchronous_commit`, on by default: a commit is flushed).
    pub durability: Durability,
    /// Most bins the database may hold, beyond which creating one fails
    /// with [`StoreError::TooManyBins`]; 0: no limit.
    pub max_bins: u64,
    /// Most requests any bin keeps (its own `request_limit` may be lower);
    /// the oldest beyond it are pruned as new ones arrive.
    pub request_cap: u32,
}

impl StoreConfig {
    /// The database `db` (a SQLite path or a PostgreSQL URL, see
    /// [`Database::parse`]) with every other setting at its default.
    pub fn new(db: impl Into<Database>) -> Self {
        Self {
            db: db.into(),
            durability: Durability::Normal,
            max_bins: 0,
            request_cap: DEFAULT_REQUEST_CAP,
        }
    }
}

/// Told what the store does, for whoever counts it (the metrics registry);
/// the store itself keeps no process-wide figures.
pub trait StoreObserver: Send + Sync {
    /// The writer applied one batch of `size` operations and committed it
    /// (or failed to) in `elapsed`.
    fn batch_committed(&self, size: usize, elapsed: Duration);
}

/// An observer that notes nothing: for tools and tests.
pub struct Unobserved;

impl StoreObserver for Unobserved {
    fn batch_committed(&self, _size: usize, _elapsed: Duration) {}
}

/// One line of a bin's request list: everything but the body and all
/// headers but its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    pub id: Uuid,
    pub received_at: Timestamp,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub remote_addr: String,
    pub size: usize,
    /// The `Content-Type` header, when the request has one.
    pub content_type: Option<String>,
    /// The signature check's verdict, when the bin had a verifier.
    pub signature: Option<Verdict>,
}

/// What a "verify again" ([`Store::verify_again`]) found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rechecked {
    /// Requests checked (every one the bin had).
    pub checked: u64,
    pub valid: u64,
    pub invalid: u64,
}

/// Requests read and re-checked per step of a "verify again": each step's
/// write is short, so captures queued behind it barely wait, and a step
/// holds few bodies in memory (each may be as large as the body limit).
const VERIFY_BATCH: u32 = 32;

/// Which slice of a bin's requests to list, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u32,
}

/// How far past the page being shown a filtered count goes before it stops
/// and says "at least": paging never needs more, and a term matching every
/// one of a million requests stays as quick to list as a rare one.
pub const COUNT_AHEAD: u64 = 10_000;

/// How many requests matched, as far as the count went: `n` is exact, or
/// the limit the count stopped at (`exact` false: at least `n` match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub n: u64,
    pub exact: bool,
}

/// Which of a bin's requests to find, and in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub query: SearchQuery,
    /// Received at or after (inclusive).
    pub from: Option<Timestamp>,
    /// Received at or before (inclusive).
    pub to: Option<Timestamp>,
    /// Committed after this request (by its place in commit order, as
    /// `requests_after` reads it, even if it was deleted since): a waiting
    /// client's cursor.
    pub after: Option<Uuid>,
    pub oldest_first: bool,
}

impl RequestFilter {
    pub fn is_everything(&self) -> bool {
        self.query.is_empty() && self.from.is_none() && self.to.is_none() && self.after.is_none()
    }
}

/// Most requests a bin keeps when neither it nor the server says otherwise.
pub const DEFAULT_REQUEST_CAP: u32 = 10_000;

/// Handle to the database, whichever backend holds it; cheap to clone.
#[derive(Clone)]
pub struct Store(Backend);

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub requests: u64,
    pub bins: u64,
}

impl Store {
    /// Opens (creating if needed) the database `config` names, applies
    /// pending migrations and starts the writer. `fresh_secret` becomes
    /// the cookie secret if the database has none yet (its first start);
    /// the caller makes it, from a source of randomness of its choosing.
    /// `observer` is told of every writer batch.
    pub fn open(
        config: &StoreConfig,
        fresh_secret: [u8; 32],
        observer: &'static dyn StoreObserver,
    ) -> Result<Self, StoreError> {
        match &config.db {
            Database::Sqlite(path) => Ok(Self(Backend::Sqlite(SqliteStore::open(
                path,
                config,
                fresh_secret,
                observer,
            )?))),
            Database::Postgres(url) => Ok(Self(Backend::Postgres(PgStore::open(
                url,
                config,
                fresh_secret,
                observer,
            )?))),
        }
    }

    /// The secret that signs browsers' cookies: the one given to `open` on
    /// the database's first start, the same after every restart.
    pub fn cookie_secret(&self) -> [u8; 32] {
        match &self.0 {
            Backend::Sqlite(s) => s.cookie_secret(),
            Backend::Postgres(p) => p.cookie_secret(),
        }
    }

    /// Closes idle read connections; reads open new ones as needed (after
    /// a SQLite file was replaced, say).
    pub fn drop_idle_readers(&self) {
        match &self.0 {
            Backend::Sqlite(s) => s.drop_idle_readers(),
            // Nothing to drop: connections are to a server, not a file.
            Backend::Postgres(_) => {}
        }
    }

    /// Requests the search indexer skipped since the start, because it
    /// could not read or index them.
    pub fn index_skipped(&self) -> u64 {
        match &self.0 {
            Backend::Sqlite(s) => s.index_skipped(),
            // Words are indexed with their request, never skipped.
            Backend::Postgres(_) => 0,
        }
    }

    /// Fills the search index whenever captures pause, until `stop`.
    pub async fn run_indexer(&self, stop: &tokio_util::sync::CancellationToken) {
        match &self.0 {
            Backend::Sqlite(s) => s.run_indexer(stop).await,
            Backend::Postgres(_) => stop.cancelled().await,
        }
    }
}

/// What a store hears of other processes' writes (several instances on
/// one database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Requests were committed into this bin by another instance.
    Committed(Uuid),
    /// Notices may have been lost (the connection that hears them dropped):
    /// whatever watches a bin should read the store again.
    Missed,
    /// An answer for this request was relayed through the database
    /// ([`Store::relay_answer`]); the instance whose capture waits takes
    /// it ([`Store::take_relayed_answer`]).
    Answer(Uuid),
}

impl Store {
    /// Notices of what other instances commit, for as long as the receiver
    /// lives; `None` when no other process can write (SQLite: one writer).
    pub fn notices(&self) -> Option<tokio::sync::mpsc::Receiver<Notice>> {
        match &self.0 {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.notices()),
        }
    }

    /// A page of a bin's request list, newest first: every backend answers
    /// it as a search with no terms.
    pub async fn list_requests(
        &self,
        bin: Uuid,
        page: Page,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        self.find_summaries(bin, RequestFilter::default(), page)
            .await
    }

    /// How many of a bin's requests match `filter`, counting no further
    /// than `limit`. An unfiltered count is always exact: every backend
    /// keeps each bin's count.
    pub async fn count_matching(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        limit: u64,
    ) -> Result<Count, StoreError> {
        if filter.is_everything() {
            let n = self.count_requests(bin).await?;
            return Ok(Count { n, exact: true });
        }
        match &self.0 {
            Backend::Sqlite(s) => s.count_matching(bin, filter, limit).await,
            Backend::Postgres(p) => p.count_matching(bin, filter, limit).await,
        }
    }

    /// "Verify again": checks every request of `bin` stored so far against
    /// `verifiers` (the bin's, usually just changed) and stores the new
    /// verdicts. Works in batches, each one short write, so captures keep
    /// flowing meanwhile; requests captured during it are checked on
    /// capture already.
    pub async fn verify_again(
        &self,
        bin: Uuid,
        verifiers: &[Verifier],
    ) -> Result<Rechecked, StoreError> {
        let mut tally = Rechecked::default();
        let mut after = None;
        loop {
            let batch = self.requests_after(bin, after, VERIFY_BATCH).await?;
            let Some(last) = batch.last() else {
                break;
            };
            after = Some(last.id);
            let full = batch.len() == VERIFY_BATCH as usize;
            // Hashing a batch of bodies (up to the body limit each) is CPU
            // work: off the async threads that answer captures.
            let owned = verifiers.to_vec();
            let verdicts: Vec<(Uuid, Option<Verdict>)> = tokio::task::spawn_blocking(move || {
                batch
                    .iter()
                    .map(|req| (req.id, req.verify(&owned)))
                    .collect()
            })
            .await
            .map_err(|_| StoreError::Closed)?;
            for (_, verdict) in &verdicts {
                tally.checked += 1;
                match verdict {
                    Some(v) if v.valid => tally.valid += 1,
                    Some(_) => tally.invalid += 1,
                    None => {}
                }
            }
            match &self.0 {
                Backend::Sqlite(s) => s.set_signatures(bin, verdicts).await?,
                Backend::Postgres(p) => p.set_signatures(bin, verdicts).await?,
            }
            if !full {
                break;
            }
        }
        Ok(tally)
    }

    /// Whether other instances may write to this database too (PostgreSQL;
    /// a SQLite file has one writer).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Backend::Postgres(_))
    }

    /// Notes (or clears) that a relaying forwarder of `bin` is connected
    /// to this instance, for the others to see; called again to keep the
    /// note alive. Nothing to do with one instance (SQLite).
    pub async fn answerer_present(&self, bin: Uuid, present: bool) -> Result<(), StoreError> {
        match &self.0 {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(p) => p.answerer_present(bin, present).await,
        }
    }

    /// Whether another instance has a relaying forwarder of `bin`.
    pub async fn answerer_elsewhere(&self, bin: Uuid) -> Result<bool, StoreError> {
        match &self.0 {
            Backend::Sqlite(_) => Ok(false),
            Backend::Postgres(p) => p.answerer_elsewhere(bin).await,
        }
    }

    /// Hands an answer for request `id` of `bin` to whichever other
    /// instance's capture waits for it; `false` when there is no other
    /// instance (SQLite).
    pub async fn relay_answer(
        &self,
        bin: Uuid,
        id: Uuid,
        answer: SentResponse,
    ) -> Result<bool, StoreError> {
        match &self.0 {
            Backend::Sqlite(_) => Ok(false),
            Backend::Postgres(p) => p.relay_answer(bin, id, answer).await,
        }
    }

    /// Takes a relayed answer for request `id` (see [`Notice::Answer`]):
    /// its bin and the answer, to one taker only.
    pub async fn take_relayed_answer(
        &self,
        id: Uuid,
    ) -> Result<Option<(Uuid, SentResponse)>, StoreError> {
        match &self.0 {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(p) => p.take_relayed_answer(id).await,
        }
    }
}

/// Each listed method of [`Store`] passes the call on to its backend.
macro_rules! pass_on {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        impl Store {$(
            $(#[$doc])*
            pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match &self.0 {
                    Backend::Sqlite(s) => s.$name($($arg),*).await,
                    Backend::Postgres(p) => p.$name($($arg),*).await,
                }
            }
        )*}
    };
}

pass_on! {
    /// Commits everything queued, stops the writer and closes the
    /// database's connections, so it can be opened again at once (a
    /// restart in the same process). Later writes fail.
    fn close(&self) -> ();
    /// Answers when the database can be read and the writer commits.
    fn ping(&self) -> Result<(), StoreError>;

    /// Creates a bin; refuses past `max_bins` and an alias another bin has.
    fn create_bin(&self, bin: Bin) -> Result<(), StoreError>;
    /// The bin whose alias is `alias` (ignoring ASCII case), unless there
    /// is none or it has expired.
    fn bin_by_alias(&self, alias: &str) -> Result<Option<Arc<Bin>>, StoreError>;
    /// The bin with this id, unless it does not exist or has expired.
    fn bin(&self, id: Uuid) -> Result<Option<Arc<Bin>>, StoreError>;
    /// Replaces the settings of a bin and stamps `updated_at`; resolves to
    /// the updated bin.
    fn update_bin(&self, id: Uuid, settings: BinSettings) -> Result<Bin, StoreError>;
    /// Deletes a bin and every request in it; `false` when there was none.
    fn delete_bin(&self, id: Uuid) -> Result<bool, StoreError>;
    fn count_bins(&self) -> Result<u64, StoreError>;
    /// Deletes every bin that expired by `now`; resolves to their ids.
    fn delete_expired_bins(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError>;
    /// Retention: deletes requests received before `cutoff`, then bins
    /// created before it that have no request left (idle since), in short
    /// steps, so captures keep flowing meanwhile.
    fn delete_before(&self, cutoff: Timestamp) -> Result<Deleted, StoreError>;

    /// Stores one captured request and resolves, once it is committed, to
    /// the request with its id (UUID v7). A reader that has seen a request
    /// (`requests_after`) has seen every request committed before it.
    fn insert_request(&self, req: CapturedRequest) -> Result<CapturedRequest, StoreError>;
    /// One request of a bin, with headers and body.
    fn request(&self, bin: Uuid, id: Uuid) -> Result<Option<CapturedRequest>, StoreError>;
    /// Requests of a bin committed after the request `after` (all of them
    /// when `None`), oldest first, at most `limit`: the live feed's
    /// catch-up, which must never skip one.
    fn requests_after(
        &self,
        bin: Uuid,
        after: Option<Uuid>,
        limit: u32
    ) -> Result<Vec<CapturedRequest>, StoreError>;
    fn count_requests(&self, bin: Uuid) -> Result<u64, StoreError>;
    /// A page of a bin's requests matching `filter`, with headers and body.
    fn find_requests(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        page: Page
    ) -> Result<Vec<CapturedRequest>, StoreError>;
    /// A page of a bin's request list (no headers or bodies) matching
    /// `filter`.
    fn find_summaries(
        &self,
        bin: Uuid,
        filter: RequestFilter,
        page: Page
    ) -> Result<Vec<RequestSummary>, StoreError>;
    /// Deletes one request of a bin; `false` when there was none.
    fn delete_request(&self, bin: Uuid, id: Uuid) -> Result<bool, StoreError>;
    /// Deletes the requests of a bin that match `filter` (all of them when
    /// it filters nothing); resolves to how many were deleted.
    fn delete_matching(&self, bin: Uuid, filter: RequestFilter) -> Result<u64, StoreError>;
    /// Deletes every request of a bin, keeping the bin; resolves to how
    /// many there were.
    fn clear_requests(&self, bin: Uuid) -> Result<u64, StoreError>;
    /// Indexes stored requests that are not in the search index yet; a
    /// search does this first, so it sees every request stored before it.
    fn index_pending(&self) -> Result<u64, StoreError>;

    /// Notes what a capture awaiting a relayed answer answered its sender.
    fn record_response(&self, bin: Uuid, id: Uuid, sent: SentResponse) -> Result<(), StoreError>;
    /// What a capture awaiting a relayed answer answered; `None` for other
    /// captures.
    fn sent_response(&self, bin: Uuid, id: Uuid) -> Result<Option<SentResponse>, StoreError>;

    /// Stores one resend of a request (deleted with the request).
    fn record_resend(&self, resend: Resend) -> Result<(), StoreError>;
    /// The resends of one request of a bin, newest first, at most `limit`.
    fn resends(&self, bin: Uuid, request: Uuid, limit: u32) -> Result<Vec<Resend>, StoreError>;
}
