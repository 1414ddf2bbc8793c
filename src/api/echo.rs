//! webhook.site's live channel, as its CLI uses it: `whcli forward` (without
//! `--query`) and `whcli exec` wait for new requests through Laravel Echo on
//! socket.io 2, at the address in `WH_WS_HOST`. This is the part of that
//! protocol they use, at `/socket.io/`, over Engine.IO 3 long-polling only
//! (the handshake offers no upgrade to a websocket, which clients accept):
//!
//! - the client subscribes to the channel `private-token.{bin}`, with its
//!   `Api-Key` (and, for a bin with a password, `X-Bin-Password`) among the
//!   subscription's auth headers, checked as the token API checks them;
//! - each request captured into the bin then reaches it as a
//!   `request.created` event whose data is the live feed's message
//!   (`{"type":"request","request":{…},"row":{…}}`), from the same
//!   `live::Feed` as the websocket's: a subscriber counts towards
//!   `--max-viewers-per-bin` and one that lags gets what it missed;
//! - while a subscriber is there and the bin's `listen` is set, captures
//!   wait for its answer (`PUT /token/{id}/request/{rid}/response`), as
//!   with `hookscope forward --listen`.
//!
//! Engine.IO keeps a session across HTTP requests: [`EchoSessions`] holds
//! them, reached by its session id; one that no request has touched for a
//! while is dropped with its subscriptions.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use parking_lot::{Mutex, MutexGuard};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::extract::{check_bin, has_api_key};
use crate::live::feed::{JoinError, Start, Update};
use crate::state::AppState;

/// How long a poll is held open when there is nothing to send; below the
/// ping interval, so a client never thinks the server gone.
const POLL_WAIT: Duration = Duration::from_secs(20);
/// The ping interval and timeout the handshake asks the client for (ms).
const PING_INTERVAL_MS: u64 = 25_000;
const PING_TIMEOUT_MS: u64 = 20_000;
/// A session no request touched for this long has lost its client.
const SESSION_IDLE: Duration = Duration::from_secs(60);
/// Packets waiting for a client's next poll at most: one that stops
/// polling loses what comes after (as a lagging live viewer does) instead
/// of holding it in memory.
const OUTBOX: usize = 256;

/// The Engine.IO sessions of one server.
#[derive(Clone, Default)]
pub struct EchoSessions(Arc<Mutex<HashMap<String, Arc<Session>>>>);

impl EchoSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.0.lock()
    }

    fn get(&self, sid: &str) -> Option<Arc<Session>> {
        let session = self.lock().get(sid).cloned()?;
        session.touch();
        Some(session)
    }
}

/// One client's session: what is waiting to be sent to it, and the feeds
/// of the channels it subscribed to.
struct Session {
    outbox: mpsc::Sender<String>,
    /// Taken by the poll that is waiting; a second poll at once is refused.
    inbox: tokio::sync::Mutex<mpsc::Receiver<String>>,
    /// When a request last came from the client; shared with the feeds, so
    /// a feed whose client vanished stops (and captures stop waiting for
    /// its answers) without waiting for the session to be swept.
    last_seen: Arc<Mutex<Instant>>,
    client: Option<IpAddr>,
    /// Subscribed channel names and the tasks feeding them.
    feeds: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl Session {
    fn touch(&self) {
        *self.last_seen.lock() = Instant::now();
    }

    fn idle(&self) -> Duration {
        idle_for(&self.last_seen)
    }

    fn feeds(&self) -> MutexGuard<'_, HashMap<String, JoinHandle<()>>> {
        self.feeds.lock()
    }

    fn send(&self, packet: String) {
        // Fails only when the client stopped polling (see `OUTBOX`).
        let _ = self.outbox.try_send(packet);
    }

    /// Sends a socket.io event to the default namespace.
    fn emit(&self, event: &str, args: &[Value]) {
        let mut array = vec![Value::from(event)];
        array.extend_from_slice(args);
        self.send(format!("42{}", Value::Array(array)));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for (_, feed) in self.feeds().drain() {
            feed.abort();
        }
    }
}

fn idle_for(last_seen: &Mutex<Instant>) -> Duration {
    last_seen.lock().elapsed()
}

/// Engine.IO's query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct EngineParams {
    #[serde(rename = "EIO")]
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

/// An Engine.IO error answer (its shape: a code and a message).
fn refuse(status: StatusCode, code: u8, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn unknown_session() -> Response {
    refuse(StatusCode::BAD_REQUEST, 1, "Session ID unknown")
}

/// The refusal of a request in another protocol version or transport.
fn transport_refusal(params: &EngineParams) -> Option<Response> {
    if params.eio.as_deref() != Some("3") {
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            5,
            "Unsupported protocol version: only Engine.IO 3 (socket.io 2) is spoken here",
        ));
    }
    (params.transport.as_deref() != Some("polling")).then(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            0,
            "Transport unknown: only polling is offered",
        )
    })
}

