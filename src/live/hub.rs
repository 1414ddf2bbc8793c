//! The hub: in-process fan-out of new requests to the live viewers of their
//! bin. One broadcast channel per bin, created by the first viewer and
//! dropped with the last. Publishing never waits: a viewer that falls more
//! than the channel's capacity behind is told it lagged (and its feed
//! catches up from the store, see `live::feed`).
//!
//! On a store several instances share, feeds take only the signal from the
//! channel and read the requests from the store in its commit order. Each
//! watched bin then keeps a [`Tail`]: its newest requests in commit order,
//! filled by one store read at a time whatever the viewers' cursors, so a
//! capture seen by a hundred viewers costs one read, and its live-feed
//! message is encoded once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::model::CapturedRequest;
use crate::store::StoreError;

/// Messages a viewer may fall behind before it is told it lagged.
const CHANNEL_CAPACITY: usize = 256;
/// Requests a bin's tail keeps; a feed whose cursor is older reads the
/// store itself.
const TAIL_LENGTH: usize = 2048;
/// Requests one store read asks for.
pub const READ_CHUNK: u32 = 500;

/// One request on its way to live viewers, shared by all of them.
#[derive(Debug)]
pub struct Published {
    pub request: CapturedRequest,
    /// Its live-feed message, encoded by the first viewer that sends it and
    /// reused by every other (see `Published::feed_message`).
    pub(super) message: OnceLock<String>,
}

impl Published {
    pub fn new(request: CapturedRequest) -> Self {
        Self {
            request,
            message: OnceLock::new(),
        }
    }
}

/// What a bin's channel carries.
#[derive(Debug, Clone)]
pub enum Signal {
    /// A request this process committed.
    Request(Arc<Published>),
    /// Requests were committed elsewhere (another instance on the same
    /// database): viewers read them from the store.
    StoredElsewhere,
}

/// Stored requests of a bin after a cursor, `READ_CHUNK` at most, in
/// commit order.
pub type Read = Result<Vec<CapturedRequest>, StoreError>;

/// What a bin's tail gives a viewer (see [`Subscription::read_after`]).
pub struct FromTail {
    /// The requests after the viewer's cursor, in commit order.
    pub requests: Vec<Arc<Published>>,
    /// Whether they include every request signalled up to the generation
    /// the viewer asked for.
    pub complete: bool,
}

/// A bin's newest requests in commit order, as this instance's store reads
/// gave them: nothing committed to the bin falls between `start` and the
/// first, or between two neighbours.
struct Tail {
    /// The request just before the first one kept (the nil id: the bin's
    /// beginning); `None` until the first read.
    start: Option<Uuid>,
    requests: VecDeque<Arc<Published>>,
    /// The bin's generation when the newest read that reached the end of
    /// the bin began: the tail holds every request signalled up to it.
    covered: u64,
    /// The last read's error and the generation it began at: viewers
    /// waiting for that read take its error rather than each trying (and
    /// waiting for a database that does not answer) in turn.
    failed: Option<(u64, StoreError)>,
}

impl Tail {
    /// Where the requests after `cursor` begin, if the tail knows.
    fn position(&self, cursor: Uuid) -> Option<usize> {
        if self.start == Some(cursor) {
            return Some(0);
        }
        // Cursors are usually near the end.
        self.requests
            .iter()
            .rposition(|published| published.request.id == cursor)
            .map(|at| at + 1)
    }

    fn end(&self) -> Option<Uuid> {
        self.requests
            .back()
            .map(|published| published.request.id)
            .or(self.start)
    }

    fn extend(&mut self, read: Vec<CapturedRequest>) {
        self.requests.extend(
            read.into_iter()
                .map(|request| Arc::new(Published::new(request))),
        );
        while self.requests.len() > TAIL_LENGTH {
            self.start = self.requests.pop_front().map(|first| first.request.id);
        }
    }
}

/// What the hub keeps for a bin with viewers.
struct Bin {
    sender: broadcast::Sender<Signal>,
    shared: Arc<BinReads>,
}

/// The part of a bin's state its viewers' feeds use.
struct BinReads {
    /// Counts signals sent to the bin: a read begun at generation `g` sees
    /// every request signalled up to `g` (signals follow commits).
    generation: AtomicU64,
    /// Held across the store read that extends it: viewers that need the
    /// same requests wait for that one read instead of making their own.
    tail: tokio::sync::Mutex<Tail>,
}

impl Bin {
    fn new() -> Self {
        Self {
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
            shared: Arc::new(BinReads {
                generation: AtomicU64::new(0),
                tail: tokio::sync::Mutex::new(Tail {
                    start: None,
                    requests: VecDeque::new(),
                    covered: 0,
                    failed: None,
                }),
            }),
        }
    }

