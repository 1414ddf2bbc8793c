//! webhook.site's query language, as a script or a visitor uses it: every
//! field, operator, range and wildcard against a handful of known
//! requests; malformed queries refused with where they are wrong; the same
//! query listing and deleting the same requests.

mod support;

use std::collections::HashMap;

use serde_json::Value;
use support::{Backend, TestApp};
use uuid::Uuid;

/// Five requests with different methods, paths, headers, query strings,
/// forms and sizes, named by what they are in the table below.
struct Fixture {
    app: TestApp,
    bin: Uuid,
    names: HashMap<String, &'static str>,
    ids: HashMap<&'static str, Uuid>,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let app = TestApp::spawn_on_backend(backend).await;
        let bin = app.new_bin().await;
        let other = app.new_bin().await;
        let mut names = HashMap::new();
        let mut ids = HashMap::new();
        let big = format!("five payload {}", "x".repeat(1487));
        assert_eq!(big.len(), 1500);
        let sends: [Sent; 5] = [
            (
                "one",
                "POST",
                "/orders/42?page=2&source=shop",
                vec![
                    ("Content-Type", "application/json"),
                    ("User-Agent", "Stripe/1.0"),
                    ("X-Event", "payment.succeeded"),
                ],
                r#"{"tag":"one","text":"invoice paid"}"#.into(),
            ),
            (
                "two",
                "PUT",
                "/orders/43",
                vec![("Content-Type", "text/plain"), ("X-Event", "refund")],
                "two refund requested payday".into(),
            ),
            (
                "three",
                "GET",
                "/ping?debug=true",
                vec![("User-Agent", "curl/8.0")],
                "three".into(),
            ),
            (
                "four",
                "POST",
                "/form",
                vec![("Content-Type", "application/x-www-form-urlencoded")],
                "name=Ada+Lovelace&plan=pro".into(),
            ),
            ("five", "DELETE", "/orders/42", vec![], big),
        ];
        for (name, method, path, headers, body) in sends {
            let mut request = app
                .client
                .request(
                    method.parse().expect("method"),
                    app.url(&format!("/{bin}{path}")),
                )
                .body(body);
            for (header, value) in headers {
                request = request.header(header, value);
            }
            let response = request.send().await.expect("send");
            assert_eq!(response.status(), 200);
            let id = TestApp::request_id(&response);
            names.insert(id.to_string(), name);
            ids.insert(name, id);
        }
        // Words every query above would find, in another bin.
        app.post_to_bin(other, "/orders/42?page=2", "one two invoice refund payday")
            .await;
        Self {
            app,
            bin,
            names,
            ids,
        }
    }

    fn list_url(&self, params: &[(&str, &str)]) -> reqwest::Url {
        reqwest::Url::parse_with_params(
            &self.app.url(&format!("/token/{}/requests", self.bin)),
            params
                .iter()
                .chain(&[("sorting", "oldest"), ("per_page", "100")]),
        )
        .expect("url")
    }

    /// The names of the requests the API lists for these parameters,
    /// oldest first.
    async fn listed(&self, params: &[(&str, &str)]) -> Vec<&'static str> {
        let response = self
            .app
            .client
            .get(self.list_url(params))
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), 200, "{params:?}");
        let page: Value = response.json().await.expect("json");
        let names: Vec<&'static str> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|r| self.names[r["uuid"].as_str().expect("uuid")])
            .collect();
        assert_eq!(page["total"], names.len(), "{params:?}: total");
        names
    }

    async fn found(&self, query: &str) -> Vec<&'static str> {
        self.listed(&[("query", query)]).await
    }
}

/// Name, method, path and query, headers, body.
type Sent = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    String,
);

const ALL: &[&str] = &["one", "two", "three", "four", "five"];

