//! A webhook.site user's story: scripts written for webhook.site work here
//! by changing the base URL. A token read and written back whole, an alias
//! that is a URL (capture, live feed, SSE, dashboard, exports, forward),
//! `/{bin}/{status}`, and `PUT /token/{id}/cors/toggle`.

mod support;

use std::time::Duration;

use futures_util::StreamExt as _;
use hookscope::forward::{self, ForwardArgs};
use hookscope::model::RESERVED_ALIASES;
use serde_json::{json, Value};
use support::recorder::Recorder;
use support::{Backend, TestApp};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

async fn put_token(app: &TestApp, id: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .json(body)
        .send()
        .await
        .expect("PUT /token/{id}");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

/// A bin with `alias`; its id.
async fn aliased_bin(app: &TestApp, alias: &str) -> String {
    let token = app.create_token(json!({ "alias": alias })).await;
    assert_eq!(token["alias"], alias);
    token["uuid"].as_str().expect("uuid").to_owned()
}

async fn latest(app: &TestApp, bin: &str) -> Value {
    app.json(&format!("/token/{bin}/request/latest")).await
}

both_backends!(a_token_read_and_put_back_whole_is_unchanged_then_one_change_lands);
async fn a_token_read_and_put_back_whole_is_unchanged_then_one_change_lands(app: TestApp) {
    let token = app
        .create_token(json!({
            "default_status": 201,
            "default_content": "{\"ok\":true}",
            "default_content_type": "application/json",
            "timeout": 0,
            "cors": true,
            "expiry": 3600,
            "alias": "round-trip",
            "description": "kept",
            "request_limit": 10,
            "password": "hunter2",
            "response_headers": [{"name": "X-One", "value": "1"}],
        }))
        .await;
    let id = token["uuid"].as_str().expect("uuid").to_owned();
    let read = |app: &TestApp| {
        let url = app.url(&format!("/token/{id}"));
        let client = app.client.clone();
        async move {
            let response = client
                .get(url)
                .header("x-bin-password", "hunter2")
                .send()
                .await
                .expect("GET");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("JSON")
        }
    };
    let before = read(&app).await;
    assert_eq!(before["password"], true);

    // Every field back as GET gave it: 200 and nothing changes (but the
    // update time).
    let response = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .header("x-bin-password", "hunter2")
        .json(&before)
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let after = read(&app).await;
    let without_times = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().expect("object").remove("updated_at");
        v
    };
    assert_eq!(without_times(&after), without_times(&before));

    // Read, change one field, write the whole object back.
    let mut changed = after.clone();
    changed["default_status"] = json!(418);
    changed["password"] = json!(false); // "unchanged", like `true`
    let response = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .header("x-bin-password", "hunter2")
        .json(&changed)
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let after = read(&app).await;
    assert_eq!(after["default_status"], 418);
    assert_eq!(after["password"], true, "the password is still set");
    let mut expected = without_times(&before);
    expected["default_status"] = json!(418);
    assert_eq!(without_times(&after), expected);

    // Unknown fields are ignored; a settable field of the wrong type is
    // refused by name.
    let mut unknown = after.clone();
    unknown["something_new"] = json!({"x": 1});
    unknown["premium_expires_at"] = json!(null);
    let response = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .header("x-bin-password", "hunter2")
        .json(&unknown)
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    for (field, value) in [
        ("default_status", json!("teapot")),
        ("cors", json!("yes")),
        ("timeout", json!(-1)),
        ("password", json!(12)),
        ("expiry", json!("soon")),
        ("response_headers", json!("X-A: 1")),
    ] {
        let mut bad = after.clone();
        bad[field] = value;
        let response = app
            .client
            .put(app.url(&format!("/token/{id}")))
            .header("x-bin-password", "hunter2")
            .json(&bad)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 422, "{field}");
        let error: Value = response.json().await.expect("JSON error");
        let message = error["message"].as_str().expect("message");
        assert!(message.contains(field), "{field}: {message}");
    }
    app.stop().await;
}

