//! A developer's story: a captured request is sent again, exact bytes, to
//! another URL (the API, the dashboard, `hookscope forward --replay`), and
//! what came back is kept in the request's resends. The server is never an
//! open proxy: each refusal below is its own assertion with its reason.

mod support;

use std::time::Duration;

use fantoccini::Locator;
use hookscope::config::ResendAllow;
use hookscope::forward::{self, ForwardArgs};
use hookscope::Config;
use serde_json::{json, Value};
use support::browser::{self, Browser};
use support::recorder::Recorder;
use support::{header_of, Backend, TestApp};
use uuid::Uuid;

const KEY: &str = "resend-test-key";
const WAIT: Duration = Duration::from_secs(15);

fn allow(entries: &[&str]) -> Vec<ResendAllow> {
    entries
        .iter()
        .map(|e| e.parse().expect("an allow-list entry"))
        .collect()
}

/// A capture with headers in a chosen order, case and duplicates, and a
/// body that is not UTF-8: its id.
async fn capture_exact(app: &TestApp, bin: Uuid) -> Uuid {
    let mut wire = format!(
        "POST /{bin}/sub/path?q=1 HTTP/1.1\r\nHost: sender.example\r\nX-First: 1\r\n\
         x-dup: a\r\nX-Dup: b\r\nContent-Type: application/octet-stream\r\n\
         X-Drop: gone\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    wire.extend_from_slice(b"\x00\xffhi");
    let answer = app.raw(&wire).await;
    let id = header_of(&answer, "x-request-id").expect("a request id");
    Uuid::parse_str(&id).expect("a uuid")
}

/// A server set up by `adjust`, with a bin and one captured request.
async fn app_with_request(adjust: impl FnOnce(&mut Config)) -> (TestApp, Uuid, Uuid) {
    let app = TestApp::spawn_with(adjust).await;
    let bin = app.new_bin().await;
    let rid = TestApp::request_id(&app.post_to_bin(bin, "", "x").await);
    (app, bin, rid)
}

/// A local target that answers every request with the raw `answer`.
async fn target_answering(answer: &'static [u8]) -> Recorder {
    let anywhere = "127.0.0.1:0".parse().expect("addr");
    Recorder::start_answering(anywhere, Duration::ZERO, answer).await
}

async fn post_resend(
    app: &TestApp,
    key: Option<&str>,
    bin: Uuid,
    rid: Uuid,
    body: Value,
) -> (u16, Value) {
    let mut post = app
        .client
        .post(app.url(&format!("/token/{bin}/request/{rid}/resend")))
        .json(&body);
    if let Some(key) = key {
        post = post.header("Api-Key", key);
    }
    let answer = post.send().await.expect("POST resend");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("a JSON answer"))
}

async fn list_resends(app: &TestApp, key: Option<&str>, bin: Uuid, rid: Uuid) -> Vec<Value> {
    let mut get = app
        .client
        .get(app.url(&format!("/token/{bin}/request/{rid}/resends")));
    if let Some(key) = key {
        get = get.header("Api-Key", key);
    }
    let answer = get.send().await.expect("GET resends");
    assert_eq!(answer.status(), 200);
    let list: Value = answer.json().await.expect("JSON");
    list["data"].as_array().expect("data").clone()
}

