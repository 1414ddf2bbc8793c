//! The hub: in-process fan-out of new requests to the live viewers of their
//! bin. One broadcast channel per bin, created by the first viewer and
//! dropped with the last. Publishing never waits: a viewer that falls more
//! than the channel's capacity behind is told it lagged (and its feed
//! catches up from the store, see `live::feed`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::future::{BoxFuture, FutureExt as _, Shared};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::model::CapturedRequest;
use crate::store::StoreError;

/// Messages a viewer may fall behind before it is told it lagged.
const CHANNEL_CAPACITY: usize = 256;

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

type Channels = HashMap<Uuid, broadcast::Sender<Signal>>;

/// The requests of a bin after a cursor, as one store read gives them.
pub type Read = Result<Arc<Vec<CapturedRequest>>, StoreError>;
type ReadInFlight = Shared<BoxFuture<'static, Read>>;
/// Reads in progress by bin and cursor, with the generation each began at.
type Reads = HashMap<(Uuid, Option<Uuid>), (u64, ReadInFlight)>;

#[derive(Clone, Default)]
pub struct Hub {
    channels: Arc<Mutex<Channels>>,
    /// Counts signals sent: a read started at generation `g` sees every
    /// request signalled up to `g` (signals follow commits).
    generation: Arc<AtomicU64>,
    /// Store reads in progress, by bin and cursor, with the generation at
    /// which each started: viewers of one bin at one cursor share a read.
    reads: Arc<Mutex<Reads>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts receiving what is published to `bin` from now on, unless the
    /// bin has `max_viewers` already. Counted and joined under one lock, so
    /// viewers arriving together never pass the limit.
    pub fn join(&self, bin: Uuid, max_viewers: usize) -> Option<Subscription> {
        let mut channels = self.lock();
        let sender = channels
            .entry(bin)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
        if sender.receiver_count() >= max_viewers {
            if sender.receiver_count() == 0 {
                channels.remove(&bin);
            }
            return None;
        }
        let receiver = sender.subscribe();
        drop(channels);
        Some(Subscription {
            receiver,
            bin,
            hub: self.clone(),
        })
    }

    /// Live viewers of `bin` right now.
    pub fn viewers(&self, bin: Uuid) -> usize {
        self.lock()
            .get(&bin)
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Sends a just-committed request to the viewers of its bin. It is only
    /// copied when someone is watching, so captures into unwatched bins cost
    /// one map lookup.
    pub fn publish(&self, request: &CapturedRequest) {
        let Some(sender) = self.lock().get(&request.bin).cloned() else {
            return;
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        // An error only means the last viewer left in the meantime.
        let _ = sender.send(Signal::Request(Arc::new(Published::new(request.clone()))));
    }

    /// Tells the viewers of `bin`, if any, that requests were committed
    /// elsewhere (another instance): their feeds read them from the store.
    pub fn ring(&self, bin: Uuid) {
        let Some(sender) = self.lock().get(&bin).cloned() else {
            return;
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        let _ = sender.send(Signal::StoredElsewhere);
    }

    /// How many signals were sent so far (see `Hub::read_once`).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The requests of `bin` after `after`, read by `read` — or by a read
    /// another viewer started with the same cursor at generation `since`
    /// or later, which saw everything signalled by then. A hundred
    /// viewers told of one capture then cost one store read, not a
    /// hundred.
    pub async fn read_once(
        &self,
        bin: Uuid,
        after: Option<Uuid>,
        since: u64,
        read: impl FnOnce() -> BoxFuture<'static, Read>,
    ) -> Read {
        let key = (bin, after);
        let shared = {
            let mut reads = self.reads.lock();
            match reads.get(&key) {
                Some((started, shared)) if *started >= since => shared.clone(),
                _ => {
                    // Read under the lock: no signal counted after this
                    // point can be missing from what the read sees.
                    let started = self.generation();
                    let shared = read().shared();
                    reads.insert(key, (started, shared.clone()));
                    shared
                }
            }
        };
        let result = shared.clone().await;
        let mut reads = self.reads.lock();
        if reads.get(&key).is_some_and(|(_, s)| s.ptr_eq(&shared)) {
            reads.remove(&key);
        }
        result
    }

    /// Rings every watched bin (see [`Hub::ring`]): notices of other
    /// instances' commits may have been lost.
    pub fn ring_all(&self) {
        let senders: Vec<_> = self.lock().values().cloned().collect();
        for sender in senders {
            let _ = sender.send(Signal::StoredElsewhere);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Channels> {
        self.channels.lock()
    }
}

/// A viewer's end of a bin's channel; leaving drops the channel when it was
/// the last viewer.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Signal>,
    bin: Uuid,
    hub: Hub,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.hub.lock();
        // This subscription's receiver is still alive here, hence `<= 1`.
        if channels
            .get(&self.bin)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.bin);
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