both_backends!(an_alias_is_a_capture_url_like_the_bin_id);
async fn an_alias_is_a_capture_url_like_the_bin_id(app: TestApp) {
    let bin = aliased_bin(&app, "my-hook").await;

    let response = app
        .client
        .post(app.url("/my-hook"))
        .body("via alias")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-token-id"], bin.as_str());
    let stored = latest(&app, &bin).await;
    assert_eq!(stored["content"], "via alias");
    assert_eq!(stored["path"], "/my-hook");

    let response = app
        .client
        .put(app.url("/my-hook/a/b?x=1"))
        .body("deeper")
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let stored = latest(&app, &bin).await;
    assert_eq!(stored["content"], "deeper");
    assert_eq!(stored["method"], "PUT");
    assert_eq!(stored["path"], "/my-hook/a/b");
    assert_eq!(stored["query_string"], "x=1");

    // Aliases match ignoring ASCII case, as they are unique that way.
    let response = app.get("/MY-HOOK").await;
    assert_eq!(response.status(), 200);
    assert_eq!(latest(&app, &bin).await["path"], "/MY-HOOK");

    // An unknown alias is no bin; the token API takes only the id.
    assert_eq!(app.get("/no-such-hook").await.status(), 404);
    assert_eq!(app.get("/token/my-hook").await.status(), 404);

    // A new alias frees the old one at once.
    let (status, _) = put_token(&app, &bin, &json!({ "alias": "renamed" })).await;
    assert_eq!(status, 200);
    assert_eq!(app.get("/my-hook").await.status(), 404);
    assert_eq!(app.get("/renamed/x").await.status(), 200);
    app.stop().await;
}

both_backends!(aliases_that_cannot_be_urls_or_are_taken_are_refused_with_the_reason);
async fn aliases_that_cannot_be_urls_or_are_taken_are_refused_with_the_reason(app: TestApp) {
    let first = aliased_bin(&app, "taken").await;
    let other = app.create_token(json!({})).await;
    let other = other["uuid"].as_str().expect("uuid").to_owned();

    let refused = |status: u16, answer: &Value, what: &str| {
        assert_eq!(status, 422, "{what}: {answer}");
        let message = answer["message"].as_str().expect("message");
        assert!(message.contains("alias"), "{what}: {message}");
        message.to_owned()
    };

    for alias in ["taken", "TAKEN", "Taken"] {
        let (status, answer) = put_token(&app, &other, &json!({ "alias": alias })).await;
        let message = refused(status, &answer, alias);
        assert!(message.contains("taken by another bin"), "{message}");
    }
    let response = app
        .client
        .post(app.url("/token"))
        .json(&json!({ "alias": "taken" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);

    for reserved in RESERVED_ALIASES {
        for alias in [reserved.to_string(), reserved.to_ascii_uppercase()] {
            let (status, answer) = put_token(&app, &other, &json!({ "alias": alias })).await;
            refused(status, &answer, &alias);
        }
    }
    for alias in [
        Uuid::new_v4().to_string(),
        first.clone(),
        Uuid::new_v4().simple().to_string(),
        "has space".into(),
        "a/b".into(),
        ".dot".into(),
        "x".repeat(65),
    ] {
        let (status, answer) = put_token(&app, &other, &json!({ "alias": alias })).await;
        refused(status, &answer, &alias);
    }

    // Nothing was changed by the refusals; the owner keeps its alias and
    // can write it back unchanged.
    assert_eq!(
        app.json(&format!("/token/{other}")).await["alias"],
        Value::Null
    );
    let (status, answer) = put_token(&app, &first, &json!({ "alias": "taken" })).await;
    assert_eq!((status, &answer["alias"]), (200, &json!("taken")));
    app.stop().await;
}

both_backends!(a_status_in_the_path_is_the_answer_status_and_the_request_is_stored);
async fn a_status_in_the_path_is_the_answer_status_and_the_request_is_stored(app: TestApp) {
    let token = app.create_token(
        json!({ "default_content": "custom body", "response_headers": [{"name": "X-Kept", "value": "yes"}] }),
    )
    .await;
    let bin = token["uuid"].as_str().expect("uuid").to_owned();
    let alias = aliased_bin(&app, "retry-test").await;

    for (path, status) in [
        (format!("/{bin}/404"), 404),
        (format!("/{bin}/500/anything/else"), 500),
        (format!("/{bin}/201"), 201),
        (format!("/{bin}/999"), 200),
        // No 1xx is a final answer: an ordinary sub-path.
        (format!("/{bin}/101"), 200),
        (format!("/{bin}/100"), 200),
        (format!("/{bin}/x/404"), 200),
        ("/retry-test/503".to_owned(), 503),
    ] {
        let response = app
            .client
            .post(app.url(&format!("{path}?q=1")))
            .body("retry me")
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), status, "{path}");
        let id = TestApp::request_id(&response);
        let owner = if path.starts_with("/retry") {
            &alias
        } else {
            &bin
        };
        if owner == &bin {
            assert_eq!(response.headers()["x-kept"], "yes");
            assert_eq!(response.text().await.expect("body"), "custom body");
        }
        let stored = app.json(&format!("/token/{owner}/request/{id}")).await;
        assert_eq!(stored["path"], path.as_str());
        assert_eq!(stored["content"], "retry me");
    }
    app.stop().await;
}