/// Packets as an Engine.IO 3 text payload: each is preceded by its length
/// in UTF-16 code units (JavaScript's string length) and a colon.
fn encode_payload(packets: &[String]) -> String {
    let mut out = String::new();
    for packet in packets {
        out.push_str(&packet.encode_utf16().count().to_string());
        out.push(':');
        out.push_str(packet);
    }
    out
}

/// The packets of an Engine.IO 3 text payload; `None` when malformed.
fn decode_payload(payload: &str) -> Option<Vec<&str>> {
    let mut packets = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (length, after) = rest.split_once(':')?;
        let length: usize = length.parse().ok()?;
        let mut units = 0;
        let end = after
            .char_indices()
            .find_map(|(at, c)| {
                let reached = (units == length).then_some(at);
                units += c.len_utf16();
                reached
            })
            .or((units == length).then_some(after.len()))?;
        packets.push(&after[..end]);
        rest = &after[end..];
    }
    Some(packets)
}

fn payload_response(packets: &[String]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        encode_payload(packets),
    )
        .into_response()
}

/// `GET /socket.io/`: the handshake (no `sid`), else a long poll for what
/// the session has to send.
pub async fn poll(
    State(state): State<AppState>,
    Extension(sessions): Extension<EchoSessions>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<EngineParams>,
) -> Response {
    if let Some(refusal) = transport_refusal(&params) {
        return refusal;
    }
    let Some(sid) = params.sid.as_deref() else {
        let client = peer.map(|Extension(ConnectInfo(at))| at.ip());
        return handshake(&sessions, client, state.config.max_live_channel_sessions);
    };
    let Some(session) = sessions.get(sid) else {
        return unknown_session();
    };
    let Ok(mut inbox) = session.inbox.try_lock() else {
        return refuse(StatusCode::BAD_REQUEST, 3, "Bad request: overlapping polls");
    };
    let mut packets = Vec::new();
    tokio::select! {
        () = state.shutdown.cancelled() => packets.push(String::from("1")),
        first = tokio::time::timeout(POLL_WAIT, inbox.recv()) => {
            if let Ok(Some(packet)) = first {
                packets.push(packet);
                while let Ok(packet) = inbox.try_recv() {
                    packets.push(packet);
                }
            }
        }
    }
    if packets.is_empty() {
        // A noop: the poll ends, the client polls again.
        packets.push(String::from("6"));
    }
    payload_response(&packets)
}

/// Opens a session, unless `max_sessions` are open already.
fn handshake(sessions: &EchoSessions, client: Option<IpAddr>, max_sessions: usize) -> Response {
    let sid = Uuid::new_v4().simple().to_string();
    let (outbox, inbox) = mpsc::channel(OUTBOX);
    let session = Arc::new(Session {
        outbox,
        inbox: tokio::sync::Mutex::new(inbox),
        last_seen: Arc::new(Mutex::new(Instant::now())),
        client,
        feeds: Mutex::new(HashMap::new()),
    });
    {
        let mut all = sessions.lock();
        all.retain(|_, s| s.idle() < SESSION_IDLE);
        if all.len() >= max_sessions {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                3,
                "Too many live sessions, try again later",
            );
        }
        all.insert(sid.clone(), session);
    }
    let open = serde_json::json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": PING_INTERVAL_MS,
        "pingTimeout": PING_TIMEOUT_MS,
    });
    // socket.io 2 clients are connected to the default namespace at once.
    payload_response(&[format!("0{open}"), String::from("40")])
}

/// `POST /socket.io/?sid=…`: packets from the client.
pub async fn send(
    State(state): State<AppState>,
    Extension(sessions): Extension<EchoSessions>,
    Query(params): Query<EngineParams>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = transport_refusal(&params) {
        return refusal;
    }
    let Some(sid) = params.sid.as_deref() else {
        return unknown_session();
    };
    let Some(session) = sessions.get(sid) else {
        return unknown_session();
    };
    let Some(packets) = std::str::from_utf8(&body).ok().and_then(decode_payload) else {
        return refuse(StatusCode::BAD_REQUEST, 3, "Bad request: malformed payload");
    };
    for packet in packets {
        match packet.as_bytes().first() {
            // close
            Some(b'1') => {
                sessions.lock().remove(sid);
            }
            // ping (a probe included): pong with the same data
            Some(b'2') => session.send(format!("3{}", &packet[1..])),
            // message: a socket.io packet
            Some(b'4') => on_socket_packet(&state, &session, &packet[1..]).await,
            _ => {}
        }
    }
    ([(header::CONTENT_TYPE, "text/html")], "ok").into_response()
}