    fn signal(&self, signal: Signal) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        // An error only means the last viewer left in the meantime.
        let _ = self.sender.send(signal);
    }
}

type Bins = HashMap<Uuid, Bin>;

#[derive(Clone, Default)]
pub struct Hub {
    bins: Arc<Mutex<Bins>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts receiving what is published to `bin` from now on, unless the
    /// bin has `max_viewers` already. Counted and joined under one lock, so
    /// viewers arriving together never pass the limit.
    pub fn join(&self, bin: Uuid, max_viewers: usize) -> Option<Subscription> {
        let mut bins = self.lock();
        let entry = bins.entry(bin).or_insert_with(Bin::new);
        if entry.sender.receiver_count() >= max_viewers {
            if entry.sender.receiver_count() == 0 {
                bins.remove(&bin);
            }
            return None;
        }
        let receiver = entry.sender.subscribe();
        // Joining counts as a signal: the viewer's first read from the
        // tail must see everything stored before it joined.
        entry.shared.generation.fetch_add(1, Ordering::SeqCst);
        let reads = Arc::clone(&entry.shared);
        drop(bins);
        Some(Subscription {
            receiver,
            reads,
            bin,
            hub: self.clone(),
        })
    }

    /// Live viewers of `bin` right now.
    pub fn viewers(&self, bin: Uuid) -> usize {
        self.lock()
            .get(&bin)
            .map_or(0, |entry| entry.sender.receiver_count())
    }

    /// Sends a just-committed request to the viewers of its bin. It is only
    /// copied when someone is watching, so captures into unwatched bins cost
    /// one map lookup.
    pub fn publish(&self, request: &CapturedRequest) {
        if let Some(bin) = self.lock().get(&request.bin) {
            bin.signal(Signal::Request(Arc::new(Published::new(request.clone()))));
        }
    }

    /// Tells the viewers of `bin`, if any, that requests were committed
    /// elsewhere (another instance): their feeds read them from the store.
    pub fn ring(&self, bin: Uuid) {
        if let Some(bin) = self.lock().get(&bin) {
            bin.signal(Signal::StoredElsewhere);
        }
    }

    /// Rings every watched bin (see [`Hub::ring`]): notices of other
    /// instances' commits may have been lost.
    pub fn ring_all(&self) {
        for bin in self.lock().values() {
            bin.signal(Signal::StoredElsewhere);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bins> {
        self.bins.lock()
    }
}

/// A viewer's end of a bin's channel; leaving drops the channel when it was
/// the last viewer.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Signal>,
    reads: Arc<BinReads>,
    bin: Uuid,
    hub: Hub,
}

impl Subscription {
    /// How many signals the bin's viewers were sent so far (see
    /// [`Subscription::read_after`]).
    pub fn generation(&self) -> u64 {
        self.reads.generation.load(Ordering::SeqCst)
    }

