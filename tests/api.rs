//! A script's story: drive bins and their requests through the
//! webhook.site-compatible token API.

mod support;

use serde_json::{json, Value};
use support::TestApp;
use uuid::Uuid;

fn uuid_of(bin: &Value) -> Uuid {
    Uuid::parse_str(bin["uuid"].as_str().expect("uuid field")).expect("uuid")
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}

/// Asserts the webhook.site-style error shape and returns its message.
async fn expect_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("application/json"));
    let body: Value = response.json().await.expect("json error");
    assert!(body["error"].is_string(), "{body}");
    let message = body["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    message
}

both_backends!(token_is_created_read_updated_and_deleted);
async fn token_is_created_read_updated_and_deleted(app: TestApp) {
    // No body at all gives a bin with the defaults.
    let response = app
        .client
        .post(app.url("/token"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let plain: Value = response.json().await.expect("json");
    assert_eq!(plain["default_status"], 200);
    assert_eq!(plain["cors"], false);
    assert_eq!(plain["expiry"], Value::Null);

    let bin = app.create_token(
        json!({"default_status": 201, "default_content": "hi", "default_content_type": "text/plain",
               "timeout": 0, "cors": true, "alias": "my-hook", "description": "tests", "request_limit": 5}),
    )
    .await;
    for field in [
        "uuid",
        "redirect",
        "alias",
        "actions",
        "cors",
        "expiry",
        "timeout",
        "listen",
        "premium",
        "password",
        "ip",
        "user_agent",
        "default_content",
        "default_status",
        "default_content_type",
        "request_limit",
        "description",
        "created_at",
        "updated_at",
    ] {
        assert!(bin.get(field).is_some(), "missing {field} in {bin}");
    }
    assert_eq!(bin["password"], false);
    assert_eq!(bin["alias"], "my-hook");
    assert_eq!(bin["request_limit"], 5);
    assert_eq!(bin["ip"], "127.0.0.1");
    let id = uuid_of(&bin);

    let (status, read) = get_json(&app, &format!("/token/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(read, bin);

    let response = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .json(&json!({"default_status": 404, "alias": null}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.expect("json");
    assert_eq!(updated["default_status"], 404);
    assert_eq!(updated["alias"], Value::Null);
    assert_eq!(updated["default_content"], "hi", "unsent fields are kept");

    // The capture URL answers with the new settings right away.
    let answer = app.post_to_bin(id, "", "x").await;
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.text().await.expect("body"), "hi");

    let response = app
        .client
        .delete(app.url(&format!("/token/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 204);
    let response = app
        .client
        .get(app.url(&format!("/token/{id}")))
        .send()
        .await
        .expect("GET");
    expect_error(response, 404).await;
    let capture = app.post_to_bin(id, "", "x").await;
    assert_eq!(capture.status(), 404);
}

both_backends!(requests_are_listed_read_raw_and_deleted);
async fn requests_are_listed_read_raw_and_deleted(app: TestApp) {
    let id = uuid_of(&app.create_token(json!({})).await);
    let first = TestApp::request_id(
        &app.client
            .put(app.url(&format!("/{id}/orders/1?a=1&a=2&b=x")))
            .header("Content-Type", "application/octet-stream")
            .header("X-Event", "created")
            .body(vec![0u8, 0xff, 1, 2])
            .send()
            .await
            .expect("PUT capture"),
    );
    let second = TestApp::request_id(&app.post_to_bin(id, "/two", "{\"n\":2}").await);

    let (status, page) = get_json(&app, &format!("/token/{id}/requests")).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 2);
    assert_eq!(page["per_page"], 50);
    assert_eq!(page["current_page"], 1);
    assert_eq!(page["is_last_page"], true);
    assert_eq!(page["from"], 1);
    assert_eq!(page["to"], 2);
    // webhook.site's default order is oldest first.
    assert_eq!(page["data"][0]["uuid"], first.to_string());
    assert_eq!(page["data"][1]["uuid"], second.to_string());

    let (_, newest) = get_json(&app, &format!("/token/{id}/requests?sorting=newest")).await;
    assert_eq!(newest["data"][0]["uuid"], second.to_string());

    let (status, one) = get_json(&app, &format!("/token/{id}/request/{first}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["method"], "PUT");
    assert_eq!(one["type"], "web");
    assert_eq!(one["token_id"], id.to_string());
    assert_eq!(one["query"]["a"], json!(["1", "2"]));
    assert_eq!(one["headers"]["x-event"], json!(["created"]));
    assert_eq!(one["size"], 4);
    assert!(one["url"]
        .as_str()
        .expect("url")
        .ends_with("/orders/1?a=1&a=2&b=x"));
    let created = one["created_at"].as_str().expect("created_at");
    assert_eq!(created.len(), 19, "YYYY-MM-DD HH:MM:SS: {created}");

    let raw = app
        .client
        .get(app.url(&format!("/token/{id}/request/{first}/raw")))
        .send()
        .await
        .expect("raw");
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "application/octet-stream");
    assert_eq!(raw.headers()["x-content-type-options"], "nosniff");
    assert!(raw.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    assert_eq!(&raw.bytes().await.expect("bytes")[..], &[0u8, 0xff, 1, 2]);

    let (_, latest) = get_json(&app, &format!("/token/{id}/request/latest")).await;
    assert_eq!(latest["uuid"], second.to_string());

    let response = app
        .client
        .delete(app.url(&format!("/token/{id}/request/{second}")))
        .send()
        .await
        .expect("DELETE one");
    assert_eq!(response.status(), 204);
    let (_, page) = get_json(&app, &format!("/token/{id}/requests")).await;
    assert_eq!(page["total"], 1);
    let response = app
        .client
        .get(app.url(&format!("/token/{id}/request/{second}")))
        .send()
        .await
        .expect("GET deleted");
    expect_error(response, 404).await;

    // Only the matching requests, when filtered.
    TestApp::request_id(&app.post_to_bin(id, "/keep", "keep me").await);
    let response = app
        .client
        .delete(app.url(&format!("/token/{id}/request?query=method:PUT")))
        .send()
        .await
        .expect("DELETE matching");
    assert_eq!(response.status(), 204);
    let (_, page) = get_json(&app, &format!("/token/{id}/requests")).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["data"][0]["content"], "keep me");

    let response = app
        .client
        .delete(app.url(&format!("/token/{id}/request")))
        .send()
        .await
        .expect("DELETE all");
    assert_eq!(response.status(), 204);
    let (_, page) = get_json(&app, &format!("/token/{id}/requests")).await;
    assert_eq!(page["total"], 0);
    let response = app
        .client
        .get(app.url(&format!("/token/{id}/request/latest")))
        .send()
        .await
        .expect("latest");
    expect_error(response, 404).await;
    let (status, _) = get_json(&app, &format!("/token/{id}")).await;
    assert_eq!(status, 200, "clearing keeps the bin");
}

both_backends!(pagination_handles_empty_bins_last_pages_and_bounds);
async fn pagination_handles_empty_bins_last_pages_and_bounds(app: TestApp) {
    let id = uuid_of(&app.create_token(json!({})).await);

    let (_, empty) = get_json(&app, &format!("/token/{id}/requests")).await;
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["is_last_page"], true);
    assert_eq!(empty["from"], Value::Null);
    assert_eq!(empty["to"], Value::Null);

    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(TestApp::request_id(
            &app.post_to_bin(id, "", format!("{n}")).await,
        ));
    }
    let (_, page) = get_json(&app, &format!("/token/{id}/requests?per_page=2&page=3")).await;
    assert_eq!(page["current_page"], 3);
    assert_eq!(page["is_last_page"], true);
    assert_eq!(page["from"], 5);
    assert_eq!(page["to"], 5);
    assert_eq!(page["data"][0]["uuid"], ids[4].to_string());
    let (_, page) = get_json(&app, &format!("/token/{id}/requests?per_page=2&page=2")).await;
    assert_eq!(page["is_last_page"], false);
    assert_eq!(page["from"], 3);
    let (_, beyond) = get_json(&app, &format!("/token/{id}/requests?per_page=2&page=9")).await;
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["total"], 5);
    assert_eq!(beyond["is_last_page"], true);

    // per_page is kept within 1..=100, as webhook.site does.
    let (_, big) = get_json(&app, &format!("/token/{id}/requests?per_page=1000")).await;
    assert_eq!(big["per_page"], 100);
    assert_eq!(big["data"].as_array().expect("data").len(), 5);
    let (_, small) = get_json(&app, &format!("/token/{id}/requests?per_page=0&page=0")).await;
    assert_eq!(small["per_page"], 1);
    assert_eq!(small["current_page"], 1);
    assert_eq!(small["data"].as_array().expect("data").len(), 1);

    // Date filters: everything is after 2000 and nothing after 2999.
    let (_, all) = get_json(
        &app,
        &format!("/token/{id}/requests?date_from=2000-01-01%2000:00:00&date_to=2999-01-01"),
    )
    .await;
    assert_eq!(all["total"], 5);
    let (_, none) = get_json(&app, &format!("/token/{id}/requests?date_from=2999-01-01")).await;
    assert_eq!(none["total"], 0);
}

both_backends!(bad_input_gets_a_json_4xx);
async fn bad_input_gets_a_json_4xx(app: TestApp) {
    let id = uuid_of(&app.create_token(json!({})).await);
    let client = &app.client;

    let post = |body: &'static str| {
        client
            .post(app.url("/token"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let message = expect_error(post(r#"{"default_status": 999}"#).await.expect("POST"), 422).await;
    assert!(message.contains("default_status"), "{message}");
    expect_error(post(r#"{"default_status": "#).await.expect("POST"), 400).await;
    expect_error(post("not json").await.expect("POST"), 400).await;
    expect_error(post(r#"{"timeout": -1}"#).await.expect("POST"), 422).await;
    expect_error(post(r#"{"expiry": 0}"#).await.expect("POST"), 422).await;
    for (body, kind) in [
        ("[1, 2]", "an array"),
        (r#""text""#, "a string"),
        ("42", "a number"),
        ("null", "null"),
    ] {
        let message = expect_error(post(body).await.expect("POST"), 422).await;
        assert!(
            message.contains("must be a JSON object") && message.ends_with(kind),
            "{body}: {message}"
        );
    }
    expect_error(
        post(r#"{"response_headers": [{"name": "Content-Length", "value": "1"}]}"#)
            .await
            .expect("POST"),
        422,
    )
    .await;
    expect_error(
        post(r#"{"response_headers": [{"name": "bad name", "value": "1"}]}"#)
            .await
            .expect("POST"),
        422,
    )
    .await;
    // A wrong content type does not matter; the body does.
    let response = client
        .post(app.url("/token"))
        .header("Content-Type", "text/plain")
        .body("{{{")
        .send()
        .await
        .expect("POST");
    expect_error(response, 400).await;

    // A body over the API's limit (2 MiB) is refused before parsing.
    let huge = format!(
        r#"{{"default_content": "{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let response = client
        .post(app.url("/token"))
        .body(huge)
        .send()
        .await
        .expect("POST");
    expect_error(response, 413).await;

    let response = client
        .put(app.url(&format!("/token/{id}")))
        .body(r#"{"default_status": 99}"#)
        .send()
        .await
        .expect("PUT");
    expect_error(response, 422).await;
    let response = client
        .put(app.url(&format!("/token/{id}")))
        .body("{")
        .send()
        .await
        .expect("PUT");
    expect_error(response, 400).await;

    let unknown = Uuid::new_v4();
    for path in [
        format!("/token/{unknown}"),
        format!("/token/{unknown}/requests"),
        format!("/token/{unknown}/request/latest"),
        format!("/token/{unknown}/request/{unknown}"),
        format!("/token/{unknown}/request/{unknown}/raw"),
        String::from("/token/not-a-uuid"),
        String::from("/token/not-a-uuid/requests"),
        format!("/token/{id}/request/not-a-uuid"),
        format!("/token/{id}/request/{unknown}"),
        format!("/token/{id}/request/{unknown}/raw"),
    ] {
        let response = client.get(app.url(&path)).send().await.expect("GET");
        expect_error(response, 404).await;
    }
    for path in [
        format!("/token/{unknown}"),
        format!("/token/{unknown}/request"),
        format!("/token/{id}/request/{unknown}"),
    ] {
        let response = client.delete(app.url(&path)).send().await.expect("DELETE");
        expect_error(response, 404).await;
    }
    let response = client
        .put(app.url(&format!("/token/{unknown}")))
        .body("{}")
        .send()
        .await
        .expect("PUT");
    expect_error(response, 404).await;

    for query in [
        "sorting=sideways",
        "per_page=many",
        "page=first",
        "date_from=yesterday",
        "date_to=2024-13-45",
    ] {
        let response = client
            .get(app.url(&format!("/token/{id}/requests?{query}")))
            .send()
            .await
            .expect("GET");
        let message = expect_error(response, 400).await;
        let field = query.split('=').next().expect("field");
        assert!(message.contains(field), "{query}: {message}");
    }
}

both_backends!(a_nul_in_a_description_is_refused_on_either_store);
async fn a_nul_in_a_description_is_refused_on_either_store(app: TestApp) {
    let bin = app.new_bin().await;
    let response = app
        .client
        .put(app.url(&format!("/token/{bin}")))
        .json(&json!({"description": "before\u{0}after"}))
        .send()
        .await
        .expect("PUT");
    let message = expect_error(response, 422).await;
    assert!(message.contains("description"), "{message}");
    assert!(message.contains("NUL"), "{message}");
    // Nothing was saved; the bin still answers.
    let (status, token) = get_json(&app, &format!("/token/{bin}")).await;
    assert_eq!(status, 200);
    assert_eq!(token["description"], Value::Null);
}
