//! The PostgreSQL backend: any number of hookscope instances on one
//! database. Captures go through one writer per instance (`writer.rs`: a
//! thread with its own connection that commits everything queued in one
//! transaction, then answers); every other call runs on a pooled
//! connection (deadpool). The schema is embedded (`migrations/postgres/`)
//! and applied at start under an advisory lock, so instances starting
//! together apply it once.
//!
//! # Order without gaps
//!
//! `requests_after(bin, after)` (the live feed's catch-up, `?after=`, the
//! forwarder's reconnect) must never skip a request that commits late.
//! Numbers handed out by concurrent transactions (a sequence, or UUID v7
//! ids made on different machines) are not committed in their order: a
//! reader that saw 11 may later meet 10, committed after it. So each
//! request gets a `seq` from the one-row table `commit_seq`: a writer
//! batch takes `UPDATE commit_seq SET n = n + <batch size> RETURNING n`
//! first, and the row lock that update takes is held until the batch's
//! COMMIT. A second batch (of this instance or another) blocks on that
//! row until the first commits, and then gets higher numbers. Why that is
//! enough: PostgreSQL makes a transaction visible to new snapshots before
//! it releases its locks. If a reader's snapshot sees a row with seq `s`,
//! its batch committed before the snapshot; every batch that took lower
//! numbers released the row before that batch could take it, hence was
//! visible before that batch committed, hence is in the same snapshot
//! (or rolled back, leaving a gap no one will ever fill). So "seq greater
//! than the last seen" never misses a committed row. `after = <request
//! id>` means "seq greater than that request's seq". A cursor at a
//! request deleted since (pruned, say) stands for the highest seq at or
//! below its id in its bin: ids are made as captures are queued and each
//! batch numbers its captures in id order, so that is the cursor's place
//! but for captures made at the same moment on another instance (a
//! deleted cursor is the one case where ids, not seqs, decide). Lists are
//! ordered by seq where SQLite orders by id.
//!
//! Locks are always taken in one order, so transactions never deadlock:
//! `commit_seq` (writer batches only), then bin rows (in id order), then
//! request rows.
//!
//! # Across instances
//!
//! Limits hold in SQL: `max_bins` under a transaction-level advisory lock,
//! the per-bin cap with the bin's `request_count` updated under its row
//! lock in the batch that inserts. Bins are not cached (another instance
//! may change them). Background jobs (expiry, retention) run on one
//! instance at a time (a session advisory lock; another instance's round
//! waits for it, on a pooled connection, then finds little left), in
//! short transactions that never hold `commit_seq`: captures never wait
//! for a job longer than one short statement on their bin's row. After
//! each batch the writer sends `NOTIFY hookscope_requests, '<bin> <seq>
//! <instance tag>'` (one per bin in the batch: its highest seq; ids, never
//! bodies) inside the batch transaction, so listeners hear of it exactly
//! when it commits; each instance listens (`notices.rs`) and rings its
//! live viewers of that bin, which read the new requests from the
//! database (one read per bin per instance: the hub's tail, see
//! `live::hub`).
//!
//! A lost connection fails the calls that needed it with
//! [`StoreError::Unavailable`] (a capture not committed is never
//! acknowledged); the pool and the writer connect again by themselves.

mod bins;
mod notices;
mod relay;
mod requests;
mod resends;
mod search;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{StoreConfig, StoreError, StoreObserver};
use writer::Writer;

/// The schema's migrations, in order, compiled into the binary.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_relayed_answers.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_signatures.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_resends.sql"),
    ),
];

/// Advisory lock keys (one namespace per database): applying migrations,
/// creating a bin under `max_bins`, and the background jobs.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_0001;
const BIN_COUNT_LOCK: i64 = 0x686f_6f6b_0002;
const JOBS_LOCK: i64 = 0x686f_6f6b_0003;

/// The channel the writer notifies after each batch.
pub(super) const NOTIFY_CHANNEL: &str = "hookscope_requests";

/// How long a call waits for a connection (or to make one) before it
/// fails as unavailable, and the longest a connection attempt takes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle time after which TCP keepalives probe a database connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);

/// Most pooled connections per instance (the writer has its own).
const POOL_SIZE: usize = 16;

#[derive(Clone)]
pub(super) struct PgStore(Arc<Parts>);

