//! The one writer thread. It owns the only write connection, takes
//! everything queued, applies it in ONE transaction, commits, and only then
//! answers each waiting caller (group commit): an answer means "on disk".

use std::sync::mpsc;
use std::thread;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::checkpoint::Tail;
use crate::store::{StoreError, StoreObserver};

/// What runs at the end of every batch, before its commit.
pub(super) type BeforeCommit = Box<dyn FnMut(&Connection) -> Result<(), StoreError> + Send>;

/// Most operations committed in one transaction; bounds commit latency.
const MAX_BATCH: usize = 1024;

/// A queued write: applied inside the batch transaction, then told whether
/// the batch committed.
trait Job: Send {
    fn apply(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct Write<F, T> {
    op: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Job for Write<F, T>
where
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
    T: Send,
{
    fn apply(&mut self, conn: &Connection) {
        if let Some(op) = self.op.take() {
            self.outcome = Some(op(conn));
        }
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let result = match (commit, self.outcome) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (client disconnected); the write
        // stands either way.
        let _ = self.reply.send(result);
    }
}

enum Message {
    Job(Box<dyn Job>),
    /// Commit what is queued before this, then stop.
    Stop(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the thread. `before_commit` runs at the end of each batch,
    /// inside its transaction (an error rolls the batch back); between
    /// batches the thread copies the WAL tail that `tail` says is due.
    /// `observer` is told of each batch once it is done.
    pub(super) fn start(
        conn: Connection,
        tail: Tail,
        mut before_commit: BeforeCommit,
        observer: &'static dyn StoreObserver,
    ) -> std::io::Result<Self> {
        let (queue, inbox) = mpsc::channel();
        thread::Builder::new()
            .name("hookscope-writer".into())
            .spawn(move || run(conn, &inbox, &tail, &mut before_commit, observer))?;
        Ok(Self { queue })
    }

    /// Queues `op`; resolves once the transaction holding it has committed.
    /// Single-statement ops are atomic by themselves; an op of several
    /// statements must leave nothing behind when it fails (use a savepoint).
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Write {
            op: Some(op),
            outcome: None,
            reply,
        };
        self.queue
            .send(Message::Job(Box::new(job)))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits everything queued so far and stops the thread.
    pub(super) async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Message::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }
}

fn run(
    mut conn: Connection,
    inbox: &mpsc::Receiver<Message>,
    tail: &Tail,
    before_commit: &mut BeforeCommit,
    observer: &dyn StoreObserver,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        let Ok(first) = inbox.recv() else { break };
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => batch.push(job),
                Message::Stop(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = inbox.try_recv().ok();
            }
        }
        commit_batch(&mut conn, &mut batch, before_commit, observer);
        tail.after_commit(&conn);
    }
    // Closed before saying so: a store opened on the same file next (a
    // restart) must not meet this connection's locks.
    drop(conn);
    tracing::debug!("writer stopped");
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

fn commit_batch(
    conn: &mut Connection,
    batch: &mut Vec<Box<dyn Job>>,
    before_commit: &mut BeforeCommit,
    observer: &dyn StoreObserver,
) {
    if batch.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let size = batch.len();
    // IMMEDIATE: the write lock is taken first, waiting (busy timeout) if
    // the checkpoint thread holds it. A deferred transaction that read
    // first (the search indexer does) would get SQLITE_BUSY at its first
    // write without waiting, and fail every capture in its batch.
    let commit = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => {
            for job in batch.iter_mut() {
                job.apply(&tx);
            }
            // On error, dropping `tx` rolls the batch back.
            before_commit(&tx).and_then(|()| tx.commit().map_err(StoreError::from))
        }
        Err(e) => Err(StoreError::from(e)),
    };
    if let Err(e) = &commit {
        tracing::error!(error = %e, size, "batch commit failed");
    }
    observer.batch_committed(size, started.elapsed());
    for job in batch.drain(..) {
        job.finish(commit.clone());
    }
}