both_backends!(a_resend_arrives_byte_exact_with_overrides_and_is_listed);
async fn a_resend_arrives_byte_exact_with_overrides_and_is_listed(backend: Backend) {
    let app =
        TestApp::spawn_with_backend(backend, |c| c.resend_allow = allow(&["127.0.0.1"])).await;
    let bin = app.new_bin().await;
    let rid = capture_exact(&app, bin).await;
    let mut target = Recorder::start().await;
    let authority = target.addr.to_string();

    // As stored: method, order, case, duplicates, body; Host is the
    // target's, the hop-by-hop Connection is not sent; the URL as given.
    let (status, sent) = post_resend(
        &app,
        None,
        bin,
        rid,
        json!({"url": target.target("/in?x=1")}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let mut expected = format!(
        "POST /in?x=1 HTTP/1.1\r\nHost: {authority}\r\nX-First: 1\r\nx-dup: a\r\nX-Dup: b\r\n\
         Content-Type: application/octet-stream\r\nX-Drop: gone\r\nContent-Length: 4\r\n\r\n"
    )
    .into_bytes();
    expected.extend_from_slice(b"\x00\xffhi");
    assert_eq!(
        String::from_utf8_lossy(&target.next().await),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(sent["status"], 200);
    assert_eq!(sent["content"], "ok");
    assert_eq!(sent["origin"], "api");
    assert_eq!(sent["error"], Value::Null);
    assert_eq!(sent["truncated"], false);
    assert_eq!(sent["target"], target.target("/in?x=1"));
    assert!(sent["headers"]
        .as_array()
        .expect("headers")
        .contains(&json!(["Content-Length", "2"])));

    // Overrides: set in place (every field of that name), drop, add.
    let (status, _) = post_resend(
        &app,
        None,
        bin,
        rid,
        json!({"url": target.target("/"), "headers": {"X-Dup": "c", "X-Drop": null, "X-New": "n"}}),
    )
    .await;
    assert_eq!(status, 200);
    let mut expected = format!(
        "POST / HTTP/1.1\r\nHost: {authority}\r\nX-First: 1\r\nX-Dup: c\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 4\r\nX-New: n\r\n\r\n"
    )
    .into_bytes();
    expected.extend_from_slice(b"\x00\xffhi");
    assert_eq!(
        String::from_utf8_lossy(&target.next().await),
        String::from_utf8_lossy(&expected)
    );

    // Host and Content-Length follow the target and the body.
    let (status, refused) = post_resend(
        &app,
        None,
        bin,
        rid,
        json!({"url": target.target("/"), "headers": {"Host": "evil.example"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["message"],
        "Host follows the target URL and the body: it cannot be overridden"
    );

    // Listed newest first; deleting the request deletes its resends.
    let listed = list_resends(&app, None, bin, rid).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["target"], target.target("/"));
    assert_eq!(listed[1]["target"], target.target("/in?x=1"));
    let deleted = app
        .client
        .delete(app.url(&format!("/token/{bin}/request/{rid}")))
        .send()
        .await
        .expect("DELETE");
    assert!(deleted.status().is_success());
    let left = app.state.store.resends(bin, rid, 10).await.expect("read");
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
}

both_backends!(forward_replay_outcomes_are_recorded_as_resends);
async fn forward_replay_outcomes_are_recorded_as_resends(app: TestApp) {
    let bin = app.new_bin().await;
    let rid = TestApp::request_id(&app.post_to_bin(bin, "/a", "replayed").await);
    let mut target = Recorder::start().await;
    let args = ForwardArgs {
        url: app.url(&format!("/{bin}")),
        target: target.target("/hooks"),
        quiet: true,
        json: false,
        retries: 0,
        replay: vec![rid],
        since: None,
        api_key: None,
        bin_password: None,
        timeout: 10,
        relay_answers: false,
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let replay = tokio::time::timeout(WAIT, forward::forward(args, shutdown, |_| {}))
        .await
        .expect("the replay ends");
    replay.expect("the replay succeeds");
    assert_eq!(
        support::recorder::body_of(&target.next().await),
        b"replayed"
    );
    let listed = list_resends(&app, None, bin, rid).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["origin"], "forward");
    assert_eq!(listed[0]["status"], 200);
    assert_eq!(listed[0]["content"], "ok");
    assert_eq!(listed[0]["target"], target.target("/hooks/a"));
    assert_eq!(listed[0]["error"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn resending_is_off_without_an_api_key_or_an_allow_list() {
    let (app, bin, rid) = app_with_request(|_| {}).await;
    let target = Recorder::start().await;
    let (status, refused) =
        post_resend(&app, None, bin, rid, json!({"url": target.target("/")})).await;
    assert_eq!(status, 403);
    assert_eq!(
        refused["message"],
        "resending is off on this server: start it with --api-key or --resend-allow"
    );
    // The dashboard says so instead of offering a form that fails.
    let page = app.html(&format!("/view/{bin}?r={rid}")).await;
    assert!(
        page.contains("Resending is not available: resending is off on this server"),
        "{page}"
    );
    assert!(!page.contains(&format!("action=\"/view/{bin}/{rid}/resend\"")));
    assert!(list_resends(&app, None, bin, rid).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn targets_outside_the_allow_list_are_refused_after_resolution() {
    let (app, bin, rid) = app_with_request(|c| c.resend_allow = allow(&["10.0.0.0/8"])).await;
    let target = Recorder::start().await;

    let (status, refused) =
        post_resend(&app, None, bin, rid, json!({"url": target.target("/")})).await;
    assert_eq!(status, 403);
    assert_eq!(
        refused["message"],
        "127.0.0.1 is not in this server's --resend-allow list"
    );

    let url = format!("http://localhost:{}/", target.addr.port());
    let (status, refused) = post_resend(&app, None, bin, rid, json!({ "url": url })).await;
    assert_eq!(status, 403);
    let message = refused["message"].as_str().expect("a message");
    assert!(
        message.starts_with("localhost resolves to ")
            && message.ends_with(", which is not in this server's --resend-allow list"),
        "{message}"
    );

    // Refused targets are kept in the list, with their reason.
    let listed = list_resends(&app, None, bin, rid).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["error"], message);
    assert_eq!(listed[0]["status"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn metadata_addresses_are_refused_whatever_the_server_allows() {
    let app = TestApp::spawn_with(|c| {
        c.api_key = Some(KEY.into());
        c.resend_allow = allow(&["0.0.0.0/0", "::/0"]);
    })
    .await;
    let bin: Uuid = {
        let created = app
            .client
            .post(app.url("/token"))
            .header("Api-Key", KEY)
            .send()
            .await
            .expect("POST /token");
        let created: Value = created.json().await.expect("JSON");
        created["uuid"]
            .as_str()
            .expect("uuid")
            .parse()
            .expect("a uuid")
    };
    let rid = TestApp::request_id(&app.post_to_bin(bin, "", "x").await);

    // Each refused on its own, with its reason.
    for (url, reason) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a cloud metadata address: never a resend target",
        ),
        (
            "http://[fd00:ec2::254]/latest/",
            "fd00:ec2::254 is a cloud metadata address: never a resend target",
        ),
        (
            "http://169.254.10.1:8080/",
            "169.254.10.1 is a link-local address: never a resend target",
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata.google.internal is a cloud metadata service: never a resend target",
        ),
    ] {
        let (status, refused) = post_resend(&app, Some(KEY), bin, rid, json!({ "url": url })).await;
        assert_eq!(status, 403, "{url}");
        assert_eq!(refused["message"], reason, "{url}");
    }

    // The dashboard is open to anyone with the bin; resending from it
    // needs the API key too.
    let form = app
        .client
        .post(app.url(&format!("/view/{bin}/{rid}/resend")))
        .form(&[("url", "http://127.0.0.1:9/")])
        .send()
        .await
        .expect("POST the form");
    assert_eq!(form.status(), 403);
    assert_eq!(
        form.text().await.expect("text").trim(),
        "resending needs this server's API key: log in at /login first"
    );
    // With it (a login, or the header), the form sends and goes back to
    // the detail.
    let mut target = Recorder::start().await;
    let form = app
        .client
        .post(app.url(&format!("/view/{bin}/{rid}/resend")))
        .header("Api-Key", KEY)
        .form(&[("url", target.target("/proven").as_str())])
        .send()
        .await
        .expect("POST the form");
    assert_eq!(form.status(), 303);
    assert_eq!(
        form.headers()["location"],
        format!("/view/{bin}?r={rid}#resends").as_str()
    );
    assert!(String::from_utf8_lossy(&target.next().await).starts_with("POST /proven "));
    app.stop().await;
}

#[tokio::test]
async fn redirects_are_stored_not_followed_and_every_followed_hop_is_checked() {
    let (app, bin, rid) = app_with_request(|c| c.resend_allow = allow(&["127.0.0.1"])).await;
    let mut target = target_answering(
        b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n\
          Content-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;

    // Not followed: the 302 is the result.
    let (status, sent) =
        post_resend(&app, None, bin, rid, json!({"url": target.target("/r")})).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["status"], 302);
    assert_eq!(sent["error"], Value::Null);
    assert!(sent["headers"]
        .as_array()
        .expect("headers")
        .contains(&json!([
            "Location",
            "http://169.254.169.254/latest/meta-data/"
        ])));
    target.next().await;

    // Followed: refused at the hop, after the allowed target answered.
    let (status, refused) = post_resend(
        &app,
        None,
        bin,
        rid,
        json!({"url": target.target("/r"), "follow_redirects": true}),
    )
    .await;
    assert_eq!(status, 403);
    let reason = "redirect to http://169.254.169.254/latest/meta-data/ refused: \
                  169.254.169.254 is a cloud metadata address: never a resend target";
    assert_eq!(refused["message"], reason);
    target.next().await;
    let listed = list_resends(&app, None, bin, rid).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["status"], 302);
    assert_eq!(listed[0]["error"], reason);

    // A permitted hop is followed: a 307 keeps the method and the body.
    let mut last = Recorder::start().await;
    let moved: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            last.target("/next?n=1")
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let mut first = target_answering(moved).await;
    let (status, sent) = post_resend(
        &app,
        None,
        bin,
        rid,
        json!({"url": first.target("/start"), "follow_redirects": true}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["status"], 200);
    assert_eq!(sent["content"], "ok");
    assert!(String::from_utf8_lossy(&first.next().await).starts_with("POST /start "));
    let hop = last.next().await;
    let hop = String::from_utf8_lossy(&hop);
    assert!(hop.starts_with("POST /next?n=1 HTTP/1.1\r\n"), "{hop}");
    assert!(hop.ends_with("\r\n\r\nx"), "{hop}");
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_resends_and_lists_without_javascript_and_with_it() {
    let app = TestApp::spawn_with(|c| c.resend_allow = allow(&["127.0.0.1"])).await;
    let bin = app.new_bin().await;
    let rid = TestApp::request_id(&app.post_to_bin(bin, "/from-page", "<b>body</b>").await);
    let mut target = target_answering(
        b"HTTP/1.1 201 Created\r\nX-Answer: <script>alert(1)</script>\r\n\
          Content-Length: 7\r\nConnection: close\r\n\r\n<i>x</i",
    )
    .await;

    for scripts in [false, true] {
        let browser = if scripts {
            Browser::start().await
        } else {
            Browser::start_without_javascript().await
        };
        browser
            .goto(&app.url(&format!("/view/{bin}?r={rid}")))
            .await;
        let url = browser
            .wait_for("the resend form", "form.resend-form input[name=url]")
            .await;
        url.send_keys(&target.target("/page"))
            .await
            .expect("type the URL");
        browser
            .client
            .find(Locator::Css("form.resend-form textarea[name=headers]"))
            .await
            .expect("the overrides")
            .send_keys("X-From-Page: yes")
            .await
            .expect("type an override");
        browser
            .client
            .find(Locator::Css("form.resend-form button[type=submit]"))
            .await
            .expect("the Resend button")
            .click()
            .await
            .expect("click Resend");
        let sent = target.next().await;
        let sent = String::from_utf8_lossy(&sent);
        assert!(sent.starts_with("POST /page HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("\r\nX-From-Page: yes\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\n<b>body</b>"), "{sent}");
        // Back on the detail, the list shows it; captured and answered
        // text only as text.
        let shown = browser
            .until(
                "the resend in the list",
                "const item = document.querySelector('.resend-item');\
                 return item && location.pathname.startsWith('/view/') ? item.textContent : null;",
            )
            .await;
        let shown = shown.as_str().expect("text");
        assert!(shown.contains(&target.target("/page")), "{shown}");
        assert!(shown.contains("201"), "{shown}");
        let injected = browser
            .eval("return document.querySelectorAll('.resend-item script, .resend-item i').length;")
            .await;
        assert_eq!(injected, json!(0));
        let opened = browser
            .eval(
                "const d = document.querySelector('.resend-item details'); d.open = true;\
                 return d.querySelector('pre').textContent;",
            )
            .await;
        assert_eq!(opened, json!("<i>x</i"));
        if scripts {
            // The form and the list pass axe-core (labels, contrast).
            let violations = browser::serious_violations(&browser).await;
            assert_eq!(
                violations,
                Vec::<String>::new(),
                "axe-core on the resend panel"
            );
        }
        browser.quit().await;
    }
    assert_eq!(list_resends(&app, None, bin, rid).await.len(), 2);
    app.stop().await;
}