impl std::ops::Deref for PgStore {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

pub(super) struct Parts {
    pool: Pool,
    writer: Writer,
    /// Where the listener for other instances' notices connects.
    listen_config: tokio_postgres::Config,
    /// The tag this instance's writer puts on its notices.
    tag: String,
    max_bins: u64,
    cookie_secret: [u8; 32],
}

impl PgStore {
    /// Connects, applies pending migrations (under an advisory lock) and
    /// starts the writer. Blocks the calling thread until the database
    /// answered, on a thread of its own: callers open stores from inside
    /// and outside of async code alike.
    pub(super) fn open(
        url: &str,
        config: &StoreConfig,
        fresh_secret: [u8; 32],
        observer: &'static dyn StoreObserver,
    ) -> Result<Self, StoreError> {
        let mut pg_config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Postgres(format!("bad database URL: {e}")))?;
        if pg_config.get_connect_timeout().is_none() {
            pg_config.connect_timeout(CONNECT_TIMEOUT);
        }
        pg_config.application_name("hookscope");
        // Notices such as "relation … already exists, skipping" (migrations
        // on an existing database) are not worth a log line at each start.
        pg_config.options("-c client_min_messages=warning");
        // A peer gone without a word (a dead host, a cut network) is
        // noticed in seconds rather than the system's two hours.
        pg_config.keepalives_idle(KEEPALIVE_IDLE);
        // Tells this instance's notices from other instances'.
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let (writer, cookie_secret) = Writer::start(
            pg_config.clone(),
            fresh_secret,
            config.request_cap,
            tag.clone(),
            observer,
        )?;
        let pg_config_for_notices = pg_config.clone();
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?;
        Ok(Self(Arc::new(Parts {
            pool,
            writer,
            listen_config: pg_config_for_notices,
            tag,
            max_bins: config.max_bins,
            cookie_secret,
        })))
    }

    /// Starts hearing what other instances commit (see `notices`).
    pub(super) fn notices(&self) -> tokio::sync::mpsc::Receiver<super::Notice> {
        notices::spawn(self.listen_config.clone(), &self.tag)
    }

    pub(super) fn cookie_secret(&self) -> [u8; 32] {
        self.cookie_secret
    }

    /// Commits what is queued, stops the writer and closes the pool.
    pub(super) async fn close(&self) {
        self.writer.stop().await;
        self.pool.close();
    }

    /// Answers when the database answers a query on a pooled connection
    /// and the writer is running.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await.map_err(pg_error)?;
        self.writer.ping()
    }

    /// A pooled connection; unavailable when none can be had in time.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => pg_error(e),
            e => StoreError::Unavailable(e.to_string()),
        })
    }

    /// Runs `job` on one pooled connection holding the background jobs'
    /// advisory lock, so one instance at a time runs one: a sweep started
    /// while another instance's runs waits for it, then finds what is
    /// left (little). The lock is a session lock, released right after
    /// (or with the session, should the connection break).
    async fn as_the_one_job_runner<T, F, Fut>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = (deadpool_postgres::Object, Result<T, StoreError>)>,
    {
        let client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&JOBS_LOCK])
            .await
            .map_err(pg_error)?;
        let (client, result) = job(client).await;
        // Should the unlock fail, the connection is broken and its session
        // (and lock) ends with it.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&JOBS_LOCK])
            .await;
        result
    }
}

/// A PostgreSQL error as the store's: a lost or refused connection (and
/// the server shutting down) is [`StoreError::Unavailable`].
fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // Class 08: connection exception; 57P: operator intervention
        // (shutdown, crash of another backend).
        if code.starts_with("08") || code.starts_with("57P") {
            return StoreError::Unavailable(db.message().to_owned());
        }
        return StoreError::Postgres(format!("{} ({code})", db.message()));
    }
    let mut text = e.to_string();
    if let Some(source) = std::error::Error::source(&e) {
        text = format!("{text}: {source}");
    }
    StoreError::Unavailable(text)
}

/// A column that could not be read as its Rust type: a schema out of step.
fn column(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(e.to_string())
}

/// Applies pending migrations on `client`, under a session advisory lock
/// so instances starting together apply each once.
async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let failed = |e: tokio_postgres::Error| match pg_error(e) {
        StoreError::Postgres(e) => StoreError::Migration(e),
        other => other,
    };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    let applied = apply_migrations(client).await.map_err(failed);
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    applied
}

async fn apply_migrations(
    client: &mut tokio_postgres::Client,
) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hookscope_migrations (
                 version    integer     NOT NULL PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let current: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM hookscope_migrations",
            &[],
        )
        .await?
        .get(0);
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO hookscope_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "database migration applied");
    }
    Ok(())
}

/// Reads the cookie secret, storing `fresh` as it on first start.
async fn keep_cookie_secret(
    client: &tokio_postgres::Client,
    fresh: [u8; 32],
) -> Result<[u8; 32], StoreError> {
    client
        .execute(
            "INSERT INTO cookie_secret (id, value) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&&fresh[..]],
        )
        .await
        .map_err(pg_error)?;
    let kept: Vec<u8> = client
        .query_one("SELECT value FROM cookie_secret WHERE id = 1", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    kept.try_into()
        .map_err(|_| StoreError::Corrupt("the stored cookie secret is not 32 bytes"))
}
