//! A developer's story in the browser, without a browser: the dashboard
//! lists what was captured and never lets a payload become markup.

mod support;

use support::{Backend, TestApp};

/// `text` as askama escapes it in HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

async fn page(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, String) {
    let response = app.client.get(app.url(path)).send().await.expect("page");
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.text().await.expect("html"))
}

both_backends!(a_visitor_gets_a_bin_and_comes_back_to_it);
async fn a_visitor_gets_a_bin_and_comes_back_to_it(app: TestApp) {
    let response = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().expect("pair").to_owned();

    // Coming back with the cookie lands on the same bin.
    let again = app
        .client
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET / again");
    assert_eq!(
        again.headers()["location"].to_str().expect("ascii"),
        location
    );

    // "New URL" makes another and remembers both.
    let new = app
        .client
        .post(app.url("/new"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("POST /new");
    assert_eq!(new.status(), 303);
    let second = new.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(second, location);
    let remembered = new.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let bin_of = |location: &str| location.trim_start_matches("/view/").to_owned();
    assert!(remembered.contains(&bin_of(&location)) && remembered.contains(&bin_of(&second)));

    // A cookie naming bins that do not exist gives a fresh one.
    let stale = app
        .client
        .get(app.url("/"))
        .header("cookie", format!("hookscope_bins={}", uuid::Uuid::new_v4()))
        .send()
        .await
        .expect("GET / stale");
    let fresh = stale.headers()["location"].to_str().expect("ascii");
    assert!(fresh != location && fresh != second);
    assert_eq!(app.state.store.count_bins().await.expect("count"), 3);
}

both_backends!(new_url_refuses_cross_site_form_posts);
async fn new_url_refuses_cross_site_form_posts(app: TestApp) {
    let response = app
        .client
        .post(app.url("/new"))
        .header("sec-fetch-site", "cross-site")
        .header("accept", "text/html")
        .send()
        .await
        .expect("POST /new");
    assert_eq!(response.status(), 403);
    assert!(response.text().await.expect("html").contains("cross-site"));
    let response = app
        .client
        .post(app.url("/new"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("POST /new");
    assert_eq!(response.status(), 403);
}

both_backends!(the_dashboard_lists_requests_newest_first_with_details_of_the_selected_one);
async fn the_dashboard_lists_requests_newest_first_with_details_of_the_selected_one(app: TestApp) {
    let bin = app.new_bin().await;
    let first = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/first?a=1")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=Ada+Lovelace&lang=en")
            .send()
            .await
            .expect("capture"),
    );
    let second = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/second")))
            .header("content-type", "application/json")
            .body(r#"{"event":"paid","amount":42}"#)
            .send()
            .await
            .expect("capture"),
    );
    let (headers, html) = page(&app, &format!("/view/{bin}")).await;
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        html.contains(&format!("http://{}/{bin}", app.addr)),
        "capture URL shown"
    );
    assert!(html.contains("curl -X POST"), "curl example shown");
    let (at_first, at_second) = (
        html.find(&first.to_string()).expect("first listed"),
        html.find(&second.to_string()).expect("second listed"),
    );
    assert!(at_second < at_first, "newest first");
    // The newest is selected: pretty-printed JSON.
    assert!(html.contains(&escaped(r#""event": "paid""#)), "pretty JSON");

    let (_, html) = page(&app, &format!("/view/{bin}?r={first}")).await;
    assert!(html.contains("Form fields"));
    assert!(html.contains("Ada Lovelace"));
    assert!(html.contains("Query parameters"));

    let binary = TestApp::request_id(&app.post_to_bin(bin, "", vec![0u8, 0x9f, 0x41]).await);
    let (_, html) = page(&app, &format!("/view/{bin}?r={binary}")).await;
    assert!(
        html.contains("00000000  00 9f 41"),
        "hex dump of a non-UTF-8 body"
    );
}

both_backends!(the_list_is_paginated);
async fn the_list_is_paginated(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |c| c.page_size = 2).await;
    let bin = app.new_bin().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(TestApp::request_id(
            &app.post_to_bin(bin, &format!("/{i}"), "").await,
        ));
    }
    let (_, html) = page(&app, &format!("/view/{bin}?page=3")).await;
    assert!(html.contains("page 3 of 3"));
    assert!(html.contains(&format!("data-id=\"{}\"", ids[0])));
    assert!(!html.contains(&format!("data-id=\"{}\"", ids[4])));
    // Out-of-range pages clamp instead of failing.
    let (_, html) = page(&app, &format!("/view/{bin}?page=99")).await;
    assert!(html.contains("page 3 of 3"));
}

both_backends!(captured_markup_is_only_ever_shown_escaped);
async fn captured_markup_is_only_ever_shown_escaped(app: TestApp) {
    let bin = app.new_bin().await;
    let payload = r#"<script>window.__pwned=1</script>"><img src=x onerror=alert(1)>"#;
    let id = TestApp::request_id(
        &app.client
            .post(app.url(&format!(
                "/{bin}/%3Cscript%3E?q=%3Cscript%3Ealert(1)%3C/script%3E"
            )))
            .header("X-Evil", payload)
            .header("Content-Type", "text/html")
            .body(payload)
            .send()
            .await
            .expect("capture"),
    );
    let (headers, html) = page(&app, &format!("/view/{bin}?r={id}")).await;
    assert!(
        !html.contains("<script>window.__pwned"),
        "raw script tag in page"
    );
    assert!(!html.contains("<img src=x"), "raw img tag in page");
    assert!(html.contains(&escaped(payload)), "payload shown escaped");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    // The only scripts are our own file.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(r#"<script src="/static/app.js?v="#));
}

both_backends!(static_files_are_served_from_the_binary_with_long_caching);
async fn static_files_are_served_from_the_binary_with_long_caching(app: TestApp) {
    for (file, kind) in [("app.js", "javascript"), ("style.css", "text/css")] {
        let response = app.get(&format!("/static/{file}")).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .contains(kind));
        assert!(response.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("immutable"));
    }
    let missing = app
        .client
        .get(app.url("/static/nope.js"))
        .send()
        .await
        .expect("static");
    assert_eq!(missing.status(), 404);
}

both_backends!(unknown_bins_and_requests_get_a_404_page);
async fn unknown_bins_and_requests_get_a_404_page(app: TestApp) {
    let bin = app.new_bin().await;
    for path in [
        format!("/view/{}", uuid::Uuid::new_v4()),
        "/view/not-a-bin".to_owned(),
        format!("/view/{bin}?r={}", uuid::Uuid::new_v4()),
        format!("/view/{bin}?r=garbage"),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 404, "{path}");
        assert!(response
            .text()
            .await
            .expect("html")
            .contains("404 Not Found"));
    }
}

