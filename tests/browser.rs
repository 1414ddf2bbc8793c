//! The dashboard in a real browser (headless Chromium through ChromeDriver):
//! a visitor opens the site, gets a capture URL, and watches requests arrive
//! without reloading the page — also after the connection drops, and when
//! the page falls behind. With JavaScript off it still works by reloads.

mod support;

use fantoccini::Locator;
use serde_json::{json, Value};
use support::browser::{self, Browser};
use support::relay::Relay;
use support::TestApp;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_watches_requests_arrive_live_and_opens_one() {
    let app = TestApp::spawn().await;
    // The browser reaches the server through a relay the test can cut.
    let relay = Relay::start(app.addr).await;
    let site = format!("http://{}", relay.addr);
    let browser = Browser::start().await;

    // `/` hands out a bin and redirects to its dashboard.
    browser.goto(&format!("{site}/")).await;
    let bin = dashboard_bin(&browser).await;
    let redirects = browser
        .eval("return performance.getEntriesByType('navigation')[0].redirectCount;")
        .await;
    assert_eq!(redirects, json!(1), "`/` answers with a redirect");
    let capture_url = browser
        .eval("return document.getElementById('capture-url').value;")
        .await;
    assert_eq!(capture_url, json!(format!("{site}/{bin}")));
    browser.until_live().await;
    assert_eq!(text_of(&browser, "#request-count").await, "0");

    // The copy buttons put the capture URL and the curl line on the clipboard.
    browser.allow_clipboard().await;
    for (source, expected) in [
        ("capture-url", format!("{site}/{bin}")),
        ("curl-example", text_of(&browser, "#curl-example").await),
    ] {
        browser
            .client
            .find(Locator::Css(&format!("button[data-copy='{source}']")))
            .await
            .expect("copy button")
            .click()
            .await
            .expect("click copy");
        browser
            .until_with(
                "the clipboard to hold the copied text",
                "return navigator.clipboard.readText().then(t => t === arguments[0]);",
                vec![json!(expected)],
            )
            .await;
        assert!(expected.contains(&format!("{site}/{bin}")), "{expected}");
    }

    // A request sent from elsewhere shows up at the top, without a reload.
    browser.eval("window.__marker = 1; return true;").await;
    let first = app
        .client
        .post(app.url(&format!("/{bin}/orders/42?source=test&x=1")))
        .header("X-Custom-Header", "first one")
        .header("Content-Type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .expect("POST to the bin");
    assert_eq!(first.status(), 200);
    let first = TestApp::request_id(&first);
    let row = browser
        .wait_for("the first request in the list", &row_css(first))
        .await;
    let text = row.text().await.expect("row text");
    assert!(text.contains("POST"), "{text}");
    assert!(text.contains("/orders/42?source=test&x=1"), "{text}");
    assert_eq!(text_of(&browser, "#request-count").await, "1");
    let empty_note = browser
        .eval("return document.getElementById('empty') !== null;")
        .await;
    assert_eq!(
        empty_note,
        json!(false),
        "the 'no requests yet' note is gone"
    );

    let second = app
        .client
        .put(app.url(&format!("/{bin}")))
        .body("second")
        .send()
        .await
        .expect("PUT to the bin");
    let second = TestApp::request_id(&second);
    browser
        .wait_for("the second request in the list", &row_css(second))
        .await;
    assert_eq!(listed_ids(&browser).await, [second, first], "newest first");
    assert_eq!(text_of(&browser, "#request-count").await, "2");
    assert_eq!(
        browser.eval("return window.__marker;").await,
        json!(1),
        "the page was not reloaded"
    );

    // Clicking a row shows that request's headers, query and body.
    browser
        .client
        .find(Locator::Css(&format!("{} a", row_css(first))))
        .await
        .expect("the first request's row link")
        .click()
        .await
        .expect("click the row");
    browser
        .until_with(
            "the detail pane of the clicked request",
            "const d = document.querySelector('section.detail');
             return d !== null && d.textContent.includes(arguments[0]);",
            vec![json!(first)],
        )
        .await;
    let tables = browser
        .eval(
            "return [...document.querySelectorAll('section.detail table.kv')].map(t =>
               [...t.rows].map(r => [...r.cells].map(c => c.textContent)));",
        )
        .await;
    let headers = pairs(&tables[0]);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("x-custom-header") && v == "first one"),
        "{headers:?}"
    );
    let query = pairs(&tables[1]);
    assert_eq!(
        query,
        [("source".into(), "test".into()), ("x".into(), "1".into())]
    );
    assert_eq!(
        text_of(&browser, "section.detail pre.body.text").await,
        r#"{"hello":"world"}"#
    );
    let json_view = text_of(&browser, "section.detail pre.body.json").await;
    assert!(json_view.contains(r#""hello": "world""#), "{json_view}");
    let selected = browser
        .eval("return document.querySelector('#requests li.selected')?.dataset.id;")
        .await;
    assert_eq!(selected, json!(first));

    // The connection drops; what arrives meanwhile is filled in when the
    // page reconnects by itself, still without a reload.
    let missed =
        send_while_disconnected(&app, &browser, &relay, 2, bin, "/while-away", "missed me?").await;
    browser.until_live().await;
    assert_eq!(listed_ids(&browser).await, [missed, second, first]);
    assert_eq!(text_of(&browser, "#request-count").await, "3");
    assert_eq!(
        browser.eval("return window.__marker;").await,
        json!(2),
        "the page was not reloaded"
    );

    // "New URL" (a plain form post) makes another bin; coming back to `/`
    // lands on the newest one, remembered by the cookie.
    browser
        .client
        .find(Locator::Css("form[action='/new'] button"))
        .await
        .expect("the New URL button")
        .click()
        .await
        .expect("click New URL");
    let other = browser
        .until_with(
            "the new bin's dashboard",
            "const m = location.pathname.match(/^\\/view\\/([0-9a-f-]{36})$/);
             return m && m[1] !== arguments[0] && document.readyState === 'complete' ? m[1] : null;",
            vec![json!(bin)],
        )
        .await;
    let other: Uuid = serde_json::from_value(other).expect("bin id");
    assert_eq!(text_of(&browser, "#request-count").await, "0");
    browser.goto(&format!("{site}/")).await;
    let url = browser.client.current_url().await.expect("current url");
    assert_eq!(
        url.path(),
        format!("/view/{other}"),
        "back on the newest bin"
    );

    // A drop while the list is still empty: the first request, sent while
    // disconnected, is filled in too.
    send_while_disconnected(&app, &browser, &relay, 3, other, "", "first, while away").await;
    assert_eq!(text_of(&browser, "#request-count").await, "1");
    assert_eq!(browser.eval("return window.__marker;").await, json!(3));

    browser.quit().await;
    app.stop().await;
}

/// A viewer whose connection cannot keep up is told it fell behind; the
/// page reloads and then shows every request: nothing is silently lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_falls_behind_reloads_and_misses_nothing() {
    let app = TestApp::spawn().await;
    let relay = Relay::start(app.addr).await;
    let browser = Browser::start().await;
    let bin = app.new_bin().await;
    browser
        .goto(&format!("http://{}/view/{bin}", relay.addr))
        .await;
    browser.until_live().await;
    browser.eval("window.__marker = 1; return true;").await;

    // The network stalls. Big requests fill the socket buffers between
    // server and page, then more arrive than the hub keeps for a viewer.
    relay.stall();
    let big = "a".repeat(8 * 1024 * 1024);
    for _ in 0..3 {
        let answer = app.post_to_bin(bin, "/big", big.clone()).await;
        assert_eq!(answer.status(), 200);
    }
    let mut newest = None;
    for i in 0..300 {
        let answer = app.post_to_bin(bin, &format!("/small/{i}"), "x").await;
        newest = Some(TestApp::request_id(&answer));
    }
    relay.restore();

    browser
        .until(
            "the page to reload after falling behind",
            "return window.__marker === undefined && document.readyState === 'complete';",
        )
        .await;
    browser.until_live().await;
    assert_eq!(text_of(&browser, "#request-count").await, "303");
    let top = listed_ids(&browser).await.first().copied();
    assert_eq!(top, newest, "the newest request is at the top");

    browser.quit().await;
    app.stop().await;
}

