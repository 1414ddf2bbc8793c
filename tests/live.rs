//! A viewer's story: requests appear on the live feed the moment they land.

mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hookscope::live::feed::{Feed, Start, Update};
use hookscope::model::{CapturedRequest, Timestamp};
use serde_json::Value;
use support::feed::{open_feed, Socket};
use support::TestApp;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// The next JSON message, failing the test after a generous deadline.
async fn next_message(socket: &mut Socket) -> Value {
    support::feed::next_message(socket, Duration::from_secs(10)).await
}

both_backends!(a_capture_arrives_on_the_feed_as_the_api_request_object);
async fn a_capture_arrives_on_the_feed_as_the_api_request_object(app: TestApp) {
    let bin = app.new_bin().await;
    let mut socket = open_feed(&app, bin, "").await;

    let response = app
        .client
        .put(app.url(&format!("/{bin}/orders/7?x=1&x=2")))
        .header("X-Signature", "abc")
        .header("Content-Type", "application/json")
        .body(r#"{"id":7}"#)
        .send()
        .await
        .expect("capture");
    let id = TestApp::request_id(&response);

    let message = next_message(&mut socket).await;
    assert_eq!(message["type"], "request");
    let request = &message["request"];
    assert_eq!(request["uuid"], id.to_string());
    assert_eq!(request["token_id"], bin.to_string());
    assert_eq!(request["type"], "web");
    assert_eq!(request["method"], "PUT");
    assert_eq!(request["content"], r#"{"id":7}"#);
    assert_eq!(request["content_encoding"], "utf8");
    assert_eq!(request["query"]["x"], serde_json::json!(["1", "2"]));
    assert_eq!(
        request["headers"]["x-signature"],
        serde_json::json!(["abc"])
    );
    assert_eq!(request["path"], format!("/{bin}/orders/7"));
    assert_eq!(request["ip"], "127.0.0.1");
    assert_eq!(request["size"], 8);
    assert_eq!(
        request["url"],
        format!("http://{}/{bin}/orders/7?x=1&x=2", app.addr)
    );
    let created = request["created_at"].as_str().expect("created_at");
    assert_eq!(created.len(), "2026-01-01 00:00:00".len(), "{created}");
}

both_backends!(binary_bodies_travel_as_base64);
async fn binary_bodies_travel_as_base64(app: TestApp) {
    let bin = app.new_bin().await;
    let mut socket = open_feed(&app, bin, "").await;
    app.post_to_bin(bin, "", vec![0u8, 0xff, 0xfe]).await;
    let message = next_message(&mut socket).await;
    assert_eq!(message["request"]["content"], "AP/+");
    assert_eq!(message["request"]["content_encoding"], "base64");
}

both_backends!(every_viewer_of_a_bin_receives_and_viewers_of_other_bins_do_not);
async fn every_viewer_of_a_bin_receives_and_viewers_of_other_bins_do_not(app: TestApp) {
    let (bin, other) = (app.new_bin().await, app.new_bin().await);
    let mut first = open_feed(&app, bin, "").await;
    let mut second = open_feed(&app, bin, "").await;
    let mut elsewhere = open_feed(&app, other, "").await;

    let id = TestApp::request_id(&app.post_to_bin(bin, "/a", "for bin").await);
    for socket in [&mut first, &mut second] {
        assert_eq!(
            next_message(socket).await["request"]["uuid"],
            id.to_string()
        );
    }
    // Had the first capture leaked to the other bin's viewer, it would
    // arrive before this one.
    let other_id = TestApp::request_id(&app.post_to_bin(other, "/b", "for other").await);
    let message = next_message(&mut elsewhere).await;
    assert_eq!(message["request"]["uuid"], other_id.to_string());
}

both_backends!(a_reconnecting_viewer_gets_what_it_missed_then_live_requests_without_duplicates);
async fn a_reconnecting_viewer_gets_what_it_missed_then_live_requests_without_duplicates(
    app: TestApp,
) {
    let bin = app.new_bin().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(TestApp::request_id(
            &app.post_to_bin(bin, "", format!("{i}")).await,
        ));
    }
    let mut socket = open_feed(&app, bin, &format!("?after={}", ids[0])).await;
    assert_eq!(
        next_message(&mut socket).await["request"]["uuid"],
        ids[1].to_string()
    );
    assert_eq!(
        next_message(&mut socket).await["request"]["uuid"],
        ids[2].to_string()
    );
    let live = TestApp::request_id(&app.post_to_bin(bin, "", "live").await);
    assert_eq!(
        next_message(&mut socket).await["request"]["uuid"],
        live.to_string()
    );

    // The nil id asks for the whole history.
    let mut history = open_feed(&app, bin, &format!("?after={}", Uuid::nil())).await;
    for id in ids.iter().chain([&live]) {
        assert_eq!(
            next_message(&mut history).await["request"]["uuid"],
            id.to_string()
        );
    }
    history.send(Message::Close(None)).await.expect("close");
}

both_backends!(a_feed_for_an_unknown_bin_is_refused_with_404);
async fn a_feed_for_an_unknown_bin_is_refused_with_404(app: TestApp) {
    for bin in [Uuid::new_v4().to_string(), "nope".to_owned()] {
        let url = format!("ws://{}/live/{bin}", app.addr);
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 404);
            }
            other => panic!("expected a 404, got {other:?}"),
        }
    }
}

