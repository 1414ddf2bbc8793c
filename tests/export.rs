//! Taking requests elsewhere: copy as curl (and re-run it), export as JSON
//! and HAR 1.2; tidying up from the dashboard.

mod support;

use std::path::Path;

use hookscope::model::CapturedRequest;
use serde_json::Value;
use support::{status_of, Backend, TestApp};
use tokio::process::Command;
use uuid::Uuid;

/// Undoes the HTML escaping of a page's text.
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').expect("entity end");
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).expect("hex")).expect("char")
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().expect("dec")).expect("char"),
            e => panic!("unknown entity {e}"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn curl_line(app: &TestApp, bin: Uuid, id: Uuid) -> String {
    let html = app.html(&format!("/view/{bin}?r={id}")).await;
    let start = html.find("<pre id=\"curl-line\"").expect("curl block");
    let start = start + html[start..].find('>').expect("tag end") + 1;
    let end = start + html[start..].find("</pre>").expect("pre end");
    unescape(&html[start..end])
}

async fn latest(app: &TestApp, bin: Uuid) -> CapturedRequest {
    let page = app.json(&format!("/token/{bin}/request/latest")).await;
    let id = Uuid::parse_str(page["uuid"].as_str().expect("uuid")).expect("uuid");
    app.state
        .store
        .request(bin, id)
        .await
        .expect("read")
        .expect("stored")
}

/// Headers as sent, minus what curl computes itself; sorted, because curl
/// places its own headers first.
fn comparable_headers(req: &CapturedRequest) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<_> = req
        .headers
        .iter()
        .filter(|h| !["host", "content-length"].contains(&h.name.to_ascii_lowercase().as_str()))
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    headers.sort();
    headers
}

/// Runs the command line in bash (without blocking the server, which
/// shares this test's runtime).
async fn run_in(dir: &Path, line: &str) {
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("{line} --silent --show-error --output /dev/null"))
        .current_dir(dir)
        .output()
        .await
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