/// With JavaScript off the dashboard still works, through links, forms and
/// reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_with_javascript_off() {
    let app = TestApp::spawn().await;
    let browser = Browser::start_without_javascript().await;
    let element_text = |css: &'static str| {
        let client = browser.client.clone();
        async move {
            client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"))
                .text()
                .await
                .expect("element text")
        }
    };

    browser.goto(&app.url("/")).await;
    let bin = dashboard_bin(&browser).await;
    // The page's script never ran: the feed indicator was never touched.
    assert_eq!(element_text("#live-status").await, "offline");

    let sent = app.post_to_bin(bin, "/no-js", "sent while JS is off").await;
    let sent = TestApp::request_id(&sent);
    browser.client.refresh().await.expect("reload");
    browser
        .client
        .find(Locator::Css(&format!("{} a", row_css(sent))))
        .await
        .expect("the request after a reload")
        .click()
        .await
        .expect("click the row");
    browser
        .client
        .wait()
        .at_most(browser::PAGE_DEADLINE)
        .for_url(
            &reqwest::Url::parse(&app.url(&format!("/view/{bin}?page=1&r={sent}"))).expect("url"),
        )
        .await
        .expect("the detail page");
    assert_eq!(
        element_text("section.detail pre.body.text").await,
        "sent while JS is off"
    );

    browser
        .client
        .find(Locator::Css("form[action='/new'] button"))
        .await
        .expect("the New URL button")
        .click()
        .await
        .expect("click New URL");
    let deadline = std::time::Instant::now() + browser::PAGE_DEADLINE;
    loop {
        let url = browser.client.current_url().await.expect("current url");
        if bin_in(&url).is_some_and(|other| other != bin) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "New URL leads to another bin's dashboard, not {url}"
        );
        tokio::time::sleep(browser::POLL).await;
    }

    browser.quit().await;
    app.stop().await;
}

