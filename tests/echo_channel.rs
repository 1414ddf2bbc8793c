//! webhook.site's live channel (`/socket.io/`, Laravel Echo over socket.io
//! 2 long-polling) spoken packet by packet, as its CLI's client library
//! does: the handshake, subscriptions and their checks, events, pings,
//! unsubscribing and closing. tests/webhooksite_cli.rs runs the real CLI.

mod support;

use serde_json::{json, Value};
use support::{Backend, TestApp};
use uuid::Uuid;

/// One Engine.IO 3 polling session.
struct Session<'a> {
    app: &'a TestApp,
    sid: String,
}

/// The packets of a text payload (`len:packet…`; the tests send ASCII, so
/// lengths in UTF-16 units are byte lengths).
fn packets(payload: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (length, after) = rest.split_once(':').expect("a length");
        let length: usize = length.parse().expect("a number");
        out.push(after[..length].to_owned());
        rest = &after[length..];
    }
    out
}

fn payload(packets: &[&str]) -> String {
    packets.iter().map(|p| format!("{}:{p}", p.len())).collect()
}

impl<'a> Session<'a> {
    /// Opens a session; checks the handshake's packets.
    async fn open(app: &'a TestApp) -> Self {
        let response = app.get("/socket.io/?EIO=3&transport=polling&t=a1").await;
        assert_eq!(response.status(), 200);
        let got = packets(&response.text().await.expect("text"));
        assert_eq!(got.len(), 2, "{got:?}");
        let open: Value = serde_json::from_str(got[0].strip_prefix('0').expect("open packet"))
            .expect("open JSON");
        assert_eq!(open["upgrades"], json!([]), "polling only");
        assert!(open["pingInterval"].as_u64().expect("interval") > 0);
        assert_eq!(got[1], "40", "connected to the default namespace");
        Self {
            app,
            sid: open["sid"].as_str().expect("sid").to_owned(),
        }
    }

    fn url(&self) -> String {
        self.app.url(&format!(
            "/socket.io/?EIO=3&transport=polling&sid={}",
            self.sid
        ))
    }

    async fn send(&self, sent: &[&str]) -> reqwest::Response {
        self.app
            .client
            .post(self.url())
            .header("content-type", "text/plain;charset=UTF-8")
            .body(payload(sent))
            .send()
            .await
            .expect("POST")
    }

    /// The packets the next poll brings.
    async fn poll(&self) -> Vec<String> {
        let response = self.app.client.get(self.url()).send().await.expect("GET");
        assert_eq!(response.status(), 200);
        packets(&response.text().await.expect("text"))
    }

    async fn subscribe(&self, bin: Uuid, headers: Value) {
        let event = json!(["subscribe", {
            "channel": format!("private-token.{bin}"),
            "auth": { "headers": headers },
        }]);
        let response = self.send(&[&format!("42{event}")]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("text"), "ok");
    }
}

/// The arguments of a socket.io event packet.
fn event(packet: &str) -> Vec<Value> {
    let args: Value =
        serde_json::from_str(packet.strip_prefix("42").expect("an event packet")).expect("JSON");
    args.as_array().expect("array").clone()
}

both_backends!(a_subscriber_gets_each_new_request_as_request_created);
async fn a_subscriber_gets_each_new_request_as_request_created(app: TestApp) {
    let bin = app.new_bin().await;
    let session = Session::open(&app).await;
    session.subscribe(bin, json!({})).await;
    assert_eq!(app.state.hub.viewers(bin), 1);

    let sent = app.post_to_bin(bin, "/a?b=c", "hello").await;
    let id = TestApp::request_id(&sent);
    let got = session.poll().await;
    assert_eq!(got.len(), 1, "{got:?}");
    let args = event(&got[0]);
    assert_eq!(args[0], "request.created");
    assert_eq!(args[1], format!("private-token.{bin}"));
    assert_eq!(args[2]["request"]["uuid"], id.to_string());
    assert_eq!(args[2]["request"]["content"], "hello");
    assert_eq!(args[2]["request"]["query"]["b"], "c");

    // Ping, pong; then unsubscribing leaves the bin.
    session.send(&["2"]).await;
    assert_eq!(session.poll().await, ["3"]);
    let leave = json!(["unsubscribe", { "channel": format!("private-token.{bin}") }]);
    session.send(&[&format!("42{leave}")]).await;
    assert_eq!(app.state.hub.viewers(bin), 0);

    // Closing ends the session.
    session.send(&["1"]).await;
    let gone = app.client.get(session.url()).send().await.expect("GET");
    assert_eq!(gone.status(), 400);
    app.stop().await;
}

