//! A developer's story: make the URL answer like the real endpoint would
//! (status, body, headers, delay, CORS), keep only what matters, expire.

mod support;

use std::time::{Duration, Instant};

use hookscope::model::Timestamp;
use serde_json::{json, Value};
use support::{Backend, TestApp};
use uuid::Uuid;

both_backends!(capture_answers_with_the_configured_response);
async fn capture_answers_with_the_configured_response(app: TestApp) {
    let bin = app
        .bin_with(json!({
            "default_status": 503,
            "default_content": "<script>window.x=1</script>{\"ok\":false}",
            "default_content_type": "application/json",
            "response_headers": [
                {"name": "Retry-After", "value": "120"},
                {"name": "X-Dup", "value": "one"},
                {"name": "X-Dup", "value": "two"}
            ]
        }))
        .await;
    let response = app.post_to_bin(bin, "/hook", "payload").await;
    assert_eq!(response.status(), 503, "a configured 5xx is served as is");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["retry-after"], "120");
    let dups: Vec<_> = headers.get_all("x-dup").iter().collect();
    assert_eq!(dups, ["one", "two"]);
    assert_eq!(headers["x-token-id"], bin.to_string());
    assert_eq!(
        headers["content-security-policy"], "sandbox",
        "answers from our origin run no script"
    );
    let id = TestApp::request_id(&response);
    assert_eq!(
        response.text().await.expect("body"),
        "<script>window.x=1</script>{\"ok\":false}"
    );
    let stored = app
        .state
        .store
        .request(bin, id)
        .await
        .expect("read")
        .expect("stored before answering");
    assert_eq!(&stored.body[..], b"payload");
}

both_backends!(cors_bins_answer_preflights_and_allow_every_origin);
async fn cors_bins_answer_preflights_and_allow_every_origin(app: TestApp) {
    let bin = app.bin_with(json!({"cors": true})).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(&format!("/{bin}/api")))
        .header("Origin", "https://example.com")
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "x-custom, content-type")
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert_eq!(preflight.headers()["access-control-allow-methods"], "*");
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "x-custom, content-type"
    );
    let id = TestApp::request_id(&preflight);
    let stored = app.state.store.request(bin, id).await.expect("read");
    assert_eq!(
        stored.expect("the preflight is captured too").method,
        "OPTIONS"
    );

    let post = app.post_to_bin(bin, "", "x").await;
    assert_eq!(post.status(), 200);
    assert_eq!(post.headers()["access-control-allow-origin"], "*");

    let plain = app.bin_with(json!({})).await;
    let post = app.post_to_bin(plain, "", "x").await;
    assert!(post.headers().get("access-control-allow-origin").is_none());
}

