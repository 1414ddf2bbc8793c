//! Limits that hold: each refusal is a 429 with a one-line reason (and
//! `Retry-After` for rates), stores nothing, and leaves the server serving.

mod support;

use hookscope::model::Timestamp;
use support::{Backend, TestApp};

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

both_backends!(captures_beyond_a_bins_rate_get_429_with_retry_after_and_are_not_stored);
async fn captures_beyond_a_bins_rate_get_429_with_retry_after_and_are_not_stored(backend: Backend) {
    let app =
        TestApp::spawn_with_backend(backend, |config| config.captures_per_second_per_bin = 3).await;
    let bin = app.new_bin().await;
    let mut statuses = Vec::new();
    let mut refused = None;
    for i in 0..6 {
        let response = app.post_to_bin(bin, "", format!("capture {i}")).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 && refused.is_none() {
            refused = Some(response);
        }
    }
    // The burst allowance is the per-second rate; six in a row overrun it.
    assert_eq!(&statuses[..3], [200, 200, 200]);
    let refused = refused.expect("a capture is refused");
    assert!((1..=1).contains(&retry_after(&refused)));
    assert!(refused.text().await.expect("text").contains("per second"));
    let ok = statuses.iter().filter(|&&s| s == 200).count() as u64;
    let stored = app.state.store.count_requests(bin).await.expect("count");
    assert_eq!(stored, ok, "refused captures are not stored");
    // Another bin is not held back by this one.
    let other = app.new_bin().await;
    assert_eq!(app.post_to_bin(other, "", "x").await.status(), 200);
}

both_backends!(bin_creation_per_address_is_rate_limited_with_retry_after);
async fn bin_creation_per_address_is_rate_limited_with_retry_after(backend: Backend) {
    let app =
        TestApp::spawn_with_backend(backend, |config| config.bins_per_minute_per_ip = 2).await;
    app.new_bin().await;
    app.new_bin().await;
    let third = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(third.status(), 429);
    let wait = retry_after(&third);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let api = app
        .client
        .post(app.url("/new"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("POST /new");
    assert_eq!(api.status(), 429);
    let json: serde_json::Value = api.json().await.expect("json error");
    assert_eq!(json["error"], "too_many_requests");
    assert_eq!(app.state.store.count_bins().await.expect("count"), 2);
}

both_backends!(the_server_holds_at_most_max_bins);
async fn the_server_holds_at_most_max_bins(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| {
        config.max_bins = 2;
        config.bins_per_minute_per_ip = 0;
    })
    .await;
    let bin = app.new_bin().await;
    app.new_bin().await;
    let third = app
        .client
        .post(app.url("/new"))
        .send()
        .await
        .expect("POST /new");
    assert_eq!(third.status(), 429);
    assert!(third
        .text()
        .await
        .expect("text")
        .contains("maximum of 2 bins"));
    assert_eq!(app.state.store.count_bins().await.expect("count"), 2);
    assert_eq!(
        app.post_to_bin(bin, "", "still captured").await.status(),
        200
    );
}

both_backends!(a_bin_has_at_most_max_viewers_live_viewers);
async fn a_bin_has_at_most_max_viewers_live_viewers(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| config.max_viewers_per_bin = 2).await;
    let bin = app.new_bin().await;
    let url = format!("ws://{}/live/{bin}", app.addr);
    let (first, _) = tokio_tungstenite::connect_async(&url).await.expect("first");
    let (second, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("second");
    // Both have subscribed once the hub counts them (retry until it does).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.state.hub.viewers(bin) < 2 {
        assert!(std::time::Instant::now() < deadline, "viewers never joined");
        tokio::task::yield_now().await;
    }
    let third = tokio_tungstenite::connect_async(&url).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a third viewer must be refused, got {other:?}"),
    }
    drop((first, second));
}

both_backends!(retention_deletes_old_requests_then_idle_bins);
async fn retention_deletes_old_requests_then_idle_bins(app: TestApp) {
    let old = app.new_bin().await;
    let stored = app.post_to_bin(old, "", "old").await;
    assert_eq!(stored.status(), 200);
    // Retention compares UUID v7 ids, which count milliseconds: the cutoff
    // is the millisecond after the old request's, and the clock must pass
    // it before anything that has to be kept arrives.
    let (secs, nanos) = TestApp::request_id(&stored)
        .get_timestamp()
        .expect("a v7 id")
        .to_unix();
    let old_millis = i64::try_from(secs).expect("secs") * 1_000 + i64::from(nanos / 1_000_000);
    let cutoff = Timestamp((old_millis + 1) * 1_000);
    while Timestamp::now() < cutoff {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let busy = app.new_bin().await;
    let kept = app.post_to_bin(busy, "", "new").await;
    let kept = TestApp::request_id(&kept);

    let deleted = app
        .state
        .store
        .delete_before(cutoff)
        .await
        .expect("retention");
    assert_eq!(deleted.requests, 1);
    assert_eq!(deleted.bins, 1, "the old bin is idle since the cutoff");

    let gone = app.post_to_bin(old, "", "after").await;
    assert_eq!(gone.status(), 404, "a deleted bin captures nothing");
    let store = &app.state.store;
    assert!(store.request(busy, kept).await.expect("read").is_some());
    assert_eq!(app.post_to_bin(busy, "", "more").await.status(), 200);
}