both_backends!(health_and_metrics_answer);
async fn health_and_metrics_answer(app: TestApp) {
    let bin = app.new_bin().await;
    app.post_to_bin(bin, "", "x").await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("hookscope_bins 1"), "{text}");
    assert!(text.contains("hookscope_writer_batch_size_count"), "{text}");
}

both_backends!(show_all_and_curl_text_are_plain_text_that_never_runs);
async fn show_all_and_curl_text_are_plain_text_that_never_runs(app: TestApp) {
    let bin = app.new_bin().await;
    let payload = "<script>alert(1)</script>".repeat(4000);
    let id = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/page")))
            .header("Content-Type", "text/html")
            .body(payload.clone())
            .send()
            .await
            .expect("capture"),
    );
    let (_, html) = page(&app, &format!("/view/{bin}?r={id}")).await;
    assert!(
        html.contains(&format!("/view/{bin}/{id}/text")),
        "a capped preview links to all of it"
    );
    for (path, expected) in [
        (format!("/view/{bin}/{id}/text"), payload.clone()),
        (
            format!("/view/{bin}/{id}/curl"),
            format!("--data-raw '{payload}'"),
        ),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .starts_with("sandbox"));
        let text = response.text().await.expect("text");
        assert!(text.ends_with(&expected), "{path}");
    }
    let unknown = app
        .get(&format!("/view/{bin}/{}/text", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status(), 404);

    // Opening a bin's dashboard remembers it for `/`.
    let response = app.get(&format!("/view/{bin}")).await;
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    assert!(
        cookie.starts_with(&format!("hookscope_bins={bin}")),
        "{cookie}"
    );
}
