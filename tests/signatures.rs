//! Signature verification as a developer meets it: a bin with the
//! secrets of GitHub, Stripe and Standard Webhooks (Svix) senders; requests
//! signed here with those secrets, valid and tampered (one byte of the
//! body, the signature header, an old timestamp); the verdict in the API
//! object, the live feed, search and the dashboard (in a real Chromium);
//! "verify again" after adding a verifier; and the secrets never shown
//! back by any answer, page, export or log line.

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::browser::{serious_violations, Browser};
use support::feed::{next_message, open_feed};
use support::TestApp;
use uuid::Uuid;

const GITHUB_SECRET: &str = "gh-secret-5b1f0e29-never-shown";
const STRIPE_SECRET: &str = "whsec_stripe-7d3a41c8-never-shown";
/// Standard Webhooks' secret: `whsec_` and the base64 of the key bytes.
const STANDARD_KEY: &[u8] = b"standard-key-0c9e77-never-shown!";

fn standard_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(STANDARD_KEY)
    )
}

/// Every secret of these tests, as a response, page or log could spell it.
fn secrets() -> Vec<String> {
    vec![
        GITHUB_SECRET.to_owned(),
        STRIPE_SECRET.to_owned(),
        standard_secret(),
    ]
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

/// A request to send: headers and body.
struct Signed {
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn github(body: &[u8]) -> Signed {
    let signature = format!(
        "sha256={}",
        hex(&hmac_sha256(GITHUB_SECRET.as_bytes(), body))
    );
    Signed {
        headers: vec![
            ("X-GitHub-Event", "push".into()),
            ("X-Hub-Signature-256", signature),
        ],
        body: body.to_vec(),
    }
}

fn stripe(body: &[u8], timestamp: i64) -> Signed {
    let signed = [format!("{timestamp}.").as_bytes(), body].concat();
    let signature = hex(&hmac_sha256(STRIPE_SECRET.as_bytes(), &signed));
    Signed {
        headers: vec![("Stripe-Signature", format!("t={timestamp},v1={signature}"))],
        body: body.to_vec(),
    }
}

fn standard(body: &[u8], timestamp: i64) -> Signed {
    let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    let signed = [format!("{id}.{timestamp}.").as_bytes(), body].concat();
    let signature =
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(STANDARD_KEY, &signed));
    Signed {
        headers: vec![
            ("webhook-id", id.into()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", format!("v1,{signature}")),
        ],
        body: body.to_vec(),
    }
}

/// `signed` with one byte of its body changed after signing.
fn one_byte_changed(mut signed: Signed) -> Signed {
    let last = signed.body.len() - 1;
    signed.body[last] ^= 0x01;
    signed
}

/// `signed` with the last character of header `name` changed to another
/// digit: a digit, so it differs from the old one even to a check that
/// reads hex ignoring case (changing `a` to `A` would not change the
/// signature).
fn header_changed(mut signed: Signed, name: &str) -> Signed {
    let (_, value) = signed
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .expect("the header is there");
    let last = value.pop().expect("not empty");
    value.push(if last == '0' { '1' } else { '0' });
    signed
}

async fn send(app: &TestApp, bin: Uuid, signed: &Signed) -> Uuid {
    let mut request = app
        .client
        .post(app.url(&format!("/{bin}/hook")))
        .header("Content-Type", "application/json")
        .body(signed.body.clone());
    for (name, value) in &signed.headers {
        request = request.header(*name, value);
    }
    let answer = request.send().await.expect("send");
    assert_eq!(answer.status(), 200);
    TestApp::request_id(&answer)
}

/// `PUT /token/{bin}` with `body`: status and answer.
async fn put_token(app: &TestApp, bin: Uuid, body: Value) -> (u16, Value) {
    let answer = app
        .client
        .put(app.url(&format!("/token/{bin}")))
        .json(&body)
        .send()
        .await
        .expect("PUT /token");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("JSON"))
}

fn verifiers() -> Value {
    json!([
        {"provider": "github", "secret": GITHUB_SECRET},
        {"provider": "stripe", "secret": STRIPE_SECRET},
        {"provider": "standard", "secret": standard_secret()},
    ])
}

/// A bin that checks GitHub, Stripe and Standard Webhooks signatures.
async fn checking_bin(app: &TestApp) -> Uuid {
    let bin = app.new_bin().await;
    let (status, answer) = put_token(app, bin, json!({ "verifiers": verifiers() })).await;
    assert_eq!(status, 200, "{answer}");
    bin
}

/// The request object's `signature` of request `id`.
async fn verdict(app: &TestApp, bin: Uuid, id: Uuid) -> Value {
    app.json(&format!("/token/{bin}/request/{id}")).await["signature"].clone()
}

async fn search_total(app: &TestApp, bin: Uuid, query: &str) -> u64 {
    let url = reqwest::Url::parse_with_params(
        &app.url(&format!("/token/{bin}/requests")),
        &[("query", query)],
    )
    .expect("url");
    let answer = app.client.get(url).send().await.expect("search");
    assert_eq!(answer.status(), 200, "{query}");
    let page: Value = answer.json().await.expect("json");
    page["total"].as_u64().expect("total")
}

/// Sent requests, what each one is, and the provider and validity its
/// verdict must have.
fn cases() -> Vec<(&'static str, Signed, &'static str, bool)> {
    let body = br#"{"event":"payment","amount":1200}"#;
    let now = now_secs();
    let hour_ago = now - 3600;
    vec![
        ("github valid", github(body), "github", true),
        (
            "github one byte",
            one_byte_changed(github(body)),
            "github",
            false,
        ),
        (
            "github header",
            header_changed(github(body), "X-Hub-Signature-256"),
            "github",
            false,
        ),
        ("stripe valid", stripe(body, now), "stripe", true),
        (
            "stripe one byte",
            one_byte_changed(stripe(body, now)),
            "stripe",
            false,
        ),
        (
            "stripe header",
            header_changed(stripe(body, now), "Stripe-Signature"),
            "stripe",
            false,
        ),
        ("stripe old", stripe(body, hour_ago), "stripe", false),
        ("standard valid", standard(body, now), "standard", true),
        (
            "standard one byte",
            one_byte_changed(standard(body, now)),
            "standard",
            false,
        ),
        (
            "standard header",
            header_changed(standard(body, now), "webhook-signature"),
            "standard",
            false,
        ),
        ("standard old", standard(body, hour_ago), "standard", false),
    ]
}

both_backends!(each_capture_is_verified_in_the_api_the_feed_and_search);
async fn each_capture_is_verified_in_the_api_the_feed_and_search(app: TestApp) {
    let bin = checking_bin(&app).await;
    let mut feed = open_feed(&app, bin, "").await;
    let mut wrong = Vec::new();
    let cases = cases();
    for (what, signed, provider, valid) in &cases {
        let id = send(&app, bin, signed).await;
        let message = next_message(&mut feed, Duration::from_secs(10)).await;
        assert_eq!(message["request"]["uuid"], id.to_string(), "{what}");
        let api = verdict(&app, bin, id).await;
        // The live feed carries the API's verdict, and its row the badge's.
        assert_eq!(message["request"]["signature"], api, "{what}");
        assert_eq!(message["row"]["signature"], api, "{what}");
        let reason = api["reason"].as_str().unwrap_or_default();
        if api["provider"] != *provider || api["valid"] != *valid || reason.is_empty() {
            wrong.push(format!("{what}: {api}"));
        }
        if what.ends_with("old") && !reason.contains("timestamp") {
            wrong.push(format!(
                "{what}: the reason should name the timestamp: {reason}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));

    // A request with no signature at all is invalid too: the bin expects one.
    let unsigned = send(
        &app,
        bin,
        &Signed {
            headers: vec![],
            body: b"{}".to_vec(),
        },
    )
    .await;
    let api = verdict(&app, bin, unsigned).await;
    assert_eq!(api["valid"], false, "{api}");

    let valid = cases.iter().filter(|c| c.3).count() as u64;
    let invalid = cases.len() as u64 + 1 - valid;
    assert_eq!(search_total(&app, bin, "signature:valid").await, valid);
    assert_eq!(search_total(&app, bin, "signature:invalid").await, invalid);
    assert_eq!(search_total(&app, bin, "signature:none").await, 0);
    assert_eq!(
        search_total(&app, bin, "signature:stripe").await,
        cases.iter().filter(|c| c.2 == "stripe").count() as u64
    );
    // The tampered GitHub ones, and the unsigned one if GitHub's missing
    // header is what its verdict tells.
    let unsigned_github = u64::from(api["provider"] == "github");
    assert_eq!(
        search_total(&app, bin, "signature:invalid AND signature:github").await,
        2 + unsigned_github
    );
    assert_eq!(
        search_total(&app, bin, "-signature:invalid payment").await,
        valid
    );
}

both_backends!(verify_again_gives_stored_requests_a_verdict);
async fn verify_again_gives_stored_requests_a_verdict(app: TestApp) {
    let bin = app.new_bin().await;
    let body = br#"{"action":"opened"}"#;
    let good = send(&app, bin, &github(body)).await;
    let bad = send(&app, bin, &one_byte_changed(github(body))).await;
    assert_eq!(verdict(&app, bin, good).await, Value::Null);
    assert_eq!(search_total(&app, bin, "signature:none").await, 2);

    let verify = |app: &TestApp| {
        app.client
            .post(app.url(&format!("/token/{bin}/verify")))
            .send()
    };
    let (status, _) = put_token(
        &app,
        bin,
        json!({"verifiers": [{"provider": "github", "secret": GITHUB_SECRET}]}),
    )
    .await;
    assert_eq!(status, 200);
    // Adding a verifier checks new captures only, until "verify again".
    assert_eq!(verdict(&app, bin, good).await, Value::Null);
    let answer = verify(&app).await.expect("verify");
    assert_eq!(answer.status(), 200);
    let counts: Value = answer.json().await.expect("json");
    assert_eq!(counts, json!({"checked": 2, "valid": 1, "invalid": 1}));
    let good_verdict = verdict(&app, bin, good).await;
    assert_eq!(
        (&good_verdict["provider"], &good_verdict["valid"]),
        (&json!("github"), &json!(true)),
        "{good_verdict}"
    );
    assert_eq!(verdict(&app, bin, bad).await["valid"], false);
    assert_eq!(search_total(&app, bin, "signature:invalid").await, 1);
    assert_eq!(search_total(&app, bin, "signature:valid").await, 1);

    // Without verifiers, verifying again takes the verdicts away.
    let (status, _) = put_token(&app, bin, json!({"verifiers": []})).await;
    assert_eq!(status, 200);
    let counts: Value = verify(&app)
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(counts, json!({"checked": 2, "valid": 0, "invalid": 0}));
    assert_eq!(verdict(&app, bin, bad).await, Value::Null);
    assert_eq!(search_total(&app, bin, "signature:none").await, 2);
}

both_backends!(verifiers_are_checked_and_kept_when_a_bin_is_sent_back);
async fn verifiers_are_checked_and_kept_when_a_bin_is_sent_back(app: TestApp) {
    let bin = checking_bin(&app).await;
    let shown = app.json(&format!("/token/{bin}")).await;
    let listed = shown["verifiers"].as_array().expect("verifiers").clone();
    assert_eq!(listed.len(), 3, "{shown}");
    assert_eq!(listed[0]["provider"], "github");
    assert!(
        listed[0]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:")),
        "{shown}"
    );
    assert!(listed.iter().all(|v| v.get("secret").is_none()), "{shown}");

    // What GET said, sent back as it is, keeps every verifier.
    let (status, again) = put_token(&app, bin, shown.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["verifiers"], shown["verifiers"]);
    // Leaving one out removes it.
    let (status, fewer) = put_token(&app, bin, json!({"verifiers": [listed[1].clone()]})).await;
    assert_eq!(status, 200, "{fewer}");
    assert_eq!(fewer["verifiers"], json!([listed[1].clone()]));

    // A verifier that cannot work is refused with the reason, and nothing
    // changes.
    for (body, reason) in [
        (
            json!({"verifiers": [{"provider": "github", "secret": ""}]}),
            "verifiers: github",
        ),
        (
            json!({"verifiers": [{"fingerprint": "sha256:000000000000"}]}),
            "no verifier of this bin has the fingerprint",
        ),
    ] {
        let (status, error) = put_token(&app, bin, body).await;
        assert_eq!(status, 400, "{error}");
        let message = error["message"].as_str().expect("message");
        assert!(message.contains(reason), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
    let unknown = put_token(
        &app,
        bin,
        json!({"verifiers": [{"provider": "gitlab", "secret": "x"}]}),
    )
    .await;
    assert_eq!(unknown.0, 422, "{}", unknown.1);
    assert_eq!(
        app.json(&format!("/token/{bin}")).await["verifiers"],
        fewer["verifiers"]
    );
}

/// Everything the tracing subscriber of this test binary writes, for the
/// "never logged" check. At debug level, as `RUST_LOG=debug` would show.
fn log_book() -> Arc<Mutex<Vec<u8>>> {
    static BOOK: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(BOOK.get_or_init(|| {
        let book = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&book);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || LogWriter(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        book
    }))
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log book").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

both_backends!(secrets_are_never_shown_back);
async fn secrets_are_never_shown_back(app: TestApp) {
    let book = log_book();
    tracing::debug!("the log book is open");
    let bin = checking_bin(&app).await;
    let id = send(&app, bin, &github(b"{\"a\":1}")).await;
    send(&app, bin, &stripe(b"{\"b\":2}", now_secs())).await;
    let answer = app
        .client
        .post(app.url(&format!("/token/{bin}/verify")))
        .send()
        .await
        .expect("verify");
    assert_eq!(answer.status(), 200);

    let mut seen = Vec::new();
    for path in [
        format!("/token/{bin}"),
        format!("/token/{bin}/requests"),
        format!("/token/{bin}/request/{id}"),
        format!("/token/{bin}/request/latest"),
        format!("/token/{bin}/requests.csv"),
        format!("/view/{bin}"),
        format!("/view/{bin}?r={id}"),
        format!("/view/{bin}/settings"),
        format!("/view/{bin}/export.json"),
        format!("/view/{bin}/export.har"),
        format!("/view/{bin}/export.csv"),
    ] {
        let answer = app.get(&path).await;
        assert_eq!(answer.status(), 200, "{path}");
        seen.push((path, answer.text().await.expect("text")));
    }
    let (_, put) = put_token(&app, bin, json!({"verifiers": verifiers()})).await;
    seen.push(("PUT /token".into(), put.to_string()));
    let mut feed = open_feed(&app, bin, "").await;
    send(&app, bin, &github(b"{\"c\":3}")).await;
    let message = next_message(&mut feed, Duration::from_secs(10)).await;
    seen.push(("live feed".into(), message.to_string()));
    // The fingerprint is shown, so a reader can tell which secret is set.
    assert!(seen[0].1.contains("sha256:"), "{}", seen[0].1);
    assert!(
        seen[7].1.contains("sha256:"),
        "settings page shows fingerprints"
    );

    let logs = String::from_utf8_lossy(&book.lock().expect("log book")).into_owned();
    assert!(
        logs.contains("the log book is open"),
        "the log book records"
    );
    seen.push(("logs".into(), logs));
    for secret in secrets() {
        for (place, text) in &seen {
            assert!(!text.contains(&secret), "{place} shows a secret");
        }
    }
}

both_backends!(the_settings_page_edits_verifiers_without_javascript);
async fn the_settings_page_edits_verifiers_without_javascript(app: TestApp) {
    let bin = app.new_bin().await;
    let body = br#"{"zen":"Design for failure."}"#;
    let stored = send(&app, bin, &github(body)).await;
    let form = |path: String, fields: Vec<(&'static str, &'static str)>| {
        app.client.post(app.url(&path)).form(&fields).send()
    };

    let added = form(
        format!("/view/{bin}/verifiers"),
        vec![("provider", "github"), ("secret", GITHUB_SECRET)],
    )
    .await
    .expect("add");
    assert_eq!(added.status(), 303);
    let page = app
        .html(&format!("/view/{bin}/settings?verifier=added"))
        .await;
    assert!(page.contains("Verifier added"), "{page}");
    assert!(page.contains("sha256:"), "the fingerprint is listed");
    assert!(!page.contains(GITHUB_SECRET), "never the secret");

    let again = form(format!("/view/{bin}/verify"), vec![])
        .await
        .expect("verify");
    assert_eq!(again.status(), 303);
    let location = again.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.contains("checked=1&valid=1&invalid=0"),
        "{location}"
    );
    let page = app.html(&location).await;
    assert!(page.contains("1 valid, 0 invalid"), "{page}");
    assert_eq!(verdict(&app, bin, stored).await["valid"], true);

    // A verifier that cannot work: 400 with the reason, on a page.
    let refused = form(
        format!("/view/{bin}/verifiers"),
        vec![("provider", "github"), ("secret", "")],
    )
    .await
    .expect("add");
    assert_eq!(refused.status(), 400);
    // Another site's form cannot change them.
    let cross = app
        .client
        .post(app.url(&format!("/view/{bin}/verifiers/1/remove")))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("remove");
    assert_eq!(cross.status(), 403);

    let removed = form(format!("/view/{bin}/verifiers/1/remove"), vec![])
        .await
        .expect("remove");
    assert_eq!(removed.status(), 303);
    assert_eq!(
        app.json(&format!("/token/{bin}")).await["verifiers"],
        json!([])
    );
    let missing = form(format!("/view/{bin}/verifiers/1/remove"), vec![])
        .await
        .expect("remove");
    assert_eq!(missing.status(), 400);

    // A generic HMAC, with its header, hash, encoding and prefix.
    let added = form(
        format!("/view/{bin}/verifiers"),
        vec![
            ("provider", "hmac"),
            ("secret", "hmac-secret"),
            ("header", "X-Signature"),
            ("algorithm", "sha256"),
            ("encoding", "hex"),
            ("prefix", "sha256="),
            ("tolerance_secs", ""),
        ],
    )
    .await
    .expect("add");
    assert_eq!(added.status(), 303);
    let signature = format!("sha256={}", hex(&hmac_sha256(b"hmac-secret", body)));
    let signed = Signed {
        headers: vec![("X-Signature", signature)],
        body: body.to_vec(),
    };
    let id = send(&app, bin, &signed).await;
    let api = verdict(&app, bin, id).await;
    assert_eq!(
        (&api["provider"], &api["valid"]),
        (&json!("hmac"), &json!(true)),
        "{api}"
    );
    let id = send(&app, bin, &one_byte_changed(signed)).await;
    assert_eq!(verdict(&app, bin, id).await["valid"], false);

    // Saving the other settings keeps the verifiers.
    let saved = form(
        format!("/view/{bin}/settings"),
        vec![
            ("default_status", "201"),
            ("default_content_type", "text/plain"),
            ("default_content", "ok"),
        ],
    )
    .await
    .expect("save");
    assert_eq!(saved.status(), 303);
    let shown = app.json(&format!("/token/{bin}")).await;
    assert_eq!(shown["default_status"], 201);
    assert_eq!(shown["verifiers"][0]["provider"], "hmac", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_each_verdict_live_and_after_a_reload() {
    let app = TestApp::spawn().await;
    let bin = checking_bin(&app).await;
    let browser = Browser::start().await;
    browser.goto(&app.url(&format!("/view/{bin}"))).await;
    browser.until_live().await;

    let body = br#"{"action":"closed"}"#;
    let good = send(&app, bin, &github(body)).await;
    let bad = send(&app, bin, &one_byte_changed(github(body))).await;
    let badge = |id: Uuid| {
        format!(
            "const b = document.querySelector(\"#requests li.req[data-id='{id}'] .badge.sig\");
             return b && [b.className, b.textContent, b.title];"
        )
    };
    let mut titles = Vec::new();
    for id in [good, bad] {
        let api = verdict(&app, bin, id).await;
        titles.push(format!(
            "github: {}",
            api["reason"].as_str().expect("reason")
        ));
    }
    for reload in [false, true] {
        if reload {
            browser.goto(&app.url(&format!("/view/{bin}"))).await;
        }
        let live = browser.until("the valid badge", &badge(good)).await;
        assert_eq!(
            live,
            json!(["badge sig sig-valid", "✔ valid", titles[0]]),
            "reloaded: {reload}"
        );
        let live = browser.until("the invalid badge", &badge(bad)).await;
        assert_eq!(
            live,
            json!(["badge sig sig-invalid", "✘ invalid", titles[1]]),
            "reloaded: {reload}"
        );
    }

    // The detail shows the whole reason.
    browser
        .goto(&app.url(&format!("/view/{bin}?r={bad}")))
        .await;
    let reason = browser
        .until(
            "the detail's signature",
            "const r = document.querySelector('#detail .signature .sig-reason');
             return r && r.textContent;",
        )
        .await;
    let api = verdict(&app, bin, bad).await;
    assert_eq!(reason, api["reason"]);
    let violations = serious_violations(&browser).await;
    assert!(violations.is_empty(), "{violations:#?}");

    // The settings page with verifiers listed reads as well.
    browser
        .goto(&app.url(&format!("/view/{bin}/settings")))
        .await;
    browser
        .wait_for("the verifier list", ".verifier-list")
        .await;
    let violations = serious_violations(&browser).await;
    assert!(violations.is_empty(), "{violations:#?}");
    browser.quit().await;
}

both_backends!(a_large_body_is_verified_over_every_byte);
async fn a_large_body_is_verified_over_every_byte(app: TestApp) {
    let bin = checking_bin(&app).await;
    // Past the size a capture checks inline (it goes to the blocking pool).
    let body = format!("{{\"blob\":\"{}\"}}", "x".repeat(300 * 1024));
    let good = send(&app, bin, &github(body.as_bytes())).await;
    let bad = send(&app, bin, &one_byte_changed(github(body.as_bytes()))).await;
    assert_eq!(verdict(&app, bin, good).await["valid"], true);
    assert_eq!(verdict(&app, bin, bad).await["valid"], false);
}

/// `hookscope wait --expect-signature` for the first request after
/// `after` in `bin`: its exit code, standard output and error.
async fn wait_expecting_signature(app: &TestApp, bin: Uuid, after: Uuid) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookscope"))
        .args(["wait", "--url", &app.url(&format!("/{bin}"))])
        .args(["--after", &after.to_string(), "--timeout", "10"])
        .arg("--expect-signature")
        .env_remove("HOOKSCOPE_API_KEY")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .expect("hookscope wait ends in time")
        .expect("its output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn hookscope_wait_passes_a_valid_signature_and_fails_an_invalid_one() {
    let app = TestApp::spawn().await;
    let bin = checking_bin(&app).await;
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = send(&app, bin, &github(body)).await;
    let bad = send(&app, bin, &one_byte_changed(github(body))).await;

    let (code, stderr) = wait_expecting_signature(&app, bin, Uuid::nil()).await;
    assert_eq!(code, Some(0), "the valid one comes first: {stderr}");
    let (code, stderr) = wait_expecting_signature(&app, bin, good).await;
    assert_eq!(code, Some(1), "{stderr}");
    let reason = verdict(&app, bin, bad).await["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(stderr.contains("the signature is not valid"), "{stderr}");
    assert!(
        stderr.contains(reason.get(..40).unwrap_or(&reason)),
        "{stderr}"
    );
}

both_backends!(exports_carry_each_requests_verdict);
async fn exports_carry_each_requests_verdict(app: TestApp) {
    let bin = checking_bin(&app).await;
    let valid = send(&app, bin, &github(b"{\"n\":1}")).await;
    let invalid = send(&app, bin, &one_byte_changed(github(b"{\"n\":2}"))).await;

    let csv_text = app
        .get(&format!("/token/{bin}/requests.csv"))
        .await
        .text()
        .await
        .expect("CSV");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().expect("header row").clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} column in {header:?}"))
    };
    let (uuid, check, reason) = (
        column("uuid"),
        column("signature"),
        column("signature_reason"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let row_of = |id: Uuid| {
        rows.iter()
            .find(|r| r[uuid] == id.to_string())
            .unwrap_or_else(|| panic!("no row for {id}"))
    };
    assert_eq!(&row_of(valid)[check], "valid");
    assert_eq!(&row_of(invalid)[check], "invalid");
    assert!(
        row_of(invalid)[reason].contains("computed `sha256="),
        "{}",
        &row_of(invalid)[reason]
    );

    let har = app.json(&format!("/view/{bin}/export.har")).await;
    let entries = har["log"]["entries"].as_array().expect("entries");
    let entry_of = |id: Uuid| {
        entries
            .iter()
            .find(|e| {
                e["request"]["comment"]
                    .as_str()
                    .is_some_and(|c| c.contains(&id.to_string()))
            })
            .unwrap_or_else(|| panic!("no HAR entry for {id}"))
    };
    assert_eq!(entry_of(valid)["_signature"]["valid"], true);
    assert_eq!(entry_of(valid)["_signature"]["provider"], "github");
    assert_eq!(entry_of(invalid)["_signature"]["valid"], false);
}