/// A socket.io packet on the default namespace: events `subscribe` and
/// `unsubscribe` (Laravel Echo's), `1` (disconnect); the rest is ignored.
async fn on_socket_packet(state: &AppState, session: &Arc<Session>, packet: &str) {
    let Some(rest) = packet.strip_prefix('2') else {
        if packet.starts_with('1') {
            for (_, feed) in session.feeds().drain() {
                feed.abort();
            }
        }
        return;
    };
    // An acknowledgement id may precede the arguments.
    let args = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let Ok(Value::Array(args)) = serde_json::from_str::<Value>(args) else {
        return;
    };
    let channel = args
        .get(1)
        .and_then(|a| a.get("channel"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match args.first().and_then(Value::as_str) {
        Some("subscribe") => {
            let auth = args.get(1).and_then(|a| a.pointer("/auth/headers"));
            if let Err(status) = subscribe(state, session, &channel, auth).await {
                // laravel-echo-server's way of saying no.
                session.emit(
                    "subscription_error",
                    &[Value::from(channel), Value::from(status.as_u16())],
                );
            }
        }
        Some("unsubscribe") => {
            if let Some(feed) = session.feeds().remove(&channel) {
                feed.abort();
            }
        }
        _ => {}
    }
}

/// Starts feeding `channel` (`private-token.{bin}`) to the session, once
/// its auth headers pass the token API's checks.
async fn subscribe(
    state: &AppState,
    session: &Arc<Session>,
    channel: &str,
    auth: Option<&Value>,
) -> Result<(), StatusCode> {
    let bin = channel
        .strip_prefix("private-token.")
        .and_then(|id| Uuid::try_parse(id).ok())
        .ok_or(StatusCode::NOT_FOUND)?;
    let bin = state
        .store
        .bin(bin)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::NOT_FOUND)?;
    let headers = auth_headers(auth);
    if !has_api_key(state, &headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    check_bin(state, &headers, session.client, &bin)
        .await
        .map_err(|e| e.status())?;
    if session.feeds().contains_key(channel) {
        return Ok(());
    }
    if session.feeds().len() >= state.config.max_live_channel_subscriptions {
        return Err(StatusCode::TOO_MANY_REQUESTS);
    }
    let mut feed = crate::live::join(state, bin.id, Start::Now)
        .await
        .map_err(|e| match e {
            JoinError::TooManyViewers(_) => StatusCode::TOO_MANY_REQUESTS,
            JoinError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        })?;
    // The CLI answers each request it forwards when the bin's `listen` is
    // set (it sets it itself before subscribing).
    let answering = (bin.settings.answer_wait_secs > 0).then(|| state.pending.answerer(bin.id));
    let name = Value::from(channel);
    let outbox = session.outbox.clone();
    let shutdown = Arc::clone(&state.shutdown);
    let public_base = state.config.public_base().map(str::to_owned);
    let last_seen = Arc::clone(&session.last_seen);
    let feed = tokio::spawn(async move {
        let _answering = answering;
        let mut check = tokio::time::interval(SESSION_IDLE / 4);
        loop {
            let update = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = check.tick() => {
                    if idle_for(&last_seen) >= SESSION_IDLE {
                        return;
                    }
                    continue;
                }
                update = feed.next() => update,
            };
            match update {
                Some(Update::Request(published)) => {
                    let message = published.feed_message(public_base.as_deref());
                    let packet = format!("42[\"request.created\",{name},{message}]");
                    match outbox.try_send(packet) {
                        Ok(()) | Err(TrySendError::Full(_)) => {}
                        Err(TrySendError::Closed(_)) => return,
                    }
                }
                // What the client missed comes next; the channel has no
                // word for a gap the store could not fill.
                Some(Update::Lagged | Update::Missed) => {}
                None => return,
            }
        }
    });
    session.feeds().insert(channel.to_owned(), feed);
    Ok(())
}

/// The subscription's auth headers as a header map (text values only).
fn auth_headers(auth: Option<&Value>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(Value::Object(given)) = auth else {
        return headers;
    };
    for (name, value) in given {
        let (Ok(name), Some(Ok(value))) = (
            HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::from_str),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::{decode_payload, encode_payload};

    #[test]
    fn payloads_count_javascript_string_lengths() {
        let packets = vec![
            String::from("40"),
            String::from("42[\"a\",\"é😀\"]"),
            String::from("6"),
        ];
        let payload = encode_payload(&packets);
        assert_eq!(payload, "2:4013:42[\"a\",\"é😀\"]1:6");
        assert_eq!(decode_payload(&payload).expect("decodes"), packets);
        assert_eq!(decode_payload("").expect("empty"), Vec::<&str>::new());
        for bad in ["3:40", "x:4", "2", "1:"] {
            assert!(decode_payload(bad).is_none(), "{bad:?}");
        }
    }
}