/// The bin whose dashboard the browser shows.
async fn dashboard_bin(browser: &Browser) -> Uuid {
    let url = browser.client.current_url().await.expect("current url");
    bin_in(&url).unwrap_or_else(|| panic!("not a dashboard: {url}"))
}

/// The bin of a dashboard URL.
fn bin_in(url: &reqwest::Url) -> Option<Uuid> {
    let id = url.path().strip_prefix("/view/")?;
    Uuid::try_parse(id).ok()
}

/// Once the page is live, marks it with `marker` (a reload would lose it),
/// cuts its connection, sends a request to `bin` while it is down, restores
/// the connection, and waits until the page lists the request without a
/// reload; returns the request's id.
async fn send_while_disconnected(
    app: &TestApp,
    browser: &Browser,
    relay: &Relay,
    marker: u32,
    bin: Uuid,
    sub_path: &str,
    body: &'static str,
) -> Uuid {
    browser.until_live().await;
    browser
        .eval(&format!("window.__marker = {marker}; return true;"))
        .await;
    relay.cut();
    browser
        .until(
            "the indicator to leave 'live'",
            "return document.getElementById('live-status').textContent !== 'live';",
        )
        .await;
    let missed = app.post_to_bin(bin, sub_path, body).await;
    let missed = TestApp::request_id(&missed);
    relay.restore();
    browser
        .wait_for("the request sent while disconnected", &row_css(missed))
        .await;
    missed
}

fn row_css(id: Uuid) -> String {
    format!("#requests li.req[data-id='{id}']")
}

async fn text_of(browser: &Browser, css: &str) -> String {
    let value = browser
        .eval_with(
            "return document.querySelector(arguments[0])?.textContent ?? null;",
            vec![json!(css)],
        )
        .await;
    match value {
        Value::String(text) => text,
        other => panic!("no element {css} (got {other})"),
    }
}

async fn listed_ids(browser: &Browser) -> Vec<Uuid> {
    let ids = browser
        .eval("return [...document.querySelectorAll('#requests li.req')].map(li => li.dataset.id);")
        .await;
    serde_json::from_value(ids).expect("request ids")
}

/// Two-column table rows as (name, value) pairs.
fn pairs(rows: &Value) -> Vec<(String, String)> {
    let rows: Vec<Vec<String>> = serde_json::from_value(rows.clone()).expect("table rows");
    rows.into_iter()
        .map(|cells| match <[String; 2]>::try_from(cells) {
            Ok([name, value]) => (name, value),
            Err(cells) => panic!("not a name/value row: {cells:?}"),
        })
        .collect()
}
