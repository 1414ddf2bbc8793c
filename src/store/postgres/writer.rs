//! The instance's one capture writer: a thread with its own connection
//! (and a small runtime of its own, so the store works whichever runtime
//! the caller has) that takes every capture queued, writes them in ONE
//! transaction, commits, and only then answers each caller (group
//! commit): an answer means "committed". See the module doc of
//! `store::postgres` for the order (`commit_seq`) each batch takes.
//!
//! Each round trip to the database is a wake-up of both processes, paid
//! once per batch whatever its size; so the writer prepares its statements
//! once per connection, and sends those that do not wait for each other's
//! results together (tokio-postgres pipelines requests that are polled
//! together): a batch is BEGIN, [seqs, bin locks], [rows, counts,
//! notices], COMMIT, plus a delete for a bin over its limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::future::{try_join, try_join3};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

use super::{keep_cookie_secret, migrate, pg_error, search, NOTIFY_CHANNEL};
use crate::model::CapturedRequest;
use crate::store::{codec, StoreError, StoreObserver};

/// Most captures committed in one transaction; bounds commit latency.
const MAX_BATCH: usize = 1024;

/// Most body bytes (and words) sent in one batch: PostgreSQL refuses a
/// parameter of 1 GiB or more, and large bodies gain nothing from sharing
/// a commit.
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Longest a batch may take to commit before its captures fail.
const BATCH_TIMEOUT: Duration = Duration::from_secs(15);

struct Capture {
    req: CapturedRequest,
    /// The request's searchable words (a `tsvector`), made by the caller.
    words: String,
    reply: oneshot::Sender<Result<CapturedRequest, StoreError>>,
}

enum Message {
    Capture(Box<Capture>),
    /// Commit what is queued before this, then stop.
    Stop(oneshot::Sender<()>),
}

pub(super) struct Writer {
    queue: mpsc::UnboundedSender<Message>,
    running: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer thread, which connects, applies migrations and
    /// keeps the cookie secret (`fresh` on first start) before it takes
    /// captures; returns once that is done, with the secret.
    pub(super) fn start(
        config: tokio_postgres::Config,
        fresh: [u8; 32],
        request_cap: u32,
        tag: String,
        observer: &'static dyn StoreObserver,
    ) -> Result<(Self, [u8; 32]), StoreError> {
        let (queue, inbox) = mpsc::unbounded_channel();
        let (ready, started) = std::sync::mpsc::channel();
        let running = Arc::new(AtomicBool::new(true));
        let still_running = Arc::clone(&running);
        thread::Builder::new()
            .name("hookscope-pg-writer".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(run(RunParts {
                        config,
                        fresh,
                        rules: Rules {
                            cap: i64::from(request_cap),
                            tag,
                        },
                        observer,
                        inbox,
                        ready,
                    })),
                    Err(e) => {
                        let _ =
                            ready.send(Err(StoreError::Postgres(format!("writer runtime: {e}"))));
                    }
                }
                still_running.store(false, Ordering::SeqCst);
            })
            .map_err(|e| StoreError::Postgres(format!("writer thread: {e}")))?;
        let secret = started.recv().map_err(|_| StoreError::Closed)??;
        Ok((Self { queue, running }, secret))
    }

    /// Queues a capture; resolves once the transaction holding it
    /// committed, to the request with its id.
    pub(super) async fn insert(
        &self,
        mut req: CapturedRequest,
    ) -> Result<CapturedRequest, StoreError> {
        // The id is made here, before the words: an uploaded file's id
        // (which its words hold) derives from it. Lists and catch-up go by
        // seq, so ids need not ascend in commit order.
        req.id = Uuid::now_v7();
        let words = search::words_of(&req);
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Message::Capture(Box::new(Capture { req, words, reply })))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) fn ping(&self) -> Result<(), StoreError> {
        if self.running.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StoreError::Closed)
        }
    }

    /// Commits everything queued so far and stops the thread.
    pub(super) async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Message::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }
}

/// What every batch follows: the per-bin cap, and the tag its notices
/// carry so this instance's listener can tell them from other instances'.
struct Rules {
    cap: i64,
    tag: String,
}