both_backends!(timeout_delays_the_answer_after_the_request_is_stored);
async fn timeout_delays_the_answer_after_the_request_is_stored(app: TestApp) {
    let bin = app.bin_with(json!({"timeout": 1})).await;
    let started = Instant::now();
    let response = app.post_to_bin(bin, "", "slow").await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // The server's cap wins over a bin's longer timeout.
    let capped = TestApp::spawn_with(|c| c.max_response_delay_secs = 0).await;
    let bin = capped.bin_with(json!({"timeout": 30})).await;
    let started = Instant::now();
    let response = capped.post_to_bin(bin, "", "fast").await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn stored_bodies(app: &TestApp, bin: Uuid) -> Vec<String> {
    let page = app
        .json(&format!("/token/{bin}/requests?per_page=100"))
        .await;
    assert_eq!(
        page["total"].as_u64().expect("total") as usize,
        page["data"].as_array().expect("data").len()
    );
    support::contents(&page)
}

both_backends!(request_limit_prunes_the_oldest);
async fn request_limit_prunes_the_oldest(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |c| c.max_requests_per_bin = 4).await;
    let bin = app.bin_with(json!({"request_limit": 3})).await;
    for n in 1..=5 {
        assert_eq!(
            app.post_to_bin(bin, "", format!("r{n}")).await.status(),
            200
        );
    }
    assert_eq!(stored_bodies(&app, bin).await, ["r3", "r4", "r5"]);
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 3);

    // Pruned requests leave the search index too.
    let found = app.json(&format!("/token/{bin}/requests?query=r1")).await;
    assert_eq!(found["total"], 0);

    // No limit of its own (or a larger one): the server's cap applies.
    let big = app.bin_with(json!({"request_limit": 1000})).await;
    for n in 1..=6 {
        app.post_to_bin(big, "", format!("b{n}")).await;
    }
    assert_eq!(stored_bodies(&app, big).await, ["b3", "b4", "b5", "b6"]);

    // Lowering the limit applies from the next request on.
    let response = app
        .client
        .put(app.url(&format!("/token/{bin}")))
        .json(&json!({"request_limit": 1}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    app.post_to_bin(bin, "", "r6").await;
    assert_eq!(stored_bodies(&app, bin).await, ["r6"]);
}

both_backends!(
    concurrent_captures_keep_the_newest_and_count_exactly,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn concurrent_captures_keep_the_newest_and_count_exactly(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn_on_backend(backend).await);
    let limited = app.bin_with(json!({"request_limit": 10})).await;
    let open = app.bin_with(json!({})).await;
    // Captures to both bins at once, so batches mix bins and hold several
    // captures of each; counts and pruning are applied per batch.
    let sends: Vec<_> = (0..80)
        .map(|n| {
            let app = app.clone();
            let bin = if n % 2 == 0 { limited } else { open };
            tokio::spawn(async move {
                let answer = app.post_to_bin(bin, "", format!("c{n}")).await;
                assert_eq!(answer.status(), 200);
                (bin, TestApp::request_id(&answer))
            })
        })
        .collect();
    let mut limited_ids = Vec::new();
    for send in sends {
        let (bin, id) = send.await.expect("send");
        if bin == limited {
            limited_ids.push(id);
        }
    }
    let store = &app.state.store;
    assert_eq!(store.count_requests(open).await.expect("count"), 40);
    assert_eq!(store.count_requests(limited).await.expect("count"), 10);
    // Ids are in commit order: the ten kept are the ten newest.
    limited_ids.sort();
    for (n, id) in limited_ids.iter().enumerate() {
        let kept = store.request(limited, *id).await.expect("read").is_some();
        assert_eq!(kept, n >= 30, "request {n} of 40");
    }
}

both_backends!(expired_bins_disappear);
async fn expired_bins_disappear(app: TestApp) {
    let bin = app.bin_with(json!({"expiry": 1})).await;
    let keeper = app.bin_with(json!({})).await;
    assert_eq!(app.post_to_bin(bin, "", "early").await.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.post_to_bin(bin, "", "late").await.status();
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "the bin never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = app
        .client
        .get(app.url(&format!("/token/{bin}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);

    // The sweep deletes the expired bin's rows; other bins stay.
    let deleted = app
        .state
        .store
        .delete_expired_bins(Timestamp::now())
        .await
        .expect("sweep");
    assert!(deleted.contains(&bin));
    assert!(!deleted.contains(&keeper));
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 0);
    assert_eq!(app.post_to_bin(keeper, "", "x").await.status(), 200);
}

both_backends!(dashboard_settings_form_saves_and_validates);
async fn dashboard_settings_form_saves_and_validates(app: TestApp) {
    let bin = app.new_bin().await;
    let page = app
        .client
        .get(app.url(&format!("/view/{bin}/settings")))
        .send()
        .await
        .expect("GET settings");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("name=\"default_status\""));

    let form = [
        ("default_status", "418"),
        ("default_content_type", "text/plain"),
        ("default_content", "<b>teapot</b>"),
        ("response_headers", "X-One: 1\r\nX-Two: 2\r\n"),
        ("timeout", "0"),
        ("cors", "on"),
        ("request_limit", ""),
        ("expiry", ""),
        ("alias", "kettle"),
        ("description", ""),
    ];
    let saved = app
        .client
        .post(app.url(&format!("/view/{bin}/settings")))
        .form(&form)
        .send()
        .await
        .expect("POST settings");
    assert_eq!(saved.status(), 303);
    let dashboard = app.html(&format!("/view/{bin}")).await;
    assert!(
        dashboard.contains("<h1 class=\"bin-name\">kettle</h1>"),
        "the name is shown"
    );
    let answer = app.post_to_bin(bin, "", "x").await;
    assert_eq!(answer.status(), 418);
    assert_eq!(answer.headers()["x-one"], "1");
    assert_eq!(answer.headers()["x-two"], "2");
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    assert_eq!(answer.text().await.expect("body"), "<b>teapot</b>");

    let mut bad = form;
    bad[0] = ("default_status", "999");
    let refused = app
        .client
        .post(app.url(&format!("/view/{bin}/settings")))
        .header("Accept", "text/html")
        .form(&bad)
        .send()
        .await
        .expect("POST bad settings");
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("html");
    // The form itself comes back (not an error page quoting it), with the
    // reason under the field.
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(!html.contains("&lt;form"), "{html}");
    assert!(
        html.contains(
            "<p class=\"field-error\" id=\"default_status-error\">Must be between 100 and 599, not 999.</p>"
        ),
        "{html}"
    );
    assert!(html.contains("aria-describedby=\"default_status-error\""));
    assert!(html.contains("teapot"), "the form keeps what was typed");
    assert!(!html.contains("<b>teapot"), "escaped");

    let cross_site = app
        .client
        .post(app.url(&format!("/view/{bin}/settings")))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&form)
        .send()
        .await
        .expect("POST cross-site");
    assert_eq!(cross_site.status(), 403);
}

both_backends!(a_bins_listen_setting_holds_the_answer_for_a_listening_forwarder);
async fn a_bins_listen_setting_holds_the_answer_for_a_listening_forwarder(backend: Backend) {
    // No server-wide listen wait: only the bin's own setting applies.
    let app = TestApp::spawn_on_backend(backend).await;
    let bin = app
        .bin_with(json!({"listen": 5, "default_content": "default"}))
        .await;
    let _forwarder = app.state.pending.answerer(bin);

    let client = app.client.clone();
    let url = app.url(&format!("/{bin}/pay"));
    let sender = tokio::spawn(async move { client.post(url).body("order").send().await });

    // The request is stored before the wait; answer it as a forwarder would.
    let deadline = Instant::now() + Duration::from_secs(10);
    let rid = loop {
        let latest = app
            .client
            .get(app.url(&format!("/token/{bin}/request/latest")))
            .send()
            .await
            .expect("latest");
        if latest.status() == 200 {
            let json: Value = latest.json().await.expect("json");
            break json["uuid"].as_str().expect("uuid").to_owned();
        }
        assert!(Instant::now() < deadline, "the capture was never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let answered = app
        .client
        // The plural spelling of webhook.site's documentation (`hookscope
        // forward` and webhook.site's CLI send the singular one).
        .put(app.url(&format!("/token/{bin}/requests/{rid}/response")))
        .json(&json!({"status": 202, "content": "ZnJvbSB0aGUgYXBw", "headers": {"X-From": "app"}}))
        .send()
        .await
        .expect("PUT response");
    assert_eq!(answered.status(), 200);

    let response = sender.await.expect("task").expect("capture answer");
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-from"], "app");
    assert_eq!(response.headers()["content-security-policy"], "sandbox");
    assert_eq!(response.text().await.expect("body"), "from the app");
}

both_backends!(every_setting_survives_an_update_and_a_restart);
async fn every_setting_survives_an_update_and_a_restart(app: TestApp) {
    let bin = app
        .bin_with(json!({"alias": "first", "default_content": "created"}))
        .await;
    let settings = json!({
        "default_status": 418, "default_content": "I'm a teapot \u{2615}",
        "default_content_type": "text/plain; charset=utf-8", "timeout": 1, "listen": 2,
        "cors": true, "alias": "tea", "description": "brews", "request_limit": 7,
        "expiry": 86400,
    });
    let updated = app
        .client
        .put(app.url(&format!("/token/{bin}")))
        .json(&settings)
        .send()
        .await
        .expect("PUT");
    assert_eq!(updated.status(), 200);
    let before: Value = updated.json().await.expect("json");

    // A new process reads the bin from the database, not from its cache.
    let app = app.restart(|_| {}).await;
    let after = app.json(&format!("/token/{bin}")).await;
    assert_eq!(after, before);
    for (field, value) in settings.as_object().expect("object") {
        assert_eq!(&after[field], value, "{field}");
    }
    app.stop().await;
}