    /// The requests of the bin after `cursor` (the nil id: all) that its
    /// tail holds, and whether they include every one signalled up to
    /// generation `since` (else the caller asks again: one read gives
    /// `READ_CHUNK` at most). When the tail is behind, `read(after)`
    /// extends it, one viewer at a time, so viewers told of the same
    /// capture share one store read whatever their cursors. `None` when
    /// the tail does not reach back to `cursor`: the caller reads the
    /// store itself.
    pub async fn read_after<F>(
        &self,
        cursor: Uuid,
        since: u64,
        read: F,
    ) -> Option<Result<FromTail, StoreError>>
    where
        F: FnOnce(Uuid) -> BoxFuture<'static, Read>,
    {
        let mut tail = self.reads.tail.lock().await;
        if tail.start.is_none() {
            tail.start = Some(cursor);
        }
        tail.position(cursor)?;
        if tail.covered < since {
            if let Some((begun, e)) = &tail.failed {
                if *begun >= since {
                    return Some(Err(e.clone()));
                }
            }
            // Taken before the read starts: every signal counted by then
            // is for a commit the read sees.
            let begun = self.generation();
            let after = tail.end().unwrap_or(Uuid::nil());
            let found = match read(after).await {
                Ok(found) => found,
                Err(e) => {
                    tail.failed = Some((begun, e.clone()));
                    return Some(Err(e));
                }
            };
            tail.failed = None;
            let reached_end = found.len() < READ_CHUNK as usize;
            tail.extend(found);
            if reached_end {
                tail.covered = begun;
            }
        }
        // A long read may have pushed the cursor out of the tail.
        let at = tail.position(cursor)?;
        Some(Ok(FromTail {
            requests: tail.requests.range(at..).cloned().collect(),
            complete: tail.covered >= since,
        }))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut bins = self.hub.lock();
        // This subscription's receiver is still alive here, hence `<= 1`.
        if bins
            .get(&self.bin)
            .is_some_and(|entry| entry.sender.receiver_count() <= 1)
        {
            bins.remove(&self.bin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Header, Timestamp};

    fn request(bin: Uuid) -> CapturedRequest {
        CapturedRequest {
            id: Uuid::now_v7(),
            bin,
            received_at: Timestamp::now(),
            method: "POST".into(),
            path: format!("/{bin}"),
            query: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".into(),
            headers: vec![Header::new("Content-Type", "text/plain")],
            body: bytes::Bytes::from_static(b"hello"),
            signature: None,
        }
    }

    #[tokio::test]
    async fn only_viewers_of_the_bin_receive_and_the_last_one_out_drops_the_channel() {
        let hub = Hub::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut viewer = hub.join(a, 10).expect("room");
        let mut other = hub.join(b, 10).expect("room");
        let sent = request(a);
        hub.publish(&sent);
        let Signal::Request(got) = viewer.receiver.recv().await.expect("message") else {
            panic!("a request was published");
        };
        assert_eq!(got.request.id, sent.id);
        assert!(other.receiver.try_recv().is_err());
        drop(viewer);
        assert_eq!(hub.viewers(a), 0);
        assert!(hub.lock().get(&a).is_none());
        hub.publish(&request(a));
    }

    /// A read that answers `rows` and counts itself.
    fn read_giving(
        reads: &Arc<AtomicU64>,
        rows: Vec<CapturedRequest>,
    ) -> impl FnOnce(Uuid) -> BoxFuture<'static, Read> {
        let reads = Arc::clone(reads);
        move |_after| {
            reads.fetch_add(1, Ordering::SeqCst);
            futures_util::FutureExt::boxed(async move { Ok(rows) })
        }
    }

    fn ids(read: Option<Result<FromTail, StoreError>>) -> Vec<Uuid> {
        let read = read.expect("in the tail").expect("read");
        assert!(read.complete);
        read.requests.iter().map(|p| p.request.id).collect()
    }

    #[tokio::test]
    async fn viewers_at_different_cursors_share_one_read_of_the_tail() {
        let hub = Hub::new();
        let bin = Uuid::new_v4();
        let (first, second) = (
            hub.join(bin, 10).expect("room"),
            hub.join(bin, 10).expect("room"),
        );
        let reads = Arc::new(AtomicU64::new(0));
        let (r1, r2, r3) = (request(bin), request(bin), request(bin));

        let since = first.generation();
        let got = first
            .read_after(
                Uuid::nil(),
                since,
                read_giving(&reads, vec![r1.clone(), r2.clone()]),
            )
            .await;
        assert_eq!(ids(got), [r1.id, r2.id]);
        // Another cursor inside the tail: served without a read.
        let got = second
            .read_after(r1.id, since, read_giving(&reads, vec![]))
            .await;
        assert_eq!(ids(got), [r2.id]);
        assert_eq!(reads.load(Ordering::SeqCst), 1);

        // A ring: the first viewer to ask reads once for both.
        hub.ring(bin);
        let since = first.generation();
        let got = second
            .read_after(r2.id, since, read_giving(&reads, vec![r3.clone()]))
            .await;
        assert_eq!(ids(got), [r3.id]);
        let got = first
            .read_after(r2.id, since, read_giving(&reads, vec![]))
            .await;
        assert_eq!(ids(got), [r3.id]);
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        // A failed read fails the viewers that waited for it, once.
        hub.ring(bin);
        let since = first.generation();
        let failing = |_after| futures_util::FutureExt::boxed(async { Err(StoreError::Closed) });
        let got = first.read_after(r3.id, since, failing).await;
        assert!(matches!(got, Some(Err(StoreError::Closed))));
        let got = second
            .read_after(r3.id, since, read_giving(&reads, vec![]))
            .await;
        assert!(matches!(got, Some(Err(StoreError::Closed))));
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        // A cursor the tail does not reach: the viewer reads for itself.
        let elsewhere = first.read_after(Uuid::now_v7(), since, read_giving(&reads, vec![]));
        assert!(elsewhere.await.is_none());
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_bin_takes_at_most_max_viewers_and_a_refusal_leaves_no_channel() {
        let hub = Hub::new();
        let bin = Uuid::new_v4();
        let first = hub.join(bin, 2).expect("first");
        let second = hub.join(bin, 2).expect("second");
        assert!(hub.join(bin, 2).is_none());
        drop(first);
        let third = hub.join(bin, 2).expect("room again");
        assert_eq!(hub.viewers(bin), 2);
        drop((second, third));
        assert!(hub.join(bin, 0).is_none());
        assert!(hub.lock().get(&bin).is_none());
    }
}