both_backends!(cors_toggle_flips_and_sets_the_bins_cors);
async fn cors_toggle_flips_and_sets_the_bins_cors(app: TestApp) {
    let token = app.create_token(json!({})).await;
    let bin = token["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(token["cors"], false);
    let toggle = |body: Option<Value>| {
        let mut request = app
            .client
            .put(app.url(&format!("/token/{bin}/cors/toggle")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.expect("PUT toggle");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("JSON")
        }
    };
    assert_eq!(toggle(None).await, json!({ "enabled": true }));
    let answer = app
        .client
        .post(app.url(&format!("/{bin}")))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    assert_eq!(toggle(None).await, json!({ "enabled": false }));
    let answer = app
        .client
        .post(app.url(&format!("/{bin}")))
        .send()
        .await
        .expect("POST");
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_eq!(
        toggle(Some(json!({ "enabled": true }))).await,
        json!({ "enabled": true })
    );
    assert_eq!(
        toggle(Some(json!({ "enabled": true }))).await,
        json!({ "enabled": true })
    );
    assert_eq!(app.json(&format!("/token/{bin}")).await["cors"], true);

    let unknown = app
        .client
        .put(app.url(&format!("/token/{}/cors/toggle", Uuid::new_v4())))
        .send()
        .await
        .expect("PUT");
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}

both_backends!(cors_toggle_is_behind_the_api_key_and_the_bin_password);
async fn cors_toggle_is_behind_the_api_key_and_the_bin_password(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |c| c.api_key = Some("sekrit".into())).await;
    let response = app
        .client
        .post(app.url("/token"))
        .header("api-key", "sekrit")
        .json(&json!({ "password": "pw" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let bin = response.json::<Value>().await.expect("JSON")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let url = app.url(&format!("/token/{bin}/cors/toggle"));
    let status = |headers: &'static [(&'static str, &'static str)]| {
        let mut request = app.client.put(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.expect("PUT").status().as_u16() }
    };
    assert_eq!(status(&[]).await, 401);
    assert_eq!(status(&[("api-key", "sekrit")]).await, 401);
    assert_eq!(
        status(&[("api-key", "sekrit"), ("x-bin-password", "pw")]).await,
        200
    );
    app.stop().await;
}

both_backends!(the_live_feed_sse_dashboard_and_exports_work_through_the_alias);
async fn the_live_feed_sse_dashboard_and_exports_work_through_the_alias(app: TestApp) {
    let bin = aliased_bin(&app, "live-alias").await;

    let url = format!("ws://{}/live/live-alias", app.addr);
    let (mut socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket through the alias");
    assert_eq!(response.status(), 101);
    let mut events = app
        .client
        .get(app.url("/live-alias"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("SSE");
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");

    // Both are subscribed once the hub counts two viewers.
    let id: Uuid = bin.parse().expect("uuid");
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.state.hub.viewers(id) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "viewers subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let response = app
        .client
        .post(app.url("/live-alias/pushed"))
        .body("live through alias")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);

    let message = loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = frame {
            break serde_json::from_str::<Value>(&text).expect("JSON");
        }
    };
    assert_eq!(message["type"], "request");
    assert_eq!(message["request"]["content"], "live through alias");
    assert_eq!(message["request"]["token_id"], bin.as_str());

    let mut seen = String::new();
    while !seen.contains("live through alias") {
        let chunk = tokio::time::timeout(WAIT, events.chunk())
            .await
            .expect("an event in time")
            .expect("stream")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let page = app.html("/view/live-alias").await;
    assert!(
        page.contains(&format!("/{bin}")),
        "the dashboard of the bin"
    );
    assert!(page.contains("/live-alias\""), "the alias URL is shown");
    let settings = app.get("/view/live-alias/settings").await;
    assert_eq!(settings.status(), 200);
    let export = app.get("/view/live-alias/export.json").await;
    assert_eq!(export.status(), 200);
    let exported = export.text().await.expect("export");
    assert!(exported.contains("live through alias"), "{exported}");
    assert_eq!(app.get("/view/no-such-alias").await.status(), 404);
    app.stop().await;
}

both_backends!(a_password_guards_the_dashboard_and_feed_through_the_alias_too);
async fn a_password_guards_the_dashboard_and_feed_through_the_alias_too(app: TestApp) {
    let token = app
        .create_token(json!({ "alias": "guarded", "password": "pw" }))
        .await;
    let bin = token["uuid"].as_str().expect("uuid").to_owned();
    app.client
        .post(app.url("/guarded"))
        .body("secret body")
        .send()
        .await
        .expect("POST");
    for path in [
        "/view/guarded",
        "/view/guarded/export.json",
        "/live/guarded",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 401, "{path}");
        let text = response.text().await.expect("body");
        assert!(!text.contains("secret body"), "{path}");
    }
    let events = app
        .client
        .get(app.url("/guarded"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("SSE");
    assert_eq!(events.status(), 401);
    let open = app
        .client
        .get(app.url("/view/guarded/export.json"))
        .header("x-bin-password", "pw")
        .send()
        .await
        .expect("GET");
    assert_eq!(open.status(), 200);
    assert!(open.text().await.expect("export").contains("secret body"));
    assert!(!bin.is_empty());
    app.stop().await;
}

both_backends!(forward_follows_a_bin_by_its_alias_url);
async fn forward_follows_a_bin_by_its_alias_url(app: TestApp) {
    let bin = aliased_bin(&app, "fwd").await;
    let mut target = Recorder::start().await;
    let (report, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let args = ForwardArgs {
        url: app.url("/fwd"),
        target: target.target("/local"),
        quiet: true,
        json: false,
        retries: 3,
        replay: Vec::new(),
        since: None,
        api_key: None,
        bin_password: None,
        timeout: 10,
        relay_answers: false,
    };
    let task = tokio::spawn(forward::forward(args, shutdown.clone(), move |o| {
        let _ = report.send(o);
    }));
    let id: Uuid = bin.parse().expect("uuid");
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.state.hub.viewers(id) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "forwarder connected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let response = app
        .client
        .post(app.url("/fwd/a/b?x=1"))
        .body("relayed")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let received = String::from_utf8(target.next().await).expect("utf-8");
    assert!(
        received.starts_with("POST /local/a/b?x=1 HTTP/1.1\r\n"),
        "{received}"
    );
    assert!(received.ends_with("\r\n\r\nrelayed"), "{received}");
    let outcome = tokio::time::timeout(WAIT, outcomes.recv())
        .await
        .expect("an outcome")
        .expect("running");
    assert_eq!(outcome.status, Some(200));
    shutdown.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("stops")
        .expect("task")
        .expect("clean end");
    app.stop().await;
}

both_backends!(the_settings_form_names_an_alias_that_is_taken_or_cannot_be_a_url);
async fn the_settings_form_names_an_alias_that_is_taken_or_cannot_be_a_url(app: TestApp) {
    aliased_bin(&app, "first-come").await;
    let bin = app.new_bin().await;
    let form = |alias: &'static str| {
        [
            ("default_status", "200"),
            ("default_content_type", "text/plain"),
            ("default_content", "OK"),
            ("response_headers", ""),
            ("timeout", "0"),
            ("request_limit", ""),
            ("expiry", ""),
            ("alias", alias),
            ("description", ""),
        ]
    };
    let page = app.html(&format!("/view/{bin}/settings")).await;
    assert!(
        page.contains("also a URL"),
        "the Name field says it is a URL"
    );
    for (alias, reason) in [
        ("FIRST-COME", "is taken by another bin"),
        ("view", "taken by hookscope"),
        ("two words", "may hold only letters"),
    ] {
        let refused = app
            .client
            .post(app.url(&format!("/view/{bin}/settings")))
            .header("Accept", "text/html")
            .form(&form(alias))
            .send()
            .await
            .expect("POST settings");
        assert_eq!(refused.status(), 422, "{alias}");
        let html = refused.text().await.expect("html");
        assert!(html.contains("id=\"alias-error\""), "{alias}: {html}");
        // The form starts the reason with a capital letter.
        assert!(
            html.to_lowercase().contains(reason),
            "{alias}: {reason}: {html}"
        );
    }
    let saved = app
        .client
        .post(app.url(&format!("/view/{bin}/settings")))
        .form(&form("second"))
        .send()
        .await
        .expect("POST settings");
    assert_eq!(saved.status(), 303);
    let dashboard = app.html(&format!("/view/{bin}")).await;
    assert!(
        dashboard.contains(&format!("value=\"http://{}/second\"", app.addr)),
        "the alias URL is on the dashboard"
    );
    assert!(
        dashboard.contains("…/404"),
        "the status hint is on the dashboard"
    );
    app.stop().await;
}

both_backends!(aliases_stay_urls_after_a_restart);
async fn aliases_stay_urls_after_a_restart(app: TestApp) {
    let bin = aliased_bin(&app, "durable").await;
    let app = app.restart(|_| {}).await;
    let response = app
        .client
        .post(app.url("/durable/x"))
        .body("after")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-token-id"], bin.as_str());
    app.stop().await;
}

// SQLite only: it builds a database of an old schema version by hand, and
// PostgreSQL's schema starts after aliases were made unique.
#[tokio::test]
async fn an_old_database_with_shared_names_opens_with_the_oldest_bin_keeping_the_alias() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("hookscope.db");
    let (older, newer, named) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    {
        let mut conn = rusqlite::Connection::open(&db).expect("db");
        hookscope::store::migrations()
            .to_version(&mut conn, 6)
            .expect("the schema before unique aliases");
        // Recent bins: retention would sweep idle ones from long ago.
        let now = hookscope::model::Timestamp::now().as_micros();
        for (id, created, alias) in [
            (newer, now - 2_000_000, "Shared"),
            (older, now - 3_000_000, "shared"),
            (named, now - 1_000_000, "My old name"),
        ] {
            conn.execute(
                "INSERT INTO bins (id, created_at, updated_at, alias) VALUES (?1, ?2, ?2, ?3)",
                rusqlite::params![id, created, alias],
            )
            .expect("bin");
        }
    }
    let app = TestApp::spawn_on(&db, |_| {}).await;
    let response = app
        .client
        .post(app.url("/shared"))
        .body("x")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-token-id"], older.to_string().as_str());
    let newer_token = app.json(&format!("/token/{newer}")).await;
    assert_eq!(
        newer_token["uuid"],
        newer.to_string().as_str(),
        "still there"
    );
    assert_eq!(newer_token["alias"], Value::Null);
    assert_eq!(
        app.json(&format!("/token/{older}")).await["alias"],
        "shared"
    );

    // A name from before aliases were URLs stays a name: no URL, yet the
    // bin read back whole can be written back.
    let token = app.json(&format!("/token/{named}")).await;
    assert_eq!(token["alias"], "My old name");
    let (status, written) = put_token(&app, &named.to_string(), &token).await;
    assert_eq!((status, &written["alias"]), (200, &json!("My old name")));
    assert_eq!(app.get("/My%20old%20name").await.status(), 404);
    let page = app.html(&format!("/view/{named}")).await;
    assert!(!page.contains("id=\"alias-url\""), "no alias URL for it");
    app.stop().await;
}
