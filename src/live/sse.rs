//! `GET /{bin}` with `Accept: text/event-stream`: a server-sent-events
//! stream of the bin's captures in smee.io's format, so the npm
//! `smee-client` (and anything else written for smee.io) works unmodified
//! with a hookscope bin URL. This is the one request to a capture URL that
//! is not captured.
//!
//! As smee.io does, the stream opens with a `ready` event (`data: {}`), then
//! sends one `message` event per request whose data is a JSON object: the
//! request's headers as top-level keys (lower-case names), `body` (the
//! parsed JSON when the body is JSON, else the text), `query` (object) and
//! `timestamp` (ms). Comment lines keep idle connections open. Each message
//! carries the request id as its event id, so a client that reconnects with
//! `Last-Event-ID` gets what it missed. The requests are the bin's
//! [`Feed`]'s: a stream counts towards `--max-viewers-per-bin`, and one that
//! falls behind gets what it missed in order, once each.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::feed::{Feed, Start, Update};
use crate::error::AppError;
use crate::extract::{find_bin, guard, peer_ip, Naming};
use crate::model::{pairs_to_object, CapturedRequest};
use crate::state::AppState;

/// Idle time after which a keep-alive comment is sent (smee.io: 30 s).
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Events buffered for a slow client before the sender waits.
const BUFFER: usize = 64;

/// Whether a request to a capture URL asks for the event stream instead:
/// a GET of exactly `/{bin}` that accepts `text/event-stream`.
pub fn wants_event_stream(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .uri()
            .path()
            .trim_start_matches('/')
            .trim_end_matches('/')
            .find('/')
            .is_none()
        && req
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("text/event-stream")))
}

/// Opens the event stream of the bin named by the request path.
pub async fn handle(state: AppState, req: Request) -> Result<Response, AppError> {
    let found = find_bin(
        &state.store,
        req.uri().path().trim_matches('/'),
        Naming::IdOrAlias,
    )
    .await?;
    let bin = found.id;
    let client = peer_ip(&req);
    if let Err(refused) = guard(&state, req.headers(), req.uri().path(), client, &found).await {
        return Ok(refused);
    }
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::try_parse(v.trim()).ok());
    // A new client gets what is captured from now on.
    let start = last_event_id.map_or(Start::Now, Start::After);
    let feed = super::join(&state, bin, start).await?;
    let (events, inbox) = mpsc::channel::<Event>(BUFFER);
    tokio::spawn(send_feed(feed, (*state.shutdown).clone(), events));

    let body = futures_util::stream::unfold(inbox, |mut inbox| async move {
        let event = inbox.recv().await?;
        Some((Ok::<_, Infallible>(event), inbox))
    });
    let mut response = Sse::new(body)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Reverse proxies (nginx) must not buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Sends `ready`, then one `message` event per request of the feed, with
/// the request id as the event id, until the client or the server leaves.
async fn send_feed(mut feed: Feed, shutdown: CancellationToken, events: mpsc::Sender<Event>) {
    let ready = Event::default().event("ready").data("{}");
    if events.send(ready).await.is_err() {
        return;
    }
    loop {
        let update = tokio::select! {
            () = shutdown.cancelled() => return,
            () = events.closed() => return,
            update = feed.next() => update,
        };
        let published = match update {
            Some(Update::Request(published)) => published,
            // What the client missed comes next.
            Some(Update::Lagged) => continue,
            // It resumes from its `Last-Event-ID` when it reconnects.
            Some(Update::Missed) | None => return,
        };
        let req = &published.request;
        let event = Event::default()
            .id(req.id.to_string())
            .data(smee_payload(req).to_string());
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// The `data` of a `message` event, shaped as smee.io builds it from a
/// Node request: `{...headers, body, query, timestamp}`. Repeated headers
/// are joined with `, ` as Node does (`set-cookie` stays a list).
pub fn smee_payload(req: &CapturedRequest) -> Value {
    let mut data = Map::new();
    for h in &req.headers {
        let name = h.name.to_ascii_lowercase();
        let value = h.value_lossy();
        match data.get_mut(&name) {
            None if name == "set-cookie" => {
                data.insert(name, Value::Array(vec![Value::String(value)]));
            }
            None => {
                data.insert(name, Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            Some(_) => {}
        }
    }
    data.insert("body".into(), body_value(req));
    data.insert(
        "query".into(),
        Value::Object(pairs_to_object(req.query_pairs())),
    );
    data.insert("timestamp".into(), Value::from(req.received_at.as_millis()));
    Value::Object(data)
}

/// The parsed body when it is JSON (by content type), else its text.
fn body_value(req: &CapturedRequest) -> Value {
    let is_json = req.header_str("content-type").is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
            || essence.to_ascii_lowercase().ends_with("+json")
    });
    if is_json {
        if let Ok(value) = serde_json::from_slice(&req.body) {
            return value;
        }
    }
    Value::String(String::from_utf8_lossy(&req.body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Header, Timestamp};

    #[test]
    fn the_payload_has_headers_on_top_then_body_query_and_timestamp() {
        let req = CapturedRequest {
            id: Uuid::now_v7(),
            bin: Uuid::new_v4(),
            received_at: Timestamp(1_700_000_000_123_456),
            method: "POST".into(),
            path: "/bin".into(),
            query: Some("a=1&a=2&b=x".into()),
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".into(),
            headers: vec![
                Header::new("Content-Type", "application/json"),
                Header::new("X-GitHub-Event", "push"),
                Header::new("x-github-event", "again"),
                Header::new("Set-Cookie", "a=1"),
            ],
            body: bytes::Bytes::from_static(br#"{"ok":true}"#),
            signature: None,
        };
        assert_eq!(
            smee_payload(&req),
            serde_json::json!({
                "content-type": "application/json",
                "x-github-event": "push, again",
                "set-cookie": ["a=1"],
                "body": {"ok": true},
                "query": {"a": ["1", "2"], "b": "x"},
                "timestamp": 1_700_000_000_123i64,
            })
        );
        let text = CapturedRequest {
            headers: vec![Header::new("Content-Type", "application/json")],
            body: bytes::Bytes::from_static(b"not json"),
            signature: None,
            ..req
        };
        assert_eq!(smee_payload(&text)["body"], "not json");
    }
}