both_backends!(shutdown_closes_open_feeds);
async fn shutdown_closes_open_feeds(app: TestApp) {
    let bin = app.new_bin().await;
    let mut socket = open_feed(&app, bin, "").await;
    app.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the feed was not closed by shutdown");
}

both_backends!(a_live_message_carries_its_row_as_the_servers_list_shows_it);
async fn a_live_message_carries_its_row_as_the_servers_list_shows_it(app: TestApp) {
    let bin = app.new_bin().await;
    let mut socket = open_feed(&app, bin, "").await;
    let response = app
        .client
        .put(app.url(&format!("/{bin}/orders/7?x=1&x=2")))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(vec![b'7'; 2500])
        .send()
        .await
        .expect("capture");
    let id = TestApp::request_id(&response);
    let message = next_message(&mut socket).await;
    assert_eq!(message["request"]["uuid"], id.to_string());
    let row = &message["row"];
    assert_eq!(row["method_class"], "m-put");
    assert_eq!(row["target"], "/orders/7?x=1&x=2");
    assert_eq!(row["size"], "2.4 KiB");
    assert_eq!(
        row["kind"],
        serde_json::json!({"name": "json", "content_type": "application/json; charset=utf-8"})
    );
    assert_eq!(row["ip"], "127.0.0.1");

    // The server-rendered list shows the very same text.
    let html = app.html(&format!("/view/{bin}")).await;
    let text = |key: &str| row[key].as_str().expect("text").to_owned();
    for shown in [
        format!(
            r#"<span class="method {}">PUT</span>"#,
            text("method_class")
        ),
        format!(
            r#"<span class="target mono">{}</span>"#,
            text("target").replace('&', "&#38;")
        ),
        format!(
            r#"<time datetime="{}" title="{} UTC">{} UTC</time>"#,
            text("received_iso"),
            text("received"),
            text("received")
        ),
        format!(r#"<span class="badge size">{}</span>"#, text("size")),
        r#"<span class="badge kind" title="application/json; charset=utf-8">json</span>"#
            .to_owned(),
        format!(r#"<span class="ip">{}</span>"#, text("ip")),
    ] {
        assert!(html.contains(&shown), "the list shows {shown}");
    }

    // A request to the bin itself, without a body type.
    app.post_to_bin(bin, "", "").await;
    let row = next_message(&mut socket).await["row"].clone();
    assert_eq!(row["target"], "/");
    assert_eq!(row["size"], "0 B");
    assert_eq!(row["method_class"], "m-post");
    app.stop().await;
}

fn stored_request(bin: Uuid, body: String) -> CapturedRequest {
    CapturedRequest {
        id: Uuid::nil(),
        bin,
        received_at: Timestamp::now(),
        method: "POST".into(),
        path: format!("/{bin}"),
        query: None,
        version: "HTTP/1.1".into(),
        remote_addr: "127.0.0.1:1".into(),
        headers: Vec::new(),
        body: body.into(),
        signature: None,
    }
}

/// The next update of a feed, failing the test after a generous deadline.
async fn next_update(feed: &mut Feed) -> Option<Update> {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an update within 10 s")
}

/// The next request a feed delivers; a failure on anything else.
async fn next_delivered(feed: &mut Feed) -> Uuid {
    match next_update(feed).await {
        Some(Update::Request(published)) => published.request.id,
        other => panic!("expected a request, got {other:?}"),
    }
}

/// SQLite only: on a store several instances share, a feed takes every
/// request from the store in commit order and never from the hub, so
/// publication order and lag do not arise there (tests/instances.rs).
#[tokio::test]
async fn a_feed_that_lags_catches_up_from_the_store_with_nothing_skipped_or_repeated() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let (hub, store) = (&app.state.hub, &app.state.store);
    let mut feed = Feed::join(hub, store, bin, 10, Start::Now)
        .await
        .expect("joined");
    let mut stored = Vec::new();
    for i in 0..3 {
        let req = store
            .insert_request(stored_request(bin, format!("{i}")))
            .await;
        stored.push(req.expect("stored"));
    }
    // Captures publish in the order their tasks run, not always in commit
    // order: the third is published first, the second later still.
    hub.publish(&stored[2]);
    hub.publish(&stored[0]);
    assert_eq!(next_delivered(&mut feed).await, stored[2].id);
    assert_eq!(next_delivered(&mut feed).await, stored[0].id);

    // More than the hub keeps for a viewer that does not read.
    for i in 3..303 {
        let req = store
            .insert_request(stored_request(bin, format!("{i}")))
            .await;
        let req = req.expect("stored");
        hub.publish(&req);
        stored.push(req);
    }
    hub.publish(&stored[1]);

    // The feed says it fell behind, then everything not yet delivered
    // comes once, in commit order.
    assert!(matches!(next_update(&mut feed).await, Some(Update::Lagged)));
    for req in std::iter::once(&stored[1]).chain(&stored[3..]) {
        assert_eq!(next_delivered(&mut feed).await, req.id);
    }
    // Nothing else is owed: the next capture is the next update.
    let next = TestApp::request_id(&app.post_to_bin(bin, "", "next").await);
    assert_eq!(next_delivered(&mut feed).await, next);
    app.stop().await;
}

both_backends!(a_long_lived_feed_delivers_a_committed_request_whose_publication_is_late_once);
async fn a_long_lived_feed_delivers_a_committed_request_whose_publication_is_late_once(
    app: TestApp,
) {
    let bin = app.new_bin().await;
    let (hub, store) = (&app.state.hub, &app.state.store);
    let mut feed = Feed::join(hub, store, bin, 10, Start::Now)
        .await
        .expect("joined");
    let late = store
        .insert_request(stored_request(bin, "late".into()))
        .await
        .expect("stored");
    // More live requests than a feed remembers between store reads (1024):
    // the read that lets it forget them finds the one not yet published.
    let mut delivered = Vec::new();
    for i in 0..1100 {
        let req = store
            .insert_request(stored_request(bin, format!("{i}")))
            .await;
        let req = req.expect("stored");
        hub.publish(&req);
        delivered.push(next_delivered(&mut feed).await);
        if delivered.last() != Some(&req.id) {
            // The store read came first: it was the late one, then this.
            assert_eq!(delivered.last(), Some(&late.id));
            delivered.push(next_delivered(&mut feed).await);
            assert_eq!(delivered.last(), Some(&req.id));
        }
    }
    assert_eq!(delivered.len(), 1101, "the late request came once");
    assert!(delivered.contains(&late.id));
    // Its publication, when it comes, is not a second delivery.
    hub.publish(&late);
    let next = TestApp::request_id(&app.post_to_bin(bin, "", "next").await);
    assert_eq!(next_delivered(&mut feed).await, next);
    app.stop().await;
}

/// Several instances on one database: a request another instance
/// committed reaches this one's viewers when the hub rings for its bin,
/// read from the store, once and in order with the local ones.
#[tokio::test]
async fn a_request_committed_elsewhere_reaches_the_feed_when_the_hub_rings() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let (hub, store) = (&app.state.hub, &app.state.store);
    let mut feed = Feed::join(hub, store, bin, 10, Start::Now)
        .await
        .expect("joined");
    // Stored as another instance would: committed, never published here.
    let elsewhere = store
        .insert_request(stored_request(bin, "elsewhere".into()))
        .await
        .expect("stored");
    let local = store
        .insert_request(stored_request(bin, "local".into()))
        .await
        .expect("stored");
    hub.publish(&local);
    assert_eq!(next_delivered(&mut feed).await, local.id);
    hub.ring(bin);
    assert_eq!(next_delivered(&mut feed).await, elsewhere.id);
    // Ringing again finds nothing new: the next capture is the next update.
    hub.ring(bin);
    let next = TestApp::request_id(&app.post_to_bin(bin, "", "next").await);
    assert_eq!(next_delivered(&mut feed).await, next);
    app.stop().await;
}
