//! Comparing two requests (issue 15, part 3): the comparison itself on
//! requests built here, then the API and the compare page on a real server
//! with requests sent to it, and the dashboard's checkboxes in Chromium.

mod support;

use bytes::Bytes;
use hookscope::diff::{chosen_pair, compare, BodyKind, ChangeKind, LineKind, MAX_CHANGES};
use hookscope::model::{CapturedRequest, Header, Timestamp};
use serde_json::{json, Value};
use support::browser::Browser;
use support::TestApp;
use uuid::Uuid;

// ---- The comparison, on requests built here. ----

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> CapturedRequest {
    let bin = Uuid::new_v4();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target, None),
    };
    CapturedRequest {
        id: Uuid::now_v7(),
        bin,
        received_at: Timestamp::now(),
        method: method.to_owned(),
        path: format!("/{bin}{path}"),
        query,
        version: String::from("HTTP/1.1"),
        remote_addr: String::from("127.0.0.1:1"),
        headers: headers
            .iter()
            .map(|(name, value)| Header::new(*name, value.as_bytes()))
            .collect(),
        body: Bytes::copy_from_slice(body),
        signature: None,
    }
}

fn json_request(body: &Value) -> CapturedRequest {
    request(
        "POST",
        "/hook",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// The body's changes as `(type, path, old, new)`.
fn json_changes(a: &Value, b: &Value) -> Vec<(ChangeKind, String, Option<Value>, Option<Value>)> {
    let diff = compare(&json_request(a), &json_request(b));
    assert_eq!(diff.body.kind, BodyKind::Json);
    diff.body
        .section
        .changes
        .into_iter()
        .map(|c| (c.kind, c.path.expect("a JSON path"), c.old, c.new))
        .collect()
}

#[test]
fn json_bodies_differ_by_path_key_index_and_type() {
    let a = json!({
        "id": "evt_1",
        "data": {"object": {"amount": 1000, "currency": "usd", "refunded": false}},
        "items": [1, 2, 3],
        "gone": 1,
        "odd key": "x",
        "kind": 5
    });
    let b = json!({
        "id": "evt_1",
        "data": {"object": {"amount": 1200, "currency": "usd", "refunded": false, "fee": 30}},
        "items": [1, 9],
        "odd key": "y",
        "kind": "5"
    });
    use ChangeKind::*;
    assert_eq!(
        json_changes(&a, &b),
        vec![
            (
                Changed,
                "$.data.object.amount".into(),
                Some(json!(1000)),
                Some(json!(1200))
            ),
            (Added, "$.data.object.fee".into(), None, Some(json!(30))),
            (Changed, "$.items[1]".into(), Some(json!(2)), Some(json!(9))),
            (Removed, "$.items[2]".into(), Some(json!(3)), None),
            (Removed, "$.gone".into(), Some(json!(1)), None),
            (
                Changed,
                "$[\"odd key\"]".into(),
                Some(json!("x")),
                Some(json!("y"))
            ),
            // A number that became a string is a change of type.
            (Changed, "$.kind".into(), Some(json!(5)), Some(json!("5"))),
        ]
    );
    // An object that became an array changes as a whole.
    assert_eq!(
        json_changes(&json!({"a": {"b": 1}}), &json!({"a": [1]})),
        vec![(
            Changed,
            "$.a".into(),
            Some(json!({"b": 1})),
            Some(json!([1]))
        )]
    );
}

#[test]
fn equal_requests_have_nothing_to_show() {
    let a = json_request(&json!({"a": 1}));
    let mut b = a.clone();
    b.id = Uuid::now_v7();
    let diff = compare(&a, &b);
    assert!(diff.equal, "{diff:?}");
    assert!(diff.differs.is_empty());
    assert!(diff.body.section.equal && diff.body.first_difference.is_none());
    assert_eq!(diff.body.kind, BodyKind::Json);
    // Binary bodies too.
    let a = request("PUT", "/b", &[], &[0, 159, 146, 150]);
    let mut b = a.clone();
    b.id = Uuid::now_v7();
    let diff = compare(&a, &b);
    assert!(diff.equal);
    assert_eq!(diff.body.kind, BodyKind::Binary);
}

#[test]
fn method_and_path_below_the_bin_are_compared() {
    let diff = compare(
        &request("POST", "/hooks/a", &[], b""),
        &request("PUT", "/hooks/b", &[], b""),
    );
    assert_eq!(diff.differs, ["method", "path"]);
    let change = &diff.method.changes[0];
    assert_eq!(
        (change.old.clone(), change.new.clone()),
        (Some(json!("POST")), Some(json!("PUT")))
    );
    // Two bins' requests to the same sub-path have the same path.
    let change = &diff.path.changes[0];
    assert_eq!(
        (change.old.clone(), change.new.clone()),
        (Some(json!("/hooks/a")), Some(json!("/hooks/b")))
    );
    assert_eq!(diff.body.kind, BodyKind::Empty);
}

/// A section's changes as `(type, name, old, new)`.
fn named(section: &hookscope::diff::Section) -> Vec<(ChangeKind, Option<&str>, Value, Value)> {
    section
        .changes
        .iter()
        .map(|c| {
            (
                c.kind,
                c.name.as_deref(),
                c.old.clone().unwrap_or(Value::Null),
                c.new.clone().unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[test]
fn headers_compare_by_name_ignoring_case_with_repeats_and_order() {
    let a = request(
        "POST",
        "/",
        &[
            ("Host", "h"),
            ("X-Trace", "one"),
            ("Accept", "*/*"),
            ("X-Gone", "1"),
            ("Set-Thing", "a"),
            ("Set-Thing", "b"),
            ("Vary", "x"),
        ],
        b"",
    );
    let b = request(
        "POST",
        "/",
        &[
            ("accept", "*/*"),
            ("host", "h"),
            ("x-trace", "two"),
            ("Set-Thing", "b"),
            ("Set-Thing", "a"),
            ("Vary", "x"),
            ("Vary", "y"),
            ("X-New", "yes"),
        ],
        b"",
    );
    use ChangeKind::*;
    assert_eq!(
        named(&compare(&a, &b).headers),
        vec![
            (Changed, Some("x-trace"), json!("one"), json!("two")),
            (Removed, Some("X-Gone"), json!("1"), Value::Null),
            // The same values in another order.
            (
                Reordered,
                Some("Set-Thing"),
                json!(["a", "b"]),
                json!(["b", "a"])
            ),
            // A repeat more: one value added, the other still there.
            (Added, Some("Vary"), Value::Null, json!("y")),
            (Added, Some("X-New"), Value::Null, json!("yes")),
            // The names both have, each side's order.
            (
                Reordered,
                None,
                json!(["Host", "X-Trace", "Accept", "Set-Thing", "Vary"]),
                json!(["accept", "host", "x-trace", "Set-Thing", "Vary"])
            ),
        ]
    );
    // Only the case of names differs: nothing does.
    let upper = request("GET", "/", &[("X-A", "1"), ("X-B", "2")], b"");
    let lower = request("GET", "/", &[("x-a", "1"), ("x-b", "2")], b"");
    assert!(compare(&upper, &lower).headers.equal);
}

#[test]
fn query_parameters_are_added_removed_and_changed() {
    let diff = compare(
        &request("GET", "/?a=1&b=2&c=3", &[], b""),
        &request("GET", "/?a=1&b=20&d=4", &[], b""),
    );
    use ChangeKind::*;
    assert_eq!(
        named(&diff.query),
        vec![
            (Changed, Some("b"), json!("2"), json!("20")),
            (Removed, Some("c"), json!("3"), Value::Null),
            (Added, Some("d"), Value::Null, json!("4")),
        ]
    );
    // Query names keep their case: `A` is another parameter.
    let diff = compare(
        &request("GET", "/?a=1", &[], b""),
        &request("GET", "/?A=1", &[], b""),
    );
    assert_eq!(diff.query.changes.len(), 2);
}

#[test]
fn form_bodies_compare_by_field() {
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let diff = compare(
        &request("POST", "/", &form, b"name=alice&age=30&tag=x"),
        &request("POST", "/", &form, b"name=bob&tag=x&city=Paris"),
    );
    assert_eq!(diff.body.kind, BodyKind::Form);
    use ChangeKind::*;
    assert_eq!(
        named(&diff.body.section),
        vec![
            (Changed, Some("name"), json!("alice"), json!("bob")),
            (Removed, Some("age"), json!("30"), Value::Null),
            (Added, Some("city"), Value::Null, json!("Paris")),
        ]
    );
}

#[test]
fn text_bodies_compare_line_by_line_with_context() {
    let a: String = (1..=20).map(|n| format!("line {n}\n")).collect();
    let b = a.replace("line 2\n", "line two\n").replace("line 18\n", "");
    let diff = compare(
        &request("POST", "/", &[], a.as_bytes()),
        &request("POST", "/", &[], b.as_bytes()),
    );
    assert_eq!(diff.body.kind, BodyKind::Text);
    let changes: Vec<_> = diff
        .body
        .section
        .changes
        .iter()
        .map(|c| (c.kind, c.line, c.old.clone(), c.new.clone()))
        .collect();
    use ChangeKind::*;
    assert_eq!(
        changes,
        vec![
            (Removed, Some(2), Some(json!("line 2")), None),
            (Added, Some(2), None, Some(json!("line two"))),
            (Removed, Some(18), Some(json!("line 18")), None),
        ]
    );
    // The listing: three lines of context around each change, a gap
    // between the two groups, and line numbers on each side.
    let lines = &diff.body.lines;
    let kinds: Vec<LineKind> = lines.iter().map(|l| l.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == LineKind::Gap).count(), 1);
    assert_eq!(lines[0].text, "line 1");
    assert_eq!(lines.last().map(|l| l.text.as_str()), Some("line 20"));
    let removed = lines
        .iter()
        .find(|l| l.kind == LineKind::Removed && l.text == "line 18")
        .expect("line 18 removed");
    assert_eq!((removed.old_number, removed.new_number), (Some(18), None));
    let after = lines.iter().find(|l| l.text == "line 19").expect("context");
    assert_eq!((after.old_number, after.new_number), (Some(19), Some(18)));
}

#[test]
fn binary_bodies_differ_by_size_and_first_differing_byte() {
    let a = request("POST", "/", &[], &[0xff, 0x00, 0x01, 0x02, 0x03]);
    let b = request("POST", "/", &[], &[0xff, 0x00, 0x01, 0x07, 0x03, 0x09]);
    let diff = compare(&a, &b);
    assert_eq!(diff.body.kind, BodyKind::Binary);
    assert_eq!(diff.body.first_difference, Some(3));
    assert_eq!((diff.body.a_size, diff.body.b_size), (5, 6));
    let changes = &diff.body.section.changes;
    assert_eq!(changes[0].name.as_deref(), Some("size"));
    assert_eq!(changes[1].offset, Some(3));
    assert_eq!(
        (changes[1].old.clone(), changes[1].new.clone()),
        (Some(json!("0x02")), Some(json!("0x07")))
    );
    // One body the start of the other: they part where the shorter ends.
    let short = request("POST", "/", &[], &[0xff, 0x00]);
    assert_eq!(compare(&short, &a).body.first_difference, Some(2));
}

#[test]
fn large_bodies_list_a_bounded_number_of_changes_and_count_the_rest() {
    let a: serde_json::Map<String, Value> =
        (0..1000).map(|n| (format!("k{n}"), json!(n))).collect();
    let b: serde_json::Map<String, Value> =
        (0..1000).map(|n| (format!("k{n}"), json!(n + 1))).collect();
    let diff = compare(
        &json_request(&Value::Object(a)),
        &json_request(&Value::Object(b)),
    );
    assert_eq!(diff.body.section.changes.len(), MAX_CHANGES);
    assert_eq!(diff.body.section.more, 1000 - MAX_CHANGES);
    assert!(!diff.body.section.equal);
    // Text: the listing is bounded as well.
    let a: String = (0..5000).map(|n| format!("{n}\n")).collect();
    let b: String = (0..5000).map(|n| format!("{}\n", n * 2)).collect();
    let diff = compare(
        &request("POST", "/", &[], a.as_bytes()),
        &request("POST", "/", &[], b.as_bytes()),
    );
    assert_eq!(diff.body.section.changes.len(), MAX_CHANGES);
    assert!(diff.body.section.more > 0);
    assert!(diff.body.lines.len() <= hookscope::diff::MAX_LINES);
}

#[test]
fn a_compare_needs_two_different_request_ids() {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(
        chosen_pair([a.to_string().as_str(), b.to_string().as_str()]),
        Ok((a, b))
    );
    assert_eq!(chosen_pair([format!("{a},{b}").as_str()]), Ok((a, b)));
    let one = chosen_pair([a.to_string().as_str()]).expect_err("one id");
    assert!(one.contains("exactly two"), "{one}");
    let three = format!("{a},{b},{a}");
    assert!(chosen_pair([three.as_str()]).is_err());
    let same = chosen_pair([format!("{a},{a}").as_str()]).expect_err("same twice");
    assert!(same.contains("same request"), "{same}");
    let bad = chosen_pair([format!("{a},nope").as_str()]).expect_err("not an id");
    assert!(bad.contains("\"nope\""), "{bad}");
}

// ---- On a real server. ----

/// Sends a request to the bin and returns its id.
async fn send(
    app: &TestApp,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Uuid {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut builder = app.client.request(method, app.url(target));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = builder.body(body).send().await.expect("capture");
    assert_eq!(response.status(), 200);
    TestApp::request_id(&response)
}

/// Two Stripe-like events: the amount changed, one header changed, one
/// added, and two swapped places.
async fn two_events(app: &TestApp, bin: Uuid) -> (Uuid, Uuid) {
    let event = |amount: u32| {
        json!({"type": "charge.succeeded", "data": {"object": {"amount": amount, "currency": "usd"}}})
            .to_string()
    };
    let a = send(
        app,
        "POST",
        &format!("/{bin}/stripe?live=1"),
        &[
            ("Content-Type", "application/json"),
            ("Stripe-Signature", "t=1,v1=aaa"),
            ("X-Attempt", "1"),
        ],
        event(1000),
    )
    .await;
    let b = send(
        app,
        "POST",
        &format!("/{bin}/stripe?live=1"),
        &[
            ("Stripe-Signature", "t=2,v1=bbb"),
            ("Content-Type", "application/json"),
            ("X-Attempt", "1"),
            ("X-Retry", "yes"),
        ],
        event(1200),
    )
    .await;
    (a, b)
}

fn change<'a>(section: &'a Value, key: &str, value: &str) -> &'a Value {
    section["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c[key] == value)
        .unwrap_or_else(|| panic!("no change with {key} {value} in {section}"))
}

#[tokio::test]
async fn the_api_lists_what_differs_between_two_sent_requests() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let (a, b) = two_events(&app, bin).await;
    let diff = app.json(&format!("/token/{bin}/diff?a={a}&b={b}")).await;
    assert_eq!(diff["a"], json!(a));
    assert_eq!(diff["b"], json!(b));
    assert_eq!(diff["equal"], json!(false));
    assert_eq!(diff["differs"], json!(["headers", "body"]));
    assert_eq!(diff["method"]["equal"], json!(true));
    assert_eq!(diff["query"]["changes"], json!([]));

    let body = &diff["body"];
    assert_eq!(body["kind"], "json");
    assert_eq!(
        body["changes"],
        json!([{"type": "changed", "path": "$.data.object.amount", "old": 1000, "new": 1200}])
    );
    assert_eq!(body["more"], 0);

    // (reqwest sends names in lower case; they arrive and compare so.)
    let headers = &diff["headers"];
    assert_eq!(
        change(headers, "name", "stripe-signature"),
        &json!({"type": "changed", "name": "stripe-signature", "old": "t=1,v1=aaa", "new": "t=2,v1=bbb"})
    );
    assert_eq!(
        change(headers, "name", "x-retry"),
        &json!({"type": "added", "name": "x-retry", "new": "yes"})
    );
    let reordered = change(headers, "type", "reordered");
    let order = |side: &str| -> Vec<String> {
        serde_json::from_value(reordered[side].clone()).expect("names")
    };
    let at = |names: &[String], name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
    let (old, new) = (order("old"), order("new"));
    assert!(at(&old, "content-type") < at(&old, "stripe-signature"));
    assert!(at(&new, "content-type") > at(&new, "stripe-signature"));
    // The headers that did not change are not listed.
    assert!(headers["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .all(|c| c["name"] != "x-attempt"));
    app.stop().await;
}

#[tokio::test]
async fn the_api_compares_forms_text_and_binary_bodies() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let target = format!("/{bin}/form");
    let a = send(&app, "POST", &target, &form, "name=alice&plan=pro").await;
    let b = send(&app, "POST", &target, &form, "name=bob&plan=pro&seats=3").await;
    let body = &app.json(&format!("/token/{bin}/diff?a={a}&b={b}")).await["body"];
    assert_eq!(body["kind"], "form");
    assert_eq!(
        body["changes"],
        json!([
            {"type": "changed", "name": "name", "old": "alice", "new": "bob"},
            {"type": "added", "name": "seats", "new": "3"}
        ])
    );

    let text = [("Content-Type", "text/plain")];
    let a = send(
        &app,
        "PUT",
        &format!("/{bin}/t"),
        &text,
        "alpha\nbeta\ngamma\n",
    )
    .await;
    let b = send(
        &app,
        "PUT",
        &format!("/{bin}/t"),
        &text,
        "alpha\nBETA\ngamma\n",
    )
    .await;
    let body = &app.json(&format!("/token/{bin}/diff?a={a}&b={b}")).await["body"];
    assert_eq!(body["kind"], "text");
    assert_eq!(
        body["changes"],
        json!([
            {"type": "removed", "line": 2, "old": "beta"},
            {"type": "added", "line": 2, "new": "BETA"}
        ])
    );

    let target = format!("/{bin}/bin");
    let binary = |bytes: Vec<u8>| send(&app, "POST", &target, &[], bytes);
    let a = binary(vec![0u8, 1, 2, 0xfe, 4]).await;
    let b = binary(vec![0u8, 1, 2, 0xff, 4]).await;
    let body = &app.json(&format!("/token/{bin}/diff?a={a}&b={b}")).await["body"];
    assert_eq!(body["kind"], "binary");
    assert_eq!(body["first_difference"], 3);
    assert_eq!(
        body["changes"],
        json!([{"type": "changed", "offset": 3, "old": "0xfe", "new": "0xff"}])
    );
    // The same bytes twice: equal.
    let c = binary(vec![0u8, 1, 2, 0xfe, 4]).await;
    let diff = app.json(&format!("/token/{bin}/diff?a={a}&b={c}")).await;
    assert_eq!(diff["equal"], true, "{diff}");
    assert_eq!(diff["body"]["first_difference"], Value::Null);
    app.stop().await;
}

/// `GET path` as a browser asks for a page.
async fn as_browser(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("page")
}

#[tokio::test]
async fn bad_pairs_are_refused_with_the_reason_never_a_500() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let other = app.new_bin().await;
    let (a, _) = two_events(&app, bin).await;
    let elsewhere = send(&app, "POST", &format!("/{other}"), &[], "x").await;
    let unknown = Uuid::now_v7();
    let cases = [
        (format!("a={a}"), 400, "exactly two"),
        (String::new(), 400, "exactly two"),
        (format!("a={a}&b={a}"), 400, "same request"),
        (format!("a={a}&b=nope"), 400, "\"nope\""),
        (format!("a={a}&b={unknown}"), 404, "in this bin"),
        (format!("a={elsewhere}&b={a}"), 404, "in this bin"),
    ];
    for (query, status, reason) in &cases {
        // The API: JSON.
        let response = app.get(&format!("/token/{bin}/diff?{query}")).await;
        assert_eq!(response.status(), *status, "API ?{query}");
        let error: Value = response.json().await.expect("JSON error");
        let message = error["message"].as_str().expect("message");
        assert!(message.contains(reason), "API ?{query}: {message}");

        // The page, as a browser asks for it.
        let page = format!("/view/{bin}/diff?{query}");
        let response = as_browser(&app, &page).await;
        assert_eq!(response.status(), *status, "{page}");
        let html = response.text().await.expect("html");
        assert!(html.contains("class=\"reason\""), "{page}: {html}");
        let escaped = reason.replace('"', "&#34;");
        assert!(html.contains(&escaped), "{page} says {reason}: {html}");
    }
    // The dashboard's own URL for it.
    let response = as_browser(&app, &format!("/view/{bin}?diff={a}")).await;
    assert_eq!(response.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn the_compare_page_works_from_each_of_its_urls_without_javascript() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let (a, b) = two_events(&app, bin).await;
    let hostile = send(
        &app,
        "POST",
        &format!("/{bin}/stripe?live=1"),
        &[
            ("Content-Type", "application/json"),
            ("X-Evil", "<script>alert(1)</script>"),
        ],
        json!({"data": {"object": {"amount": "<img src=x onerror=alert(1)>"}}}).to_string(),
    )
    .await;
    for url in [
        format!("/view/{bin}?diff={a},{b}"),
        format!("/view/{bin}/diff?a={a}&b={b}"),
        // The list's checkboxes, newest first: the older becomes A.
        format!("/view/{bin}/diff?id={b}&id={a}"),
    ] {
        let response = app.get(&url).await;
        assert_eq!(response.status(), 200, "{url}");
        let html = response.text().await.expect("html");
        assert!(html.contains("$.data.object.amount"), "{url}");
        let a_at = html.find(&format!("?r={a}")).expect("A's link");
        let b_at = html.find(&format!("?r={b}")).expect("B's link");
        assert!(a_at < b_at, "{url}: A is the first request");
        assert!(html.contains(">1000<") && html.contains(">1200<"), "{url}");
    }
    let html = app
        .html(&format!("/view/{bin}/diff?a={a}&b={hostile}"))
        .await;
    assert!(!html.contains("<script>alert") && !html.contains("<img src=x"));
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    // The dashboard lists a checkbox per request for its compare form.
    let dashboard = app.html(&format!("/view/{bin}")).await;
    assert!(dashboard.contains(&format!("action=\"/view/{bin}/diff\"")));
    for id in [a, b, hostile] {
        assert!(
            dashboard.contains(&format!("name=\"id\" value=\"{id}\" form=\"compare\"")),
            "a checkbox for {id}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_api_description_has_the_diff() {
    let app = TestApp::spawn().await;
    let doc = app.json("/api/openapi.json").await;
    let operation = &doc["paths"]["/token/{id}/diff"]["get"];
    assert!(operation.is_object(), "{operation}");
    let names: Vec<&str> = operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["id", "a", "b"]);
    for status in ["200", "400", "404"] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
    assert!(doc["components"]["schemas"]["RequestDiff"].is_object());
    app.stop().await;
}

// ---- In Chromium. ----

async fn tick(browser: &Browser, id: Uuid) {
    browser
        .wait_for(
            "the row's checkbox",
            &format!("li.req[data-id='{id}'] input.pick"),
        )
        .await
        .click()
        .await
        .expect("tick");
}

/// Presses the list's Compare button and waits for the compare page.
async fn press_compare(browser: &Browser) {
    browser
        .client
        .find(fantoccini::Locator::Css("#compare button"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("compare");
    browser
        .until(
            "the compare page",
            "return location.pathname.endsWith('/diff') && document.readyState === 'complete';",
        )
        .await;
}

fn compare_enabled() -> &'static str {
    "return !document.querySelector('#compare button').disabled;"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticking_two_requests_and_comparing_shows_the_changed_json_path() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let (a, b) = two_events(&app, bin).await;
    let browser = Browser::start().await;
    browser.open(&app.url(&format!("/view/{bin}"))).await;
    browser.until_live().await;
    assert_eq!(browser.eval(compare_enabled()).await, json!(false));
    tick(&browser, a).await;
    assert_eq!(browser.eval(compare_enabled()).await, json!(false));

    // A request arrives live: its row gets a checkbox, the tick stays.
    let live = send(&app, "POST", &format!("/{bin}/late"), &[], "late").await;
    browser
        .wait_for(
            "the live row's checkbox",
            &format!("li.req[data-id='{live}'] input.pick"),
        )
        .await;
    let still =
        format!("return document.querySelector(\"li.req[data-id='{a}'] input.pick\").checked;");
    assert_eq!(browser.eval(&still).await, json!(true));

    tick(&browser, b).await;
    browser
        .until("Compare to be enabled", compare_enabled())
        .await;
    tick(&browser, live).await;
    browser
        .until(
            "Compare to be disabled at three",
            &compare_enabled().replace("return !", "return "),
        )
        .await;
    tick(&browser, live).await;
    browser
        .until("Compare to be enabled", compare_enabled())
        .await;

    press_compare(&browser).await;
    let shown = browser
        .eval("return [...document.querySelectorAll('.diff-table th')].map(th => th.textContent);")
        .await;
    assert!(
        shown
            .as_array()
            .expect("cells")
            .iter()
            .any(|t| t == "$.data.object.amount"),
        "{shown}"
    );
    let url = browser.client.current_url().await.expect("url");
    assert!(url.as_str().contains(&format!("id={a}")), "{url}");

    // It fits a phone and axe-core finds nothing serious, in both themes,
    // with a JSON table and a text listing.
    let text = [("Content-Type", "text/plain")];
    let old = send(
        &app,
        "POST",
        &format!("/{bin}/t"),
        &text,
        "one\ntwo\nthree\n",
    )
    .await;
    let new = send(
        &app,
        "POST",
        &format!("/{bin}/t"),
        &text,
        "one\n2\nthree\nfour\n",
    )
    .await;
    browser.set_viewport_width(Some(400)).await;
    let mut found = Vec::new();
    for scheme in ["light", "dark"] {
        browser.set_color_scheme(scheme).await;
        for (x, y) in [(a, b), (old, new)] {
            browser
                .open(&app.url(&format!("/view/{bin}/diff?a={x}&b={y}")))
                .await;
            let sizes = browser
                .eval("return [document.documentElement.scrollWidth, innerWidth];")
                .await;
            let [scroll, inner]: [u64; 2] = serde_json::from_value(sizes).expect("two widths");
            assert!(scroll <= inner, "{scheme}: {scroll} > {inner} px");
            let violations = support::browser::serious_violations(&browser).await;
            found.extend(violations.into_iter().map(|v| format!("{scheme}: {v}")));
        }
    }
    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    let listed = browser
        .eval("return document.querySelectorAll('.diff-lines tr.diff-added').length;")
        .await;
    assert_eq!(listed, json!(2), "the text listing shows both added lines");
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_checkboxes_and_compare_button_still_work() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let (a, b) = two_events(&app, bin).await;
    let browser = Browser::start_without_javascript().await;
    browser.open(&app.url(&format!("/view/{bin}"))).await;
    tick(&browser, a).await;
    tick(&browser, b).await;
    press_compare(&browser).await;
    let text = browser.eval("return document.body.textContent;").await;
    let text = text.as_str().expect("text");
    assert!(text.contains("$.data.object.amount"), "{text}");
    browser.quit().await;
    app.stop().await;
}
