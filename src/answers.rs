//! Answers relayed from the local app (what webhook.site calls listen
//! mode): a capture waits (a bounded time) for a forwarder to supply the
//! answer its sender gets — the local app's real response, relayed by
//! `hookscope forward --listen` through the token API
//! (`api::answers::put_response`).
//!
//! [`PendingAnswers`] is the in-memory registry: forwarders that relay
//! answers announce themselves per bin ([`PendingAnswers::answerer`]), a
//! capture registers its request id *before* publishing it
//! ([`PendingAnswers::register`]) and waits on the returned [`Waiter`]; the
//! PUT handler hands the answer over ([`PendingAnswers::answer`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::model::{Header, SentResponse};

/// The answer a forwarder supplies for one captured request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAnswer {
    pub status: StatusCode,
    /// Header fields in order; repeated names kept.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: bytes::Bytes,
}

impl AppAnswer {
    /// An answer as the store keeps it (relayed between instances);
    /// header fields that are not valid HTTP are left out.
    pub fn from_sent(sent: &SentResponse) -> Option<Self> {
        let headers = sent
            .headers
            .iter()
            .filter_map(|h| {
                Some((
                    HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                    HeaderValue::from_bytes(&h.value).ok()?,
                ))
            })
            .collect();
        Some(Self {
            status: StatusCode::from_u16(sent.status).ok()?,
            headers,
            body: sent.body.clone(),
        })
    }

    /// The answer as the store keeps it.
    pub fn to_sent(&self) -> SentResponse {
        SentResponse {
            from_app: true,
            status: self.status.as_u16(),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
                .collect(),
            body: self.body.clone(),
        }
    }

    /// The response the original sender gets, exactly as supplied.
    pub fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[derive(Default)]
struct Registry {
    /// Connected relaying forwarders per bin.
    answerers: HashMap<Uuid, usize>,
    /// Captures waiting for an answer, by request id.
    waiting: HashMap<Uuid, (Uuid, oneshot::Sender<AppAnswer>)>,
}

/// Where changes of a bin's relaying forwarders here go: `(bin, present)`.
type PresenceSender = mpsc::UnboundedSender<(Uuid, bool)>;

/// Captures waiting for a forwarder's answer. Cheap to clone.
#[derive(Clone, Default)]
pub struct PendingAnswers {
    registry: Arc<Mutex<Registry>>,
    /// Told when a bin gets its first relaying forwarder here, or loses
    /// its last (see [`PendingAnswers::presence_changes`]).
    presence: Arc<Mutex<Option<PresenceSender>>>,
}

impl PendingAnswers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks a relaying forwarder of `bin` as connected until the guard
    /// is dropped.
    pub fn answerer(&self, bin: Uuid) -> AnswererGuard {
        let count = {
            let mut registry = self.lock();
            let count = registry.answerers.entry(bin).or_default();
            *count += 1;
            *count
        };
        if count == 1 {
            self.tell_presence(bin, true);
        }
        AnswererGuard {
            bin,
            pending: self.clone(),
        }
    }

