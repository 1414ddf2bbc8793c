//! A smee user's story: `GET /{bin}` with `Accept: text/event-stream` is an
//! event stream in smee.io's format instead of a capture.

mod support;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use serde_json::{json, Value};
use support::{Backend, TestApp};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

/// One server-sent event, parsed as an `EventSource` does.
#[derive(Debug, Default, PartialEq)]
struct SseEvent {
    event: Option<String>,
    data: String,
    id: Option<String>,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("data is JSON")
    }
}

/// The client side of an event stream.
struct EventStream {
    chunks: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: String,
}

impl EventStream {
    async fn open(app: &TestApp, bin: Uuid, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = app
            .client
            .get(app.url(&format!("/{bin}")))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send().await.expect("GET event stream")
    }

    async fn connect(app: &TestApp, bin: Uuid, last_event_id: Option<&str>) -> Self {
        let response = Self::open(app, bin, last_event_id).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            chunks: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event; blocks of only comments (keep-alives) are skipped.
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut has_data = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "event" => event.event = Some(value.to_owned()),
                        "id" => event.id = Some(value.to_owned()),
                        "data" => {
                            if has_data {
                                event.data.push('\n');
                            }
                            event.data.push_str(value);
                            has_data = true;
                        }
                        _ => {}
                    }
                }
                if has_data {
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.chunks.next())
                .await
                .expect("an event in time")
                .expect("the stream is open")
                .expect("a chunk");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream"));
        }
    }
}

both_backends!(an_event_stream_opens_with_ready_then_one_smee_message_per_capture);
async fn an_event_stream_opens_with_ready_then_one_smee_message_per_capture(app: TestApp) {
    let bin = app.new_bin().await;
    let mut stream = EventStream::connect(&app, bin, None).await;
    let ready = stream.next().await;
    assert_eq!(ready.event.as_deref(), Some("ready"));
    assert_eq!(ready.json(), json!({}));

    let before = hookscope::model::Timestamp::now().as_millis();
    let response = app
        .client
        .post(app.url(&format!("/{bin}/github?a=1&a=2&b=x")))
        .header("content-type", "application/json")
        .header("X-GitHub-Event", "push")
        .body(r#"{"action":"opened","n":1}"#)
        .send()
        .await
        .expect("POST");
    let id = TestApp::request_id(&response);
    let message = stream.next().await;
    assert_eq!(
        message.event, None,
        "a default `message` event, as smee.io sends"
    );
    assert_eq!(message.id, Some(id.to_string()));
    let data = message.json();
    assert_eq!(data["x-github-event"], "push");
    assert_eq!(data["content-type"], "application/json");
    assert_eq!(data["host"], app.addr.to_string());
    assert_eq!(data["body"], json!({"action": "opened", "n": 1}));
    assert_eq!(data["query"], json!({"a": ["1", "2"], "b": "x"}));
    let timestamp = data["timestamp"].as_i64().expect("timestamp in ms");
    assert!(
        timestamp >= before && timestamp <= before + 10_000,
        "{timestamp}"
    );

    app.post_to_bin(bin, "", "plain text").await;
    let text = stream.next().await.json();
    assert_eq!(text["body"], "plain text");
    assert_eq!(text["query"], json!({}));

    // The subscription itself was not captured.
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 2);
    app.stop().await;
}

both_backends!(a_client_that_reconnects_with_last_event_id_gets_what_it_missed);
async fn a_client_that_reconnects_with_last_event_id_gets_what_it_missed(app: TestApp) {
    let bin = app.new_bin().await;
    let first = TestApp::request_id(&app.post_to_bin(bin, "", "one").await);
    app.post_to_bin(bin, "", "two").await;
    app.post_to_bin(bin, "", "three").await;

    // A new client only sees what comes next.
    let mut fresh = EventStream::connect(&app, bin, None).await;
    assert_eq!(fresh.next().await.event.as_deref(), Some("ready"));
    app.post_to_bin(bin, "", "four").await;
    assert_eq!(fresh.next().await.json()["body"], "four");

    // A client that saw `one` gets the rest, in order, once each.
    let mut resumed = EventStream::connect(&app, bin, Some(&first.to_string())).await;
    assert_eq!(resumed.next().await.event.as_deref(), Some("ready"));
    for body in ["two", "three", "four"] {
        assert_eq!(resumed.next().await.json()["body"], body);
    }
    app.post_to_bin(bin, "", "five").await;
    assert_eq!(resumed.next().await.json()["body"], "five");
    assert_eq!(fresh.next().await.json()["body"], "five");
    app.stop().await;
}

both_backends!(only_a_get_of_the_bin_url_accepting_event_streams_is_not_captured);
async fn only_a_get_of_the_bin_url_accepting_event_streams_is_not_captured(app: TestApp) {
    let bin = app.new_bin().await;
    let unknown = EventStream::open(&app, Uuid::new_v4(), None).await;
    assert_eq!(unknown.status(), 404);

    // A sub-path, another method or another Accept is captured as usual.
    let sub = app
        .client
        .get(app.url(&format!("/{bin}/events")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET sub-path");
    assert_eq!(sub.status(), 200);
    let post = app
        .client
        .post(app.url(&format!("/{bin}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), 200);
    let plain = app
        .client
        .get(app.url(&format!("/{bin}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(plain.status(), 200);
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 3);
    app.stop().await;
}

both_backends!(the_viewer_limit_counts_event_streams_and_websockets_alike);
async fn the_viewer_limit_counts_event_streams_and_websockets_alike(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| config.max_viewers_per_bin = 2).await;
    let bin = app.new_bin().await;
    let mut stream = EventStream::connect(&app, bin, None).await;
    assert_eq!(stream.next().await.event.as_deref(), Some("ready"));
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/live/{bin}", app.addr))
        .await
        .expect("a websocket viewer");
    assert_eq!(app.state.hub.viewers(bin), 2);

    // A third viewer is refused, whichever way it comes.
    let refused = EventStream::open(&app, bin, None).await;
    assert_eq!(refused.status(), 429);
    let reason = refused.text().await.expect("a reason");
    assert!(
        reason.contains("maximum of 2 live viewers"),
        "the reason names the limit: {reason}"
    );
    match tokio_tungstenite::connect_async(format!("ws://{}/live/{bin}", app.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a third viewer must be refused, got {other:?}"),
    }
    assert_eq!(app.state.hub.viewers(bin), 2);

    // An event stream that closes frees its place.
    drop(stream);
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.state.hub.viewers(bin) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream never left"
        );
        tokio::task::yield_now().await;
    }
    let mut again = EventStream::connect(&app, bin, None).await;
    assert_eq!(again.next().await.event.as_deref(), Some("ready"));
    app.post_to_bin(bin, "", "still live").await;
    assert_eq!(again.next().await.json()["body"], "still live");
    drop(socket);
    app.stop().await;
}