struct RunParts {
    config: tokio_postgres::Config,
    fresh: [u8; 32],
    rules: Rules,
    observer: &'static dyn StoreObserver,
    inbox: mpsc::UnboundedReceiver<Message>,
    ready: std::sync::mpsc::Sender<Result<[u8; 32], StoreError>>,
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg_error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "database connection of the writer ended");
        }
    });
    Ok(client)
}

/// The writer's connection with its statements, prepared on it.
struct Connection {
    client: Client,
    statements: Statements,
}

impl Connection {
    /// Prepares the statements on `client` (after migrations: they name
    /// the tables).
    async fn prepare(client: Client) -> Result<Self, StoreError> {
        let statements = Statements::prepare(&client).await?;
        Ok(Self { client, statements })
    }
}

/// Takes `$1` numbers for a batch of that many captures; the row lock
/// it takes is the commit order (see the module doc of `store::postgres`).
const NEXT_SEQS: &str = "UPDATE commit_seq SET n = n + $1 WHERE id = 1 RETURNING n";
/// The bins' rows, locked in id order; a bin deleted since is missing.
const LOCK_BINS: &str = "SELECT id FROM bins WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";
/// The batch's rows, one array per column.
const INSERT_REQUESTS: &str = "
    INSERT INTO requests (seq, id, bin_id, received_at, method, path, query, version,
                          remote_addr, headers, body, size, words,
                          signature_provider, signature_valid, signature_reason)
    SELECT seq, id, bin_id, received_at, method, path, query, version,
           remote_addr, headers, body, size, words::tsvector,
           signature_provider, signature_valid, signature_reason
    FROM unnest($1::int8[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[],
                $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[],
                $11::bytea[], $12::int8[], $13::text[], $14::text[], $15::bool[],
                $16::text[])
         AS r(seq, id, bin_id, received_at, method, path, query, version,
              remote_addr, headers, body, size, words,
              signature_provider, signature_valid, signature_reason)";
/// Every bin's count, in one statement; says what each bin keeps.
const COUNT_REQUESTS: &str = "
    UPDATE bins SET request_count = request_count + added.n
    FROM unnest($1::uuid[], $2::int8[]) AS added(bin, n)
    WHERE bins.id = added.bin
    RETURNING bins.id, bins.request_count, bins.request_limit";
/// Delivered to listeners when (and only if) the batch commits.
const NOTIFY: &str = "SELECT pg_notify($1, notice) FROM unnest($2::text[]) AS notice";

struct Statements {
    next_seqs: Statement,
    lock_bins: Statement,
    insert_requests: Statement,
    count_requests: Statement,
    notify: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Self, StoreError> {
        let ((next_seqs, lock_bins, insert_requests), (count_requests, notify)) = try_join(
            try_join3(
                client.prepare(NEXT_SEQS),
                client.prepare(LOCK_BINS),
                client.prepare(INSERT_REQUESTS),
            ),
            try_join(client.prepare(COUNT_REQUESTS), client.prepare(NOTIFY)),
        )
        .await
        .map_err(pg_error)?;
        Ok(Self {
            next_seqs,
            lock_bins,
            insert_requests,
            count_requests,
            notify,
        })
    }
}

async fn run(parts: RunParts) {
    let RunParts {
        config,
        fresh,
        rules,
        observer,
        mut inbox,
        ready,
    } = parts;
    let setup = async {
        let mut client = connect(&config).await?;
        migrate(&mut client).await?;
        let secret = keep_cookie_secret(&client, fresh).await?;
        Ok::<_, StoreError>((Connection::prepare(client).await?, secret))
    };
    let mut connection = match setup.await {
        Ok((connection, secret)) => {
            let _ = ready.send(Ok(secret));
            Some(connection)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut batch: Vec<Capture> = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        let Some(first) = inbox.recv().await else {
            break;
        };
        let mut next = Some(first);
        let mut bytes = 0;
        while let Some(message) = next.take() {
            match message {
                Message::Capture(capture) => {
                    bytes += capture.req.body.len() + capture.words.len();
                    batch.push(*capture);
                }
                Message::Stop(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                next = inbox.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            // Seqs in id order within a batch: ids made by callers a moment
            // apart may have been queued the other way round.
            batch.sort_unstable_by_key(|capture| capture.req.id);
            commit_batch(&config, &mut connection, &mut batch, &rules, observer).await;
        }
    }
    drop(connection);
    tracing::debug!("writer stopped");
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Writes and commits one batch, connecting first when the connection
/// was lost, then answers every capture in it.
async fn commit_batch(
    config: &tokio_postgres::Config,
    connection: &mut Option<Connection>,
    batch: &mut Vec<Capture>,
    rules: &Rules,
    observer: &dyn StoreObserver,
) {
    let started = Instant::now();
    let size = batch.len();
    if connection
        .as_ref()
        .is_none_or(|connection| connection.client.is_closed())
    {
        *connection = None;
        match reconnect(config).await {
            Ok(connected) => *connection = Some(connected),
            Err(e) => {
                tracing::error!(error = %e, size, "batch not written: no database connection");
                for capture in batch.drain(..) {
                    let _ = capture.reply.send(Err(e.clone()));
                }
                return;
            }
        }
    }
    let Some(conn) = connection.as_mut() else {
        return;
    };
    // A database that stops answering fails the batch (unacknowledged)
    // rather than holding every capture behind it.
    let outcome = match tokio::time::timeout(BATCH_TIMEOUT, write(conn, batch, rules)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            // The connection is in an unknown state: start afresh.
            *connection = None;
            Err(StoreError::Unavailable(format!(
                "the database did not commit within {BATCH_TIMEOUT:?}"
            )))
        }
    };
    let outcomes: Vec<Result<bool, StoreError>> = match outcome {
        Ok(stored) => stored.into_iter().map(Ok).collect(),
        // The database refused something in the batch (not the
        // connection): each capture is tried alone, so one that cannot be
        // stored fails by itself, as a job of the SQLite writer does.
        Err(StoreError::Postgres(e)) if size > 1 => {
            tracing::warn!(error = %e, size, "batch refused; writing its captures one by one");
            let mut alone = Vec::with_capacity(size);
            for n in 0..size {
                let one = match connection.as_mut() {
                    Some(conn) => write(conn, &batch[n..=n], rules)
                        .await
                        .map(|stored| stored.first().copied().unwrap_or(false)),
                    None => Err(StoreError::Closed),
                };
                alone.push(one);
            }
            alone
        }
        Err(e) => {
            tracing::error!(error = %e, size, "batch commit failed");
            vec![Err(e); size]
        }
    };
    observer.batch_committed(size, started.elapsed());
    for (capture, outcome) in batch.drain(..).zip(outcomes) {
        let result = match outcome {
            Err(e) => Err(e),
            Ok(true) => Ok(capture.req),
            // Its bin was deleted since the capture found it.
            Ok(false) => Err(StoreError::UnknownBin),
        };
        // The caller may have gone away; the write stands either way.
        let _ = capture.reply.send(result);
    }
}

async fn reconnect(config: &tokio_postgres::Config) -> Result<Connection, StoreError> {
    Connection::prepare(connect(config).await?).await
}

/// The batch transaction; resolves to which captures were stored (those
/// whose bin still exists).
async fn write(
    connection: &mut Connection,
    batch: &[Capture],
    rules: &Rules,
) -> Result<Vec<bool>, StoreError> {
    let statements = &connection.statements;
    let tx = connection.client.transaction().await.map_err(pg_error)?;
    let size = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    let mut bins: Vec<Uuid> = batch.iter().map(|c| c.req.bin).collect();
    bins.sort_unstable();
    bins.dedup();
    // Sent together, run in this order: the commit order first, then the
    // bins' rows (see the module doc of `store::postgres` for the order of
    // locks).
    let (last, existing) = try_join(
        tx.query_one(&statements.next_seqs, &[&size]),
        tx.query(&statements.lock_bins, &[&bins]),
    )
    .await
    .map_err(pg_error)?;
    let last: i64 = last.get(0);
    let existing: Vec<Uuid> = existing.iter().map(|row| row.get(0)).collect();
    let mut rows = Rows::default();
    // Per stored bin: how many it gets, and its highest seq.
    let mut added: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    let mut stored = Vec::with_capacity(batch.len());
    for capture in batch.iter() {
        stored.push(existing.binary_search(&capture.req.bin).is_ok());
    }
    for (n, capture) in batch.iter().enumerate() {
        if !stored[n] {
            continue;
        }
        let seq = last - size + 1 + i64::try_from(n).unwrap_or(0);
        rows.push(seq, capture);
        let entry = added.entry(capture.req.bin).or_insert((0, seq));
        entry.0 += 1;
        entry.1 = seq;
    }
    if rows.seq.is_empty() {
        tx.commit().await.map_err(pg_error)?;
        return Ok(stored);
    }
    let (counted_bins, counts): (Vec<Uuid>, Vec<i64>) =
        added.iter().map(|(bin, (count, _))| (*bin, *count)).unzip();
    let notices: Vec<String> = added
        .iter()
        .map(|(bin, (_, highest))| format!("{bin} {highest} {}", rules.tag))
        .collect();
    let (_, counted, _) = try_join3(
        tx.execute(&statements.insert_requests, &rows.params()),
        tx.query(&statements.count_requests, &[&counted_bins, &counts]),
        tx.execute(&statements.notify, &[&NOTIFY_CHANNEL, &notices]),
    )
    .await
    .map_err(pg_error)?;
    // A bin over what it keeps (its own `request_limit`, at most the cap)
    // loses its oldest requests. Its row is locked by the batch already,
    // so instances never prune past the limit together.
    for row in counted {
        let (bin, count, limit): (Uuid, i64, Option<i64>) = (row.get(0), row.get(1), row.get(2));
        let keep = limit.map_or(rules.cap, |limit| limit.min(rules.cap));
        if count > keep {
            super::requests::delete_oldest(&tx, bin, None, count - keep).await?;
        }
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(stored)
}

/// A batch's rows, column by column, for one multi-row INSERT.
#[derive(Default)]
struct Rows<'a> {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    bin: Vec<Uuid>,
    received_at: Vec<i64>,
    method: Vec<&'a str>,
    path: Vec<&'a str>,
    query: Vec<Option<&'a str>>,
    version: Vec<&'a str>,
    remote_addr: Vec<&'a str>,
    headers: Vec<Vec<u8>>,
    body: Vec<&'a [u8]>,
    size: Vec<i64>,
    words: Vec<&'a str>,
    signature_provider: Vec<Option<&'a str>>,
    signature_valid: Vec<Option<bool>>,
    signature_reason: Vec<Option<&'a str>>,
}

impl<'a> Rows<'a> {
    /// The INSERT's parameters, in its column order.
    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 16] {
        [
            &self.seq,
            &self.id,
            &self.bin,
            &self.received_at,
            &self.method,
            &self.path,
            &self.query,
            &self.version,
            &self.remote_addr,
            &self.headers,
            &self.body,
            &self.size,
            &self.words,
            &self.signature_provider,
            &self.signature_valid,
            &self.signature_reason,
        ]
    }

    fn push(&mut self, seq: i64, capture: &'a Capture) {
        let req = &capture.req;
        self.seq.push(seq);
        self.id.push(req.id);
        self.bin.push(req.bin);
        self.received_at.push(req.received_at.as_micros());
        self.method.push(&req.method);
        self.path.push(&req.path);
        self.query.push(req.query.as_deref());
        self.version.push(&req.version);
        self.remote_addr.push(&req.remote_addr);
        self.headers.push(codec::encode_headers(&req.headers));
        self.body.push(&req.body[..]);
        self.size
            .push(i64::try_from(req.body.len()).unwrap_or(i64::MAX));
        self.words.push(&capture.words);
        let (provider, valid, reason) = codec::verdict_columns(req.signature.as_ref());
        self.signature_provider.push(provider);
        self.signature_valid.push(valid);
        self.signature_reason.push(reason);
    }
}
