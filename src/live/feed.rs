//! The live core: one viewer's feed of a bin, the same for every live
//! transport (the dashboard's websocket, smee-style event streams and
//! webhook.site CLI's channel). The transports only encode and send what
//! [`Feed::next`] gives them.
//!
//! A feed
//! - joins the bin's hub channel, counting a viewer and refusing one past
//!   `--max-viewers-per-bin`;
//! - with [`Start::After`], first delivers every stored request after that
//!   one (a client's cursor: `?after=` or `Last-Event-ID`), then live ones;
//! - delivers each committed request at most once and, as long as the store
//!   answers, none is skipped: when the hub says the viewer lagged, the feed
//!   says so ([`Update::Lagged`]: a transport may tell its client) and
//!   catches up from the store after the last request it read there,
//!   leaving out what it already delivered live;
//! - reads the store the same way when the hub rings for requests another
//!   instance committed (`Hub::ring`: several instances on one database).
//!
//! Ids are assigned in commit order (see `Store::insert_request`), so a
//! store read that reached id N has seen every request at or below N; but
//! captures publish in the order their tasks run, which may differ a
//! little. So the feed keeps the ids it delivered live since its last store
//! read, and reads the store again (a catch-up that usually finds nothing
//! new) when that list grows long, to keep it short.
//!
//! With several instances on one database (a shared store), ids come from
//! different clocks and say nothing about commit order; the store orders
//! by its own commit sequence. There the feed takes nothing from the hub
//! but the signal: it delivers every request, this instance's too, from
//! store reads, so they come in commit order and a client's cursor (the
//! last request it got) resumes exactly on any instance. Those reads go
//! through the bin's tail in the hub (`Subscription::read_after`), shared
//! by all its viewers here; a feed whose cursor is older than the tail
//! reads the store itself until it reaches it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use futures_util::FutureExt as _;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::hub::{FromTail, Hub, Published, Signal, Subscription, READ_CHUNK};
use crate::metrics::METRICS;
use crate::model::{CapturedRequest, ListRow, RequestJson};
use crate::store::{Page, Store, StoreError};

/// Ids delivered live that a feed remembers before it reads the store to
/// forget them.
const LIVE_WINDOW: usize = 1024;

/// Where a feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With what is published from now on.
    Now,
    /// With every stored request after this one (the nil id: the whole
    /// history), then live ones.
    After(Uuid),
}

