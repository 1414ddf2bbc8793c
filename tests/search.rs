//! Finding the one request that matters: words, fields, and speed on a
//! bin with 100 000 requests.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use hookscope::model::{CapturedRequest, Header, Timestamp};
use serde_json::Value;
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
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["content"].as_str().expect("content").to_owned())
        .collect()
}

#[tokio::test]
async fn search_by_word_method_header_path_and_ip() {
    let app = TestApp::spawn().await;
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
    // Punctuation-only or FTS syntax is harmless.
    assert_eq!(search(&app, bin, "!!! ").await.len(), 3);
    assert_eq!(search(&app, bin, "NOT OR AND ( * \"").await.len(), 0);

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

/// Fills a bin with 100 000 requests through the store and times searches
/// and list pages through the API. Run with
/// `cargo test --release --test search -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement: slow in debug builds"]
async fn search_stays_fast_on_100k_requests() {
    const N: usize = 100_000;
    let app = TestApp::spawn_with(|c| c.max_requests_per_bin = 200_000).await;
    let bin = app.new_bin().await;
    let started = Instant::now();
    let mut pending = Vec::new();
    for n in 0..N {
        let event = if n % 1000 == 0 { "rare" } else { "push" };
        let req = CapturedRequest {
            id: Uuid::nil(),
            bin,
            received_at: Timestamp::now(),
            method: if n % 10 == 0 { "PUT" } else { "POST" }.to_owned(),
            path: format!("/{bin}/orders/{n}"),
            query: None,
            version: "HTTP/1.1".to_owned(),
            remote_addr: "10.1.2.3:5000".to_owned(),
            headers: vec![
                Header::new("Content-Type", b"application/json".to_vec()),
                Header::new("X-Event", event.as_bytes().to_vec()),
            ],
            body: format!(
                r#"{{"order":{n},"customer":"customer{}","status":"paid","note":"lorem ipsum dolor sit amet"}}"#,
                n % 5000
            )
            .into(),
        };
        let store = app.state.store.clone();
        pending.push(tokio::spawn(async move { store.insert_request(req).await }));
        if pending.len() == 2000 {
            for task in pending.drain(..) {
                task.await.expect("task").expect("insert");
            }
        }
    }
    for task in pending.drain(..) {
        task.await.expect("task").expect("insert");
    }
    println!("inserted {N} requests in {:?}", started.elapsed());

    let queries = [
        "",
        "customer42",
        "paid",
        "method:PUT",
        "header.x-event:rare",
        "header.x-event:rare method:PUT",
        "path:/orders/99999",
        "nothing-matches-this",
    ];
    for query in queries {
        for sorting in ["newest", "oldest"] {
            let url = reqwest::Url::parse_with_params(
                &app.url(&format!("/token/{bin}/requests")),
                &[("query", query), ("sorting", sorting), ("per_page", "50")],
            )
            .expect("url");
            let mut times = Vec::new();
            let mut total = Value::Null;
            for _ in 0..5 {
                let started = Instant::now();
                let page: Value = app
                    .client
                    .get(url.clone())
                    .send()
                    .await
                    .expect("GET")
                    .json()
                    .await
                    .expect("json");
                times.push(started.elapsed());
                total = page["total"].clone();
            }
            times.sort();
            println!(
                "query {query:?} sorting {sorting}: total {total}, median {:?}, max {:?}",
                times[2], times[4]
            );
            assert!(times[2] < Duration::from_millis(500), "{query:?} is slow");
        }
    }
}
