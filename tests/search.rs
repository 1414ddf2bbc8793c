//! Finding the one request that matters: words and fields (speed is
//! measured by bench/run.sh on a bin of 1 000 000 requests).

mod support;

use serde_json::Value;
use support::TestApp;
use uuid::Uuid;

async fn search(app: &TestApp, bin: Uuid, query: &str) -> Vec<String> {
    let url = reqwest::Url::parse_with_params(
        &app.url(&format!("/token/{bin}/requests")),
        &[("query", query), ("sorting", "oldest")],
    )
    .expect("url");
    let response = app.client.get(url).send().await.expect("search");
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    support::contents(&page)
}

both_backends!(search_by_word_method_header_path_and_ip);
async fn search_by_word_method_header_path_and_ip(app: TestApp) {
    let bin = app.new_bin().await;
    let other = app.new_bin().await;
    let client = &app.client;
    let send = |method: &str, bin: Uuid, path: &str, event: &str, body: &'static str| {
        client
            .request(
                method.parse().expect("method"),
                app.url(&format!("/{bin}{path}")),
            )
            .header("X-GitHub-Event", event)
            .body(body)
            .send()
    };
    send(
        "POST",
        bin,
        "/github",
        "push",
        r#"{"ref":"refs/heads/main","pusher":"ada"}"#,
    )
    .await
    .expect("send");
    send(
        "PUT",
        bin,
        "/orders/42",
        "issues",
        "invoice paid by Ada Lovelace",
    )
    .await
    .expect("send");
    send("POST", bin, "/orders/43", "push", "refund requested")
        .await
        .expect("send");
    send("POST", other, "/github", "push", "invoice in another bin")
        .await
        .expect("send");

    assert_eq!(
        search(&app, bin, "invoice").await,
        ["invoice paid by Ada Lovelace"]
    );
    assert_eq!(
        search(&app, bin, "INVOICE paid").await.len(),
        1,
        "case-insensitive AND"
    );
    assert_eq!(
        search(&app, bin, "invoice refund").await.len(),
        0,
        "terms combine with AND"
    );
    assert_eq!(
        search(&app, bin, "\"paid by ada\"").await.len(),
        1,
        "phrases"
    );
    assert_eq!(
        search(&app, bin, "method:PUT").await,
        ["invoice paid by Ada Lovelace"]
    );
    assert_eq!(search(&app, bin, "method:post").await.len(), 2);
    assert_eq!(
        search(&app, bin, "header.x-github-event:push").await.len(),
        2
    );
    assert_eq!(
        search(&app, bin, "header.X-GitHub-Event:push refund").await,
        ["refund requested"]
    );
    assert_eq!(search(&app, bin, "path:/orders").await.len(), 2);
    assert_eq!(
        search(&app, bin, "path:/orders/43").await,
        ["refund requested"]
    );
    assert_eq!(search(&app, bin, "ip:127.0.0.1").await.len(), 3);
    assert_eq!(search(&app, bin, "ip:10.0.0.1").await.len(), 0);
    // A word found in a header value or path, not only the body.
    assert_eq!(search(&app, bin, "issues").await.len(), 1);
    // Text that is not a query is refused with the reason, not searched
    // (tests/query_language.rs has the whole table).
    for malformed in ["!!! ", "NOT OR AND ( * \""] {
        let url = reqwest::Url::parse_with_params(
            &app.url(&format!("/token/{bin}/requests")),
            &[("query", malformed)],
        )
        .expect("url");
        let response = client.get(url).send().await.expect("search");
        assert_eq!(response.status(), 400, "{malformed}");
    }

    // The dashboard's search box uses the same language.
    let html = client
        .get(app.url(&format!("/view/{bin}?q=method%3APUT")))
        .send()
        .await
        .expect("view")
        .text()
        .await
        .expect("html");
    assert!(html.contains("/orders/42"));
    assert!(!html.contains("/orders/43"));
}

both_backends!(search_finds_what_was_stored_before_it_across_deletes_and_restarts);
/// A search sees what was stored before it, not what was deleted, and
/// requests stored after a restart are numbered above what was indexed
/// before it (the search speed on 1 000 000 requests is measured by
/// bench/run.sh).
async fn search_finds_what_was_stored_before_it_across_deletes_and_restarts(app: TestApp) {
    let bin = app.new_bin().await;
    let first = TestApp::request_id(&app.post_to_bin(bin, "", "alpha invoice").await);
    // The index is filled off the capture path; a search catches it up.
    assert_eq!(search(&app, bin, "alpha").await, ["alpha invoice"]);
    let deleted = app
        .client
        .delete(app.url(&format!("/token/{bin}/request/{first}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);

    // After a restart, new requests still land above what was indexed.
    let app = app.restart(|_| {}).await;
    let beta = app.post_to_bin(bin, "", "beta invoice").await;
    assert_eq!(beta.status(), 200, "a capture right after a restart");
    assert_eq!(search(&app, bin, "invoice").await, ["beta invoice"]);
    assert!(search(&app, bin, "alpha").await.is_empty());
    app.stop().await;
}

both_backends!(requests_without_a_body_keep_search_working);
/// The bug a plain GET caused: a request with an empty body stopped the
/// search index, and every search on the server answered 503 from then on.
async fn requests_without_a_body_keep_search_working(app: TestApp) {
    let bin = app.new_bin().await;
    let json = app
        .client
        .post(app.url(&format!("/{bin}/orders")))
        .header("Content-Type", "application/json")
        .body(r#"{"status":"paid"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(json.status(), 200);
    assert_eq!(search(&app, bin, "paid").await.len(), 1);

    let ping = app.get(&format!("/{bin}/ping")).await;
    assert_eq!(ping.status(), 200);
    let head = app
        .client
        .head(app.url(&format!("/{bin}/ping")))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    assert_eq!(app.post_to_bin(bin, "/empty", "").await.status(), 200);

    assert_eq!(search(&app, bin, "paid").await, [r#"{"status":"paid"}"#]);
    assert_eq!(search(&app, bin, "method:GET path:ping").await, [""]);
    assert_eq!(search(&app, bin, "path:empty").await, [""]);
    let dashboard = app.get(&format!("/view/{bin}?q=paid")).await;
    assert_eq!(dashboard.status(), 200);
    let deleted = app
        .client
        .delete(app.url(&format!("/token/{bin}/request?query=method:HEAD")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    assert_eq!(search(&app, bin, "ping").await, [""]);

    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("\nhookscope_search_index_skipped_total 0\n"),
        "{metrics}"
    );
}