/// Why a viewer could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("this bin has its maximum of {0} live viewers")]
    TooManyViewers(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a feed has next for its viewer.
#[derive(Debug)]
pub enum Update {
    /// A request, live or from the store: each once, in commit order except
    /// for the small reorderings of live publishing.
    Request(Arc<Published>),
    /// The viewer fell behind the hub; what it missed comes next, read from
    /// the store.
    Lagged,
    /// The store could not be read to catch up: requests may be missing
    /// until the client resumes from its cursor. The feed goes on.
    Missed,
}

/// One viewer's feed of one bin.
pub struct Feed {
    bin: Uuid,
    store: Store,
    subscription: Subscription,
    /// Store reads start after this id when they have read nothing yet:
    /// the client's cursor, or the newest request when the feed started.
    origin: Option<Uuid>,
    /// With [`Start::Now`], a live request at or below `origin` (committed
    /// just before the viewer joined, published just after) is still new
    /// to it; with [`Start::After`] the client has it.
    origin_is_known: bool,
    /// The newest id a store read returned: every request from `origin` up
    /// to it has been delivered.
    read_to: Option<Uuid>,
    /// Other instances write to the same store: every request is read from
    /// it, none taken from the hub (see the module doc).
    shared: bool,
    /// The bin's generation when the feed last heard a signal: its next
    /// read must have begun no earlier (see `Subscription::read_after`).
    wanted: u64,
    /// Ids above `read_to` delivered live.
    live: BTreeSet<Uuid>,
    /// Read from the store, waiting to be delivered.
    backlog: VecDeque<Arc<Published>>,
    catching_up: bool,
    /// Size of `live` at which the feed catches up to forget it.
    sync_at: usize,
}

impl Feed {
    /// Joins `bin`'s live viewers, unless it has `max_viewers` already.
    pub async fn join(
        hub: &Hub,
        store: &Store,
        bin: Uuid,
        max_viewers: usize,
        start: Start,
    ) -> Result<Self, JoinError> {
        // Joined before the store is read, so nothing falls in between.
        let subscription = hub
            .join(bin, max_viewers)
            .ok_or(JoinError::TooManyViewers(max_viewers))?;
        let (origin, origin_is_known) = match start {
            Start::After(after) => (Some(after), true),
            Start::Now => (newest_id(store, bin).await?, false),
        };
        METRICS.viewer_joined();
        let wanted = subscription.generation();
        Ok(Self {
            bin,
            store: store.clone(),
            subscription,
            origin,
            origin_is_known,
            read_to: None,
            shared: store.is_shared(),
            wanted,
            live: BTreeSet::new(),
            backlog: VecDeque::new(),
            catching_up: matches!(start, Start::After(_)),
            sync_at: LIVE_WINDOW,
        })
    }

    /// The next update; `None` once the hub is gone. Cancel-safe: a call
    /// dropped mid-way loses nothing, the next one resumes.
    pub async fn next(&mut self) -> Option<Update> {
        loop {
            if let Some(published) = self.backlog.pop_front() {
                return Some(Update::Request(published));
            }
            if self.catching_up {
                if let Err(e) = self.read_store().await {
                    tracing::error!(error = %e, "live feed could not catch up from the store");
                    self.catching_up = false;
                    // Retried once the live ids have grown by another window.
                    self.sync_at = self.live.len() + LIVE_WINDOW;
                    return Some(Update::Missed);
                }
                continue;
            }
            match self.subscription.receiver.recv().await {
                Ok(Signal::Request(published)) if !self.shared => {
                    if self.is_new(published.request.id) {
                        return Some(Update::Request(published));
                    }
                }
                // Another instance committed to this bin, or, on a store
                // other instances share, this one did: the requests come
                // from the store, after the last one read there, in its
                // commit order.
                Ok(Signal::Request(_) | Signal::StoredElsewhere) => {
                    self.catching_up = true;
                    // One read covers every signal queued meanwhile (each
                    // only says "read the store" on a shared store)...
                    while self.shared && self.subscription.receiver.try_recv().is_ok() {}
                    // ...if it starts after they were all sent.
                    self.wanted = self.subscription.generation();
                }
                Err(RecvError::Lagged(_)) => {
                    // The store read covers what the hub still holds for
                    // this viewer; left there, it would overflow again.
                    self.subscription.receiver = self.subscription.receiver.resubscribe();
                    self.catching_up = true;
                    self.wanted = self.subscription.generation();
                    return Some(Update::Lagged);
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Whether a live request is new to the viewer; notes it if so.
    fn is_new(&mut self, id: Uuid) -> bool {
        if self.origin.is_some_and(|origin| id <= origin) {
            return !self.origin_is_known;
        }
        if self.read_to.is_some_and(|read| id <= read) {
            return false;
        }
        let new = self.live.insert(id);
        if self.live.len() >= self.sync_at {
            self.catching_up = true;
        }
        new
    }

    /// Reads one chunk of stored requests after the last one read into the
    /// backlog, leaving out those delivered live.
    async fn read_store(&mut self) -> Result<(), StoreError> {
        let after = self.read_to.or(self.origin);
        let (batch, read_all) = match self.read_tail(after).await {
            Some(from_tail) => {
                let from_tail = from_tail?;
                (from_tail.requests, from_tail.complete)
            }
            None => {
                let batch = self
                    .store
                    .requests_after(self.bin, after, READ_CHUNK)
                    .await?;
                let read_all = batch.len() < READ_CHUNK as usize;
                let batch = batch
                    .into_iter()
                    .map(|request| Arc::new(Published::new(request)))
                    .collect();
                (batch, read_all)
            }
        };
        if let Some(last) = batch.last() {
            self.read_to = Some(last.request.id);
        }
        self.backlog.extend(
            batch
                .into_iter()
                .filter(|published| !self.live.remove(&published.request.id)),
        );
        if read_all {
            // Whatever else was delivered live has been deleted since.
            self.catching_up = false;
            self.live.clear();
            self.sync_at = LIVE_WINDOW;
        }
        Ok(())
    }

    /// On a shared store, where every viewer of the bin reads on each
    /// capture: the requests after `after` from the bin's tail, unless the
    /// feed's cursor is older than the tail.
    async fn read_tail(&self, after: Option<Uuid>) -> Option<Result<FromTail, StoreError>> {
        if !self.shared {
            return None;
        }
        let (store, bin) = (self.store.clone(), self.bin);
        let read = move |after| {
            async move { store.requests_after(bin, Some(after), READ_CHUNK).await }.boxed()
        };
        self.subscription
            .read_after(after.unwrap_or(Uuid::nil()), self.wanted, read)
            .await
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        METRICS.viewer_left();
    }
}

async fn newest_id(store: &Store, bin: Uuid) -> Result<Option<Uuid>, StoreError> {
    let newest = store
        .list_requests(
            bin,
            Page {
                offset: 0,
                limit: 1,
            },
        )
        .await?;
    Ok(newest.first().map(|r| r.id))
}

#[derive(Serialize)]
struct FeedMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request: &'a RequestJson,
    /// The dashboard's list row for it, so the page shows what the server
    /// would render without formatting anything itself.
    row: &'a ListRow,
}

/// The live-feed text for one request: `{"type":"request","request":{…},
/// "row":{…}}`, where `request` is the API's request object.
pub fn feed_message(req: &CapturedRequest, public_base: Option<&str>) -> String {
    let request = RequestJson::new(req, &req.base_url(public_base));
    serde_json::to_string(&FeedMessage {
        kind: "request",
        request: &request,
        row: &ListRow::of(req),
    })
    .expect("a request always serializes")
}

/// The live-feed text telling a client it fell behind ([`Update::Lagged`],
/// [`Update::Missed`]): a page reloads, a forwarder resumes from its cursor.
pub const LAGGED_MESSAGE: &str = r#"{"type":"lagged"}"#;

impl Published {
    /// Its live-feed message, encoded once for all viewers. `public_base`
    /// is the server's one setting, the same for every caller.
    pub fn feed_message(&self, public_base: Option<&str>) -> &str {
        self.message
            .get_or_init(|| feed_message(&self.request, public_base))
    }
}