both_backends!(every_field_operator_range_and_wildcard);
async fn every_field_operator_range_and_wildcard(backend: Backend) {
    let f = Fixture::new(backend).await;
    let two = f.ids["two"].to_string();
    let by_uuid = format!("uuid:{two}");
    let by_bin = format!("token_id:{}", f.bin);
    let by_other_bin = format!("token_id:{} OR updated_at:<2020-01-01", Uuid::new_v4());
    let table: &[(&str, &[&str])] = &[
        // Words and phrases, anywhere (body, path, query, headers).
        ("invoice", &["one"]),
        ("INVOICE Paid", &["one"]),
        ("\"invoice paid\"", &["one"]),
        ("\"paid invoice\"", &[]),
        ("shop", &["one"]),
        ("refund", &["two"]),
        ("*", ALL),
        // Boolean operators and precedence: side by side is AND, AND binds
        // tighter than OR, NOT / - / ! negate one term.
        ("invoice refund", &[]),
        ("invoice AND refund", &[]),
        ("invoice OR refund", &["one", "two"]),
        ("invoice || refund", &["one", "two"]),
        ("invoice OR refund method:PUT", &["one", "two"]),
        ("(invoice OR refund) method:PUT", &["two"]),
        ("invoice OR refund AND method:POST", &["one"]),
        ("NOT invoice", &["two", "three", "four", "five"]),
        ("-invoice -refund", &["three", "four", "five"]),
        ("NOT method:POST size:>1000", &["five"]),
        ("NOT (method:GET OR size:>1000)", &["one", "two", "four"]),
        ("size:>1000 OR invoice", &["one", "five"]),
        ("method:POST -(form OR shop)", &[]),
        // Wildcards: a word's prefix.
        ("pay*", &["one", "two", "five"]),
        ("content:pay*", &["two", "five"]),
        ("method:P*", &["one", "two", "four"]),
        ("method:P*T", &["one", "two", "four"]),
        ("method:*E*", &["three", "five"]),
        ("method:*E* OR invoice", &["one", "three", "five"]),
        // Fields.
        ("method:post", &["one", "four"]),
        ("method:(GET OR DELETE)", &["three", "five"]),
        ("headers.content-type:json", &["one"]),
        ("header.Content-Type:\"application/json\"", &["one"]),
        ("headers.content-type:application", &["one", "four"]),
        ("headers.x-event:pay*", &["one"]),
        ("headers.x-event:*", &["one", "two"]),
        ("headers.x-event:json", &[]),
        ("user_agent:stripe", &["one"]),
        ("user_agent:curl*", &["three"]),
        ("hostname:127.0.0.1", ALL),
        ("hostname:example", &[]),
        ("query.page:2", &["one"]),
        ("query.page:3", &[]),
        ("query.debug:*", &["three"]),
        ("request.name:ada", &["four"]),
        ("request.plan:pro", &["four"]),
        ("request.plan:ada", &[]),
        ("path:/orders/42", &["one", "five"]),
        ("path:orders", &["one", "two", "five"]),
        ("url:page", &["one"]),
        ("url:ping", &["three"]),
        ("content:shop", &[]),
        ("content:refund", &["two"]),
        ("ip:127.0.0.1", ALL),
        ("ip:10.0.0.1", &[]),
        ("type:web", ALL),
        ("type:email", &[]),
        (&by_uuid, &["two"]),
        (&by_bin, ALL),
        (&by_other_bin, &[]),
        // Ranges and comparisons.
        ("size:>1000", &["five"]),
        ("size:>=1500", &["five"]),
        ("size:<=5", &["three"]),
        ("size:<5", &[]),
        ("size:[26 TO 35]", &["one", "two", "four"]),
        ("size:{26 TO 35}", &["two"]),
        ("size:[27 TO *]", &["one", "two", "five"]),
        ("size:5", &["three"]),
        ("created_at:[2020-01-01 TO now]", ALL),
        ("created_at:[2020-01-01 TO now-1d]", &[]),
        ("created_at:<2020-01-01", &[]),
        ("created_at:>now-2h", ALL),
        ("created_at:>now+1h", &[]),
        ("created_at:[* TO \"2020-01-01 10:00:00\"]", &[]),
        // No verifier on this bin: nothing was checked (tests/signatures.rs
        // has checked ones).
        ("signature:none", ALL),
        ("signature:valid", &[]),
        ("signature:INVALID OR signature:github", &[]),
        ("-signature:valid", ALL),
        ("signature:valid OR invoice", &["one"]),
    ];
    let mut wrong = Vec::new();
    for (query, expected) in table {
        let got = f.found(query).await;
        if got != *expected {
            wrong.push(format!("{query}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

both_backends!(date_bounds_narrow_a_query);
async fn date_bounds_narrow_a_query(backend: Backend) {
    let f = Fixture::new(backend).await;
    let orders = |from, to| [("query", "orders"), ("date_from", from), ("date_to", to)];
    assert_eq!(
        f.listed(&orders("2020-01-01", "")).await,
        ["one", "two", "five"]
    );
    assert!(f.listed(&orders("", "2020-01-01")).await.is_empty());
    assert!(f.listed(&orders("2999-01-01", "")).await.is_empty());
    // A query without word terms walks the rows: bounds still apply.
    let params = [("query", "size:<100"), ("date_to", "2020-01-01")];
    assert!(f.listed(&params).await.is_empty());
}

both_backends!(delete_by_query_deletes_exactly_what_the_query_lists);
async fn delete_by_query_deletes_exactly_what_the_query_lists(backend: Backend) {
    let f = Fixture::new(backend).await;
    let query = "method:POST OR size:>1000";
    let doomed = f.found(query).await;
    assert_eq!(doomed, ["one", "four", "five"]);
    let url = |params: &[(&str, &str)]| {
        reqwest::Url::parse_with_params(&f.app.url(&format!("/token/{}/request", f.bin)), params)
            .expect("url")
    };
    // With date bounds that exclude everything, nothing goes.
    let response = f
        .app
        .client
        .delete(url(&[("query", query), ("date_to", "2020-01-01")]))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    assert_eq!(f.found("*").await, ALL);

    let response = f
        .app
        .client
        .delete(url(&[("query", query)]))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    assert!(f.found(query).await.is_empty());
    assert_eq!(f.found("*").await, ["two", "three"]);
    assert_eq!(f.listed(&[]).await, ["two", "three"]);
}

/// Malformed queries: `(reason, query)`; the API, the dashboard and the
/// delete all refuse them with the reason, and delete nothing.
const MALFORMED: &[(&str, &str)] = &[
    ("(invoice", "query: unbalanced parenthesis at character 1"),
    ("invoice)", "query: unbalanced parenthesis at character 8"),
    ("method:POST AND", "query: missing a term after an operator at character 16"),
    ("\"open", "query: unclosed quote at character 1"),
    ("size:[1 TO 5", "query: unclosed range: end it with ] or } at character 6"),
    ("size:big", "query: size needs a whole number of bytes, not \"big\" at character 6"),
    ("foo:bar", "query: unknown field \"foo\" (write \\: to search for a colon) at character 1"),
    ("p*y", "query: a * wildcard works only at the end of a word (pay*) at character 2"),
    ("signature:maybe", "query: signature: takes valid, invalid, none or a provider (github, stripe, slack, shopify, standard, hmac) at character 11"),
    ("created_at:>yesterday", "query: created_at needs a date like 2026-11-01, 2026-11-01T10:00:00, now or now-1d, not \"yesterday\" at character 13"),
];

both_backends!(malformed_queries_get_400_with_where_they_are_wrong);
async fn malformed_queries_get_400_with_where_they_are_wrong(backend: Backend) {
    let f = Fixture::new(backend).await;
    let client = &f.app.client;
    for (query, reason) in MALFORMED {
        let response = client
            .get(f.list_url(&[("query", query)]))
            .header("Accept", "application/json")
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.expect("json error");
        assert_eq!(error["message"], *reason, "{query}");

        let delete = reqwest::Url::parse_with_params(
            &f.app.url(&format!("/token/{}/request", f.bin)),
            &[("query", query)],
        )
        .expect("url");
        let response = client
            .delete(delete)
            .header("Accept", "application/json")
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 400, "DELETE {query}");
        let error: Value = response.json().await.expect("json error");
        assert_eq!(error["message"], *reason, "DELETE {query}");
    }
    assert_eq!(f.found("*").await, ALL, "nothing was deleted");
}

both_backends!(the_dashboard_shows_why_a_search_is_malformed);
async fn the_dashboard_shows_why_a_search_is_malformed(backend: Backend) {
    let f = Fixture::new(backend).await;
    let url = reqwest::Url::parse_with_params(
        &f.app.url(&format!("/view/{}", f.bin)),
        &[("q", "(invoice")],
    )
    .expect("url");
    let response = f.app.client.get(url).send().await.expect("view");
    assert_eq!(response.status(), 400);
    let html = response.text().await.expect("html");
    assert!(
        html.contains(
            r#"<p id="search-error" class="search-error" role="alert">query: unbalanced parenthesis at character 1</p>"#
        ),
        "{html}"
    );
    // The dashboard itself, with the text kept in the box to correct.
    assert!(html.contains(r#"name="q" value="(invoice""#), "{html}");
    assert!(!html.contains("/orders/42"), "nothing is listed");

    // A well-formed search on the same page lists its requests.
    let url = reqwest::Url::parse_with_params(
        &f.app.url(&format!("/view/{}", f.bin)),
        &[("q", "headers.content-type:json OR method:GET")],
    )
    .expect("url");
    let response = f.app.client.get(url).send().await.expect("view");
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("/orders/42?page=2"), "one");
    assert!(html.contains("/ping?debug=true"), "three");
    assert!(!html.contains("/orders/43"), "not two");
    assert!(!html.contains("search-error"));
}

both_backends!(uploads_are_found_by_field_file_name_and_type);
/// `files.NAME:` finds an upload by its form field, file name, content
/// type or id; `request.NAME:` a multipart text field.
async fn uploads_are_found_by_field_file_name_and_type(app: TestApp) {
    let bin = app.new_bin().await;
    let boundary = "----query-test-7fQ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nquarterly report\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n\
         Content-Type: image/png\r\n\r\n\u{1}PNG bytes\r\n--{boundary}--\r\n"
    );
    let upload = app
        .client
        .post(app.url(&format!("/{bin}/upload")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 200);
    let rid = TestApp::request_id(&upload);
    app.post_to_bin(bin, "/plain", "avatar me png report").await;
    let object = app.json(&format!("/token/{bin}/request/{rid}")).await;
    let file_id = object["files"]["avatar"]["id"]
        .as_str()
        .expect("file id")
        .to_owned();

    let found = |query: String| {
        let app = &app;
        async move {
            let url = reqwest::Url::parse_with_params(
                &app.url(&format!("/token/{bin}/requests")),
                &[("query", query.as_str())],
            )
            .expect("url");
            let page: Value = app
                .client
                .get(url)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|r| r["uuid"].as_str().expect("uuid").to_owned())
                .collect::<Vec<_>>()
        }
    };
    let upload_only = vec![rid.to_string()];
    for query in [
        String::from("files.avatar:*"),
        String::from("files.avatar:png"),
        String::from("files.avatar:\"image/png\""),
        format!("files.avatar:{file_id}"),
        String::from("request.note:quarterly"),
    ] {
        assert_eq!(found(query.clone()).await, upload_only, "{query}");
    }
    for query in ["files.note:*", "files.avatar:jpeg", "request.avatar:png"] {
        assert!(found(query.into()).await.is_empty(), "{query}");
    }
}

both_backends!(
    a_common_term_counts_far_enough_to_page_and_says_so,
    flavor = "multi_thread",
    worker_threads = 4
);
/// A term that matches more than the count looks ahead says "at least"
/// instead of walking every match, and paging stays right both ways: the
/// API's `is_last_page` and the dashboard's "Older" link.
async fn a_common_term_counts_far_enough_to_page_and_says_so(backend: Backend) {
    const SENT: u64 = 10_200;
    let app = TestApp::spawn_with_backend(backend, |c| {
        c.max_requests_per_bin = 20_000;
        c.captures_per_second_per_bin = 0;
    })
    .await;
    let bin = app.new_bin().await;
    let (next, todo) = (
        std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        SENT,
    );
    let senders: Vec<_> = (0..32)
        .map(|_| {
            let (client, url, next) = (
                app.client.clone(),
                app.url(&format!("/{bin}")),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < todo {
                    let sent = client.post(&url).body("many").send().await.expect("POST");
                    assert_eq!(sent.status(), 200);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }

    let page = |query: &str, page: u64| {
        format!("/token/{bin}/requests?query={query}&per_page=100&page={page}")
    };
    let first = app.json(&page("method:POST", 1)).await;
    assert_eq!(first["total"], 10_100, "{}", first["total"]);
    assert_eq!(first["total_exact"], false);
    assert_eq!(first["is_last_page"], false);
    assert_eq!(first["data"].as_array().map(Vec::len), Some(100));
    // Far enough in, the count reaches the end and is exact again.
    let last = app.json(&page("method:POST", 102)).await;
    assert_eq!(last["total"], SENT);
    assert_eq!(last["total_exact"], true);
    assert_eq!(last["is_last_page"], true);
    assert_eq!(last["from"], 10_101);
    assert_eq!(last["to"], SENT);
    // Unfiltered, the bin's own count is exact at once.
    let all = app.json(&format!("/token/{bin}/requests?per_page=1")).await;
    assert_eq!(all["total"], SENT);
    assert_eq!(all["total_exact"], true);
    // A rare term is exact.
    let none = app.json(&page("method:PUT", 1)).await;
    assert_eq!(
        (none["total"].as_u64(), none["total_exact"].as_bool()),
        (Some(0), Some(true))
    );

    let dashboard = app.html(&format!("/view/{bin}?q=method:POST")).await;
    let shown = app.state.config.page_size as u64 + 10_000;
    assert!(
        dashboard.contains(&format!(r#"<span id="request-count">{shown}+</span>"#)),
        "the dashboard says at least {shown}"
    );
    assert!(dashboard.contains("Older →"), "the next page is offered");
    assert!(
        dashboard.contains("+</span>"),
        "pages are a lower bound too"
    );
}