both_backends!(a_bin_password_is_checked_from_the_subscriptions_headers);
async fn a_bin_password_is_checked_from_the_subscriptions_headers(app: TestApp) {
    let bin = app.new_bin().await;
    let set = app
        .client
        .put(app.url(&format!("/token/{bin}")))
        .json(&json!({ "password": "s3cret" }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(set.status(), 200);

    let session = Session::open(&app).await;
    session
        .subscribe(bin, json!({ "X-Bin-Password": "wrong" }))
        .await;
    let got = session.poll().await;
    assert_eq!(
        event(&got[0]),
        [
            json!("subscription_error"),
            json!(format!("private-token.{bin}")),
            json!(401)
        ]
    );
    assert_eq!(app.state.hub.viewers(bin), 0);

    session
        .subscribe(bin, json!({ "X-Bin-Password": "s3cret" }))
        .await;
    assert_eq!(app.state.hub.viewers(bin), 1);
    app.stop().await;
}

both_backends!(with_an_api_key_a_subscription_needs_it);
async fn with_an_api_key_a_subscription_needs_it(backend: Backend) {
    let app =
        TestApp::spawn_with_backend(backend, |config| config.api_key = Some(String::from("k3y")))
            .await;
    let created = app
        .client
        .post(app.url("/token"))
        .header("Api-Key", "k3y")
        .send()
        .await
        .expect("POST /token");
    assert_eq!(created.status(), 201);
    let token: Value = created.json().await.expect("token");
    let bin = Uuid::parse_str(token["uuid"].as_str().expect("uuid")).expect("uuid");

    let session = Session::open(&app).await;
    session.subscribe(bin, json!({ "Api-Key": "nope" })).await;
    assert_eq!(event(&session.poll().await[0])[2], 401);
    session.subscribe(bin, json!({ "Api-Key": "k3y" })).await;
    assert_eq!(app.state.hub.viewers(bin), 1);
    app.stop().await;
}

both_backends!(unknown_channels_sessions_and_protocols_are_refused);
async fn unknown_channels_sessions_and_protocols_are_refused(app: TestApp) {
    let session = Session::open(&app).await;
    session.subscribe(Uuid::new_v4(), json!({})).await;
    assert_eq!(event(&session.poll().await[0])[2], 404);

    for (query, why) in [
        ("EIO=4&transport=polling", "socket.io 3+ (Engine.IO 4)"),
        ("EIO=3&transport=websocket", "no websocket transport"),
        ("EIO=3&transport=polling&sid=nope", "an unknown session"),
    ] {
        let response = app.get(&format!("/socket.io/?{query}")).await;
        assert_eq!(response.status(), 400, "{why}");
        let body: Value = response.json().await.expect("JSON error");
        assert!(body["message"].is_string(), "{why}: {body}");
    }
    let malformed = session.send(&[]).await;
    assert_eq!(malformed.status(), 200, "an empty payload is fine");
    let malformed = app
        .client
        .post(session.url())
        .body("5:42")
        .send()
        .await
        .expect("POST");
    assert_eq!(malformed.status(), 400);
    app.stop().await;
}

both_backends!(the_channels_session_and_subscription_limits_are_settings);
async fn the_channels_session_and_subscription_limits_are_settings(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| {
        config.max_live_channel_sessions = 1;
        config.max_live_channel_subscriptions = 1;
    })
    .await;
    let (first, second) = (app.new_bin().await, app.new_bin().await);
    let session = Session::open(&app).await;

    // A second session is one too many: refused with a reason, and the
    // open one keeps working.
    let refused = app.get("/socket.io/?EIO=3&transport=polling&t=a2").await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.expect("JSON refusal");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("Too many")));

    // One bin per session: the second subscription is refused (429).
    session.subscribe(first, json!({})).await;
    assert_eq!(app.state.hub.viewers(first), 1);
    session.subscribe(second, json!({})).await;
    let got = session.poll().await;
    assert_eq!(event(&got[0])[2], 429, "{got:?}");
    assert_eq!(app.state.hub.viewers(second), 0);
    app.stop().await;
}

both_backends!(a_subscriber_counts_towards_the_bins_viewer_limit_like_any_viewer);
async fn a_subscriber_counts_towards_the_bins_viewer_limit_like_any_viewer(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| config.max_viewers_per_bin = 1).await;
    let bin = app.new_bin().await;
    let feed_url = format!("ws://{}/live/{bin}", app.addr);
    let (socket, _) = tokio_tungstenite::connect_async(&feed_url)
        .await
        .expect("a websocket viewer");
    assert_eq!(app.state.hub.viewers(bin), 1);

    // The bin is full: the subscription is refused as one past the
    // session's own limit is.
    let session = Session::open(&app).await;
    session.subscribe(bin, json!({})).await;
    let got = session.poll().await;
    assert_eq!(
        event(&got[0]),
        [
            json!("subscription_error"),
            json!(format!("private-token.{bin}")),
            json!(429)
        ]
    );

    // Once the websocket leaves, the subscriber takes its place, and then
    // a websocket is the one refused.
    drop(socket);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.hub.viewers(bin) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the websocket never left"
        );
        tokio::task::yield_now().await;
    }
    session.subscribe(bin, json!({})).await;
    assert_eq!(app.state.hub.viewers(bin), 1);
    match tokio_tungstenite::connect_async(&feed_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a second viewer must be refused, got {other:?}"),
    }
    app.stop().await;
}