    /// From now on, `(bin, true)` when a bin gets its first relaying
    /// forwarder here and `(bin, false)` when it loses its last: what other
    /// instances on the same database need to know.
    pub fn presence_changes(&self) -> mpsc::UnboundedReceiver<(Uuid, bool)> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.presence.lock() = Some(tx);
        rx
    }

    /// The bins with a relaying forwarder here now.
    pub fn answered_bins(&self) -> Vec<Uuid> {
        self.lock().answerers.keys().copied().collect()
    }

    /// Whether a capture here waits for an answer to request `id`.
    pub fn waits(&self, id: Uuid) -> bool {
        self.lock().waiting.contains_key(&id)
    }

    fn tell_presence(&self, bin: Uuid, present: bool) {
        if let Some(tx) = self.presence.lock().as_ref() {
            let _ = tx.send((bin, present));
        }
    }

    /// Whether a relaying forwarder of `bin` is connected.
    pub fn has_answerer(&self, bin: Uuid) -> bool {
        self.lock().answerers.get(&bin).is_some_and(|&n| n > 0)
    }

    /// Registers request `id` of `bin` as waiting; call before publishing
    /// the request so an answer cannot arrive before the registration.
    pub fn register(&self, bin: Uuid, id: Uuid) -> Waiter {
        let (reply, answer) = oneshot::channel();
        self.lock().waiting.insert(id, (bin, reply));
        Waiter {
            id,
            answer,
            pending: self.clone(),
        }
    }

    /// Hands `answer` to the capture of request `id` of `bin`; `false` when
    /// no capture waits for it (unknown, already answered, or timed out).
    pub fn answer(&self, bin: Uuid, id: Uuid, answer: AppAnswer) -> bool {
        let mut registry = self.lock();
        match registry.waiting.get(&id) {
            Some((waiting_bin, _)) if *waiting_bin == bin => {}
            _ => return false,
        }
        registry
            .waiting
            .remove(&id)
            .is_some_and(|(_, reply)| reply.send(answer).is_ok())
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock()
    }
}

/// A connected relaying forwarder; dropping it disconnects it.
pub struct AnswererGuard {
    bin: Uuid,
    pending: PendingAnswers,
}

impl Drop for AnswererGuard {
    fn drop(&mut self) {
        let mut registry = self.pending.lock();
        let mut last = false;
        if let Some(n) = registry.answerers.get_mut(&self.bin) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                registry.answerers.remove(&self.bin);
                last = true;
            }
        }
        drop(registry);
        if last {
            self.pending.tell_presence(self.bin, false);
        }
    }
}

/// A capture waiting for its answer; dropping it stops waiting.
pub struct Waiter {
    id: Uuid,
    answer: oneshot::Receiver<AppAnswer>,
    pending: PendingAnswers,
}

impl Waiter {
    /// The forwarder's answer, or `None` when none came within `limit`.
    pub async fn wait(mut self, limit: Duration) -> Option<AppAnswer> {
        tokio::time::timeout(limit, &mut self.answer)
            .await
            .ok()
            .and_then(Result::ok)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.pending.lock().waiting.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> AppAnswer {
        let header = |name: &'static str, value: &'static str| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        };
        AppAnswer {
            status: StatusCode::from_u16(status).expect("status"),
            headers: vec![header("x-a", "1"), header("x-a", "2"), header("x-b", "3")],
            body: bytes::Bytes::from_static(b"hi"),
        }
    }

    #[tokio::test]
    async fn an_answer_reaches_the_waiting_capture_once_and_only_for_its_bin() {
        let pending = PendingAnswers::new();
        let (bin, id) = (Uuid::new_v4(), Uuid::now_v7());
        assert!(!pending.has_answerer(bin));
        let guard = pending.answerer(bin);
        assert!(pending.has_answerer(bin));
        let waiter = pending.register(bin, id);
        assert!(
            !pending.answer(Uuid::new_v4(), id, answer(201)),
            "another bin"
        );
        assert!(pending.answer(bin, id, answer(201)));
        assert!(!pending.answer(bin, id, answer(202)), "answered already");
        let got = waiter.wait(Duration::from_secs(1)).await.expect("answer");
        assert_eq!(got.status, StatusCode::CREATED);
        assert_eq!(got.headers.len(), 3);
        assert_eq!(&got.body[..], b"hi");
        drop(guard);
        assert!(!pending.has_answerer(bin));
    }

    #[tokio::test]
    async fn a_capture_stops_waiting_after_the_limit() {
        let pending = PendingAnswers::new();
        let (bin, id) = (Uuid::new_v4(), Uuid::now_v7());
        let waiter = pending.register(bin, id);
        assert_eq!(waiter.wait(Duration::from_millis(10)).await, None);
        assert!(
            !pending.answer(bin, id, answer(200)),
            "nobody waits any more"
        );
    }
}
