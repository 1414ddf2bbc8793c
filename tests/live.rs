//! A viewer's story: requests appear on the live feed the moment they land.

mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use support::TestApp;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open_feed(app: &TestApp, bin: Uuid, query: &str) -> Socket {
    let url = format!("ws://{}/live/{bin}{query}", app.addr);
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON message, failing the test after a generous deadline.
async fn next_message(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_capture_arrives_on_the_feed_as_the_api_request_object() {
    let app = TestApp::spawn().await;
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

#[tokio::test]
async fn binary_bodies_travel_as_base64() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let mut socket = open_feed(&app, bin, "").await;
    app.post_to_bin(bin, "", vec![0u8, 0xff, 0xfe]).await;
    let message = next_message(&mut socket).await;
    assert_eq!(message["request"]["content"], "AP/+");
    assert_eq!(message["request"]["content_encoding"], "base64");
}

#[tokio::test]
async fn every_viewer_of_a_bin_receives_and_viewers_of_other_bins_do_not() {
    let app = TestApp::spawn().await;
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

#[tokio::test]
async fn a_reconnecting_viewer_gets_what_it_missed_then_live_requests_without_duplicates() {
    let app = TestApp::spawn().await;
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

#[tokio::test]
async fn a_feed_for_an_unknown_bin_is_refused_with_404() {
    let app = TestApp::spawn().await;
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

#[tokio::test]
async fn shutdown_closes_open_feeds() {
    let app = TestApp::spawn().await;
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