both_backends!(copy_as_curl_reproduces_the_request_exactly);
async fn copy_as_curl_reproduces_the_request_exactly(backend: Backend) {
    if !Path::new("/usr/bin/curl").exists() {
        eprintln!("no curl: skipped");
        return;
    }
    let app = TestApp::spawn_on_backend(backend).await;
    let bin = app.new_bin().await;
    let body: &[u8] = b"it's \"quoted\" $HOME `x`\n\\ back \xff\x01 end\r\n@not-a-file";
    let mut wire = format!(
        "PATCH /{bin}/a%20b/c//d?x=1&y=%ff&z&[g]={{h}} HTTP/1.1\r\nHost: {}\r\n\
         X-Dup: one\r\nx-dup: two 'quoted'\r\nContent-Type: text/plain; charset=latin1\r\n\
         X-Empty: \r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(body);
    assert_eq!(status_of(&app.raw(&wire).await), 200);
    let original = latest(&app, bin).await;

    let line = curl_line(&app, bin, original.id).await;
    assert!(line.starts_with("curl "), "{line}");
    let dir = tempfile::tempdir().expect("temp dir");
    run_in(dir.path(), &line).await;
    let replayed = latest(&app, bin).await;
    assert_ne!(replayed.id, original.id);
    assert_eq!(replayed.method, original.method);
    assert_eq!(replayed.path, original.path);
    assert_eq!(replayed.query, original.query);
    assert_eq!(&replayed.body[..], &original.body[..]);
    assert_eq!(comparable_headers(&replayed), comparable_headers(&original));

    // A body with NUL bytes comes from the downloaded file.
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let response = app
        .client
        .post(app.url(&format!("/{bin}/upload")))
        .header("Content-Type", "application/octet-stream")
        .body(binary.clone())
        .send()
        .await
        .expect("POST");
    let id = TestApp::request_id(&response);
    let line = curl_line(&app, bin, id).await;
    assert!(line.contains("--data-binary @body.bin"), "{line}");
    let download = app
        .client
        .get(app.url(&format!("/view/{bin}/{id}/body")))
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    std::fs::write(dir.path().join("body.bin"), &download).expect("write body.bin");
    run_in(dir.path(), &line).await;
    let replayed = latest(&app, bin).await;
    assert_ne!(replayed.id, id);
    assert_eq!(&replayed.body[..], &binary[..]);
    assert_eq!(replayed.path, format!("/{bin}/upload"));
}

both_backends!(bin_exports_as_json_and_har);
async fn bin_exports_as_json_and_har(app: TestApp) {
    let bin = app.new_bin().await;
    app.client
        .post(app.url(&format!("/{bin}/hook?a=1&a=2")))
        .header("Content-Type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .expect("POST");
    app.post_to_bin(bin, "", vec![0u8, 0xff]).await;
    app.client
        .get(app.url(&format!("/{bin}")))
        .send()
        .await
        .expect("GET");

    let response = app
        .client
        .get(app.url(&format!("/view/{bin}/export.har")))
        .send()
        .await
        .expect("export.har");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    let har: Value =
        serde_json::from_slice(&response.bytes().await.expect("bytes")).expect("HAR is JSON");
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert!(log["creator"]["name"].is_string());
    assert!(log["creator"]["version"].is_string());
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    for entry in entries {
        assert!(entry["startedDateTime"].is_string());
        assert!(entry["time"].is_number());
        assert!(entry["cache"].is_object());
        for timing in ["send", "wait", "receive"] {
            assert!(entry["timings"][timing].is_number());
        }
        let request = &entry["request"];
        for field in ["method", "url", "httpVersion"] {
            assert!(request[field].is_string(), "request.{field}");
        }
        for field in ["cookies", "headers", "queryString"] {
            assert!(request[field].is_array(), "request.{field}");
        }
        assert!(request["headersSize"].is_number());
        assert!(request["bodySize"].is_number());
        let response = &entry["response"];
        assert!(response["status"].is_number());
        for field in ["statusText", "httpVersion", "redirectURL"] {
            assert!(response[field].is_string(), "response.{field}");
        }
        assert!(response["cookies"].is_array());
        assert!(response["headers"].is_array());
        assert!(response["content"]["size"].is_number());
        assert!(response["content"]["mimeType"].is_string());
    }
    let first = &entries[0]["request"];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["postData"]["mimeType"], "application/json");
    assert_eq!(first["postData"]["text"], r#"{"hello":"world"}"#);
    assert_eq!(
        first["queryString"],
        serde_json::json!([{"name": "a", "value": "1"}, {"name": "a", "value": "2"}])
    );
    assert_eq!(entries[1]["request"]["postData"]["encoding"], "base64");
    assert_eq!(entries[1]["request"]["postData"]["text"], "AP8=");

    let response = app
        .client
        .get(app.url(&format!("/view/{bin}/export.json")))
        .send()
        .await
        .expect("export.json");
    assert_eq!(response.status(), 200);
    let all: Value = response.json().await.expect("json");
    let all = all.as_array().expect("array");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["content"], r#"{"hello":"world"}"#);
    assert_eq!(all[1]["content_encoding"], "base64");

    let unknown = Uuid::new_v4();
    for path in [
        format!("/view/{unknown}/export.har"),
        format!("/view/{unknown}/export.json"),
    ] {
        let response = app.client.get(app.url(&path)).send().await.expect("GET");
        assert_eq!(response.status(), 404);
    }
}

both_backends!(dashboard_deletes_one_request_or_clears_the_bin);
async fn dashboard_deletes_one_request_or_clears_the_bin(app: TestApp) {
    let bin = app.new_bin().await;
    let keep = TestApp::request_id(&app.post_to_bin(bin, "", "keep").await);
    let drop = TestApp::request_id(&app.post_to_bin(bin, "", "drop").await);

    let html = app.html(&format!("/view/{bin}?r={drop}")).await;
    let action = format!("/view/{bin}/{drop}/delete");
    assert!(html.contains(&action));
    assert!(html.contains(&format!("/view/{bin}/clear")));
    assert!(html.contains(&format!("/view/{bin}/export.har")));
    assert!(html.contains(&format!("/view/{bin}/settings")));

    // Another site's page cannot make a visitor's browser delete.
    let forged = app
        .client
        .post(app.url(&action))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 403);
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 2);

    let deleted = app
        .client
        .post(app.url(&action))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .expect("POST");
    assert_eq!(deleted.status(), 303);
    let store = &app.state.store;
    assert!(store.request(bin, drop).await.expect("read").is_none());
    assert!(store.request(bin, keep).await.expect("read").is_some());
    let again = app
        .client
        .post(app.url(&action))
        .send()
        .await
        .expect("POST");
    assert_eq!(again.status(), 404);

    let forged = app
        .client
        .post(app.url(&format!("/view/{bin}/clear")))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 403);
    // The button alone only asks (a page, so that it works without
    // JavaScript); the confirmation's own form deletes.
    let asked = app
        .client
        .post(app.url(&format!("/view/{bin}/clear")))
        .send()
        .await
        .expect("POST");
    assert_eq!(asked.status(), 200);
    let question = asked.text().await.expect("html");
    assert!(question.contains("Yes, delete 1 request<"), "{question}");
    assert!(question.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(store.count_requests(bin).await.expect("count"), 1);
    let cleared = app
        .client
        .post(app.url(&format!("/view/{bin}/clear")))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .expect("POST");
    assert_eq!(cleared.status(), 303);
    assert_eq!(store.count_requests(bin).await.expect("count"), 0);
    assert!(
        store.bin(bin).await.expect("read").is_some(),
        "the bin stays"
    );
}
