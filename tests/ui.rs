//! The dashboard as people use it next to webhook.site, in a real Chromium:
//! it fits every screen, reads at a glance, follows the system's dark mode,
//! answers the keyboard, follows new requests, shows bodies in their own
//! views, stays small with big bodies, asks before deleting everything,
//! remembers the visitor's bins, and passes axe-core.

mod support;

use fantoccini::Locator;
use serde_json::{json, Value};
use support::browser::{self, Browser};
use support::TestApp;
use uuid::Uuid;

const ARROW_DOWN: &str = "\u{E015}";
const ARROW_UP: &str = "\u{E013}";
const ESCAPE: &str = "\u{E00C}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_phone_tablet_and_desktop_widths() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let body = json!({"long": "w".repeat(3000), "nested": {"deep": ["a".repeat(500)]}});
    let long = TestApp::request_id(
        &app.client
            .post(app.url(&format!(
                "/{bin}/{}?token={}",
                "segment-".repeat(60),
                "x".repeat(400)
            )))
            .header("X-Long-Header", "v".repeat(600))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("capture"),
    );
    let binary: Vec<u8> = (0..=255).collect();
    let binary = TestApp::request_id(&app.post_to_bin(bin, "/binary", binary).await);
    let text = TestApp::request_id(&app.post_to_bin(bin, "/text", "t".repeat(5000)).await);
    let browser = Browser::start().await;
    for width in [400, 768, 1280] {
        browser.set_viewport_width(Some(width)).await;
        for (what, path) in [
            ("the dashboard", format!("/view/{bin}")),
            ("a long request", format!("/view/{bin}?r={long}")),
            ("a binary request", format!("/view/{bin}?r={binary}")),
            ("a long text body", format!("/view/{bin}?r={text}")),
            ("the settings", format!("/view/{bin}/settings")),
        ] {
            browser.open(&app.url(&path)).await;
            let sizes = browser
                .eval("return [document.documentElement.scrollWidth, innerWidth];")
                .await;
            let [scroll, inner]: [u64; 2] = serde_json::from_value(sizes).expect("two widths");
            assert_eq!(inner, u64::from(width), "the viewport is {width} px wide");
            assert!(
                scroll <= inner,
                "{what} scrolls sideways at {width} px: {scroll} > {inner}"
            );
        }
    }
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_choosing_a_request_shows_it_at_once_with_a_way_back() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(TestApp::request_id(
            &app.post_to_bin(bin, &format!("/n/{i}"), format!("body {i}"))
                .await,
        ));
    }
    let browser = Browser::start().await;
    browser.set_viewport_width(Some(400)).await;
    let dashboard = app.url(&format!("/view/{bin}"));
    browser.open(&dashboard).await;
    assert_eq!(shown(&browser, "#requests").await, json!(true));
    assert_eq!(shown(&browser, "#detail").await, json!(false));

    // The oldest request, at the bottom of a long list.
    let oldest = ids[0];
    click(&browser, &format!("#requests li.req[data-id='{oldest}'] a")).await;
    wait_detail(&browser, oldest).await;
    let top = browser
        .eval("return document.getElementById('detail').getBoundingClientRect().top;")
        .await;
    let top = top.as_f64().expect("a number");
    assert!(
        (0.0..200.0).contains(&top),
        "the detail starts near the top of the screen, not at {top} px"
    );
    assert_eq!(shown(&browser, "#requests").await, json!(false));
    assert_eq!(shown(&browser, "#detail a.back").await, json!(true));

    click(&browser, "#detail a.back").await;
    browser
        .until(
            "the list to come back",
            "const l = document.getElementById('requests');
             return getComputedStyle(l).display !== 'none' && !location.search.includes('r=');",
        )
        .await;

    // The same without JavaScript: links and reloads.
    browser.quit().await;
    let browser = Browser::start_without_javascript().await;
    browser.set_viewport_width(Some(400)).await;
    browser.open(&dashboard).await;
    click(&browser, &format!("#requests li.req[data-id='{oldest}'] a")).await;
    browser
        .until_with(
            "the detail page",
            "return location.search.includes(arguments[0]) && document.readyState === 'complete';",
            vec![json!(oldest)],
        )
        .await;
    assert_eq!(shown(&browser, "#requests").await, json!(false));
    assert_eq!(shown(&browser, "#detail a.back").await, json!(true));
    let top = browser
        .eval("return document.getElementById('detail').getBoundingClientRect().top;")
        .await;
    let top = top.as_f64().expect("a number");
    assert!(
        top < 300.0,
        "without JavaScript the detail starts at {top} px"
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_at_a_glance_and_the_count_speaks_proper_english() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let browser = Browser::start().await;
    browser.open(&app.url(&format!("/view/{bin}"))).await;
    browser.until_live().await;
    assert_eq!(text_of(&browser, "#list-title").await, "0 requests");

    let get = app
        .client
        .get(app.url(&format!("/{bin}/ping")))
        .send()
        .await
        .expect("GET");
    let get = TestApp::request_id(&get);
    browser.wait_for("the GET row", &row_css(get)).await;
    assert_eq!(text_of(&browser, "#list-title").await, "1 request");

    let post = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/hook")))
            .header("Content-Type", "application/json")
            .body(r#"{"hello":"world"}"#)
            .send()
            .await
            .expect("POST"),
    );
    browser.wait_for("the POST row", &row_css(post)).await;
    assert_eq!(text_of(&browser, "#list-title").await, "2 requests");

    // Live rows and rows rendered by the server look the same.
    for source in ["live", "server"] {
        let row = |id: Uuid, css: &str| format!("{} {css}", row_css(id));
        let colours = browser
            .eval_with(
                "return [...arguments].map(css => getComputedStyle(document.querySelector(css)).color);",
                vec![json!(row(get, ".method")), json!(row(post, ".method"))],
            )
            .await;
        assert_ne!(colours[0], colours[1], "{source}: GET and POST differ");
        assert_eq!(
            text_of(&browser, &row(post, ".badge.size")).await,
            "17 B",
            "{source}"
        );
        assert_eq!(
            text_of(&browser, &row(post, ".badge.kind")).await,
            "json",
            "{source}"
        );
        let time = browser
            .eval_with(
                "const t = document.querySelector(arguments[0]);
                 return [t.title, t.querySelector('.age').textContent,
                         t.querySelector('.visually-hidden').textContent];",
                vec![json!(row(post, "time"))],
            )
            .await;
        let [title, age, spoken]: [String; 3] = serde_json::from_value(time).expect("texts");
        assert!(title.ends_with(" UTC"), "{source}: {title}");
        assert!(
            age.ends_with(" s ago") && age[..age.len() - 6].parse::<u32>().is_ok(),
            "{source}: {age}"
        );
        assert!(
            spoken.contains("ago") && spoken.contains(&title),
            "{source}: {spoken}"
        );
        // The age keeps counting.
        browser
            .until_with(
                "the age to change",
                "return document.querySelector(arguments[0]).textContent !== arguments[1];",
                vec![json!(row(post, "time .age")), json!(age)],
            )
            .await;
        browser.client.refresh().await.expect("reload");
        browser.until_live().await;
    }
    browser.quit().await;
    app.stop().await;
}

/// The page's background in each theme (`--bg` in static/style.css).
const LIGHT: &str = "rgb(244, 246, 248)";
const DARK: &str = "rgb(13, 17, 23)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_mode_follows_the_system_and_the_toggle_is_remembered() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let dashboard = app.url(&format!("/view/{bin}"));
    let browser = Browser::start().await;
    let background = || async {
        browser
            .eval("return getComputedStyle(document.body).backgroundColor;")
            .await
    };

    browser.set_color_scheme("dark").await;
    browser.open(&dashboard).await;
    assert_eq!(background().await, json!(DARK), "the system's dark mode");
    assert_eq!(
        attribute(&browser, "#theme-toggle", "aria-pressed").await,
        "true"
    );
    // The theme script runs before the body is parsed: not deferred, in head.
    let blocking = browser
        .eval(
            "const s = document.querySelector('head > script[src^=\"/static/app.js\"]');
             return s !== null && !s.defer && !s.async;",
        )
        .await;
    assert_eq!(
        blocking,
        json!(true),
        "the theme applies before the first paint"
    );

    click(&browser, "#theme-toggle").await;
    assert_eq!(background().await, json!(LIGHT), "the toggle wins");
    assert_eq!(
        attribute(&browser, "#theme-toggle", "aria-pressed").await,
        "false"
    );
    browser.open(&dashboard).await;
    assert_eq!(
        background().await,
        json!(LIGHT),
        "remembered after a reload"
    );
    browser
        .open(&app.url(&format!("/view/{bin}/settings")))
        .await;
    assert_eq!(background().await, json!(LIGHT), "and on other pages");

    browser.set_color_scheme("light").await;
    click(&browser, "#theme-toggle").await;
    assert_eq!(background().await, json!(DARK));
    browser.open(&dashboard).await;
    assert_eq!(background().await, json!(DARK), "dark remembered too");
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_moves_between_requests_searches_and_lists_its_keys() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(TestApp::request_id(
            &app.post_to_bin(bin, &format!("/{name}"), name).await,
        ));
    }
    let [a, b, c] = [ids[0], ids[1], ids[2]];
    let browser = Browser::start().await;
    browser.open(&app.url(&format!("/view/{bin}"))).await;
    assert_eq!(selected(&browser).await, json!(c), "the newest is shown");

    for (key, expected) in [("j", b), (ARROW_DOWN, a), ("k", b), (ARROW_UP, c)] {
        press(&browser, key).await;
        wait_detail(&browser, expected).await;
        assert_eq!(selected(&browser).await, json!(expected));
        let here = browser.client.current_url().await.expect("url");
        assert!(here.as_str().contains(&format!("r={expected}")), "{here}");
    }
    // The focused row shows where the keyboard is.
    let outline = browser
        .eval(
            "const s = getComputedStyle(document.activeElement);
             return [document.activeElement.closest('li.req')?.dataset.id, s.outlineStyle, s.outlineWidth];",
        )
        .await;
    assert_eq!(outline[0], json!(c));
    assert_ne!(outline[1], json!("none"), "{outline}");
    assert_ne!(outline[2], json!("0px"), "{outline}");

    press(&browser, "/").await;
    assert_eq!(
        browser.eval("return document.activeElement.id;").await,
        json!("search")
    );
    press(&browser, "j").await;
    assert_eq!(
        browser
            .eval("return document.getElementById('search').value;")
            .await,
        json!("j"),
        "typing in the search box is only typing"
    );
    press(&browser, ESCAPE).await;
    assert_ne!(
        browser.eval("return document.activeElement.id;").await,
        json!("search")
    );

    press(&browser, "?").await;
    browser
        .until(
            "the list of keys",
            "return document.getElementById('keys').open;",
        )
        .await;
    let keys = text_of(&browser, "#keys").await;
    assert!(keys.contains("Search") && keys.contains("Next"), "{keys}");
    press(&browser, ESCAPE).await;
    browser
        .until(
            "the list of keys to close",
            "return !document.getElementById('keys').open;",
        )
        .await;
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_newest_opens_each_arriving_request_and_is_remembered() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let first = TestApp::request_id(&app.post_to_bin(bin, "/first", "first").await);
    let dashboard = app.url(&format!("/view/{bin}"));
    let browser = Browser::start().await;
    browser.open(&dashboard).await;
    browser.until_live().await;
    browser.eval("window.__marker = 1; return true;").await;
    assert_eq!(
        browser
            .eval("return document.getElementById('follow').checked;")
            .await,
        json!(false)
    );
    click(&browser, "#follow").await;

    let json_body = json!({"order": {"id": 7, "items": [1, 2, 3]}, "paid": true});
    let arrived = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/orders")))
            .header("Content-Type", "application/json")
            .body(json_body.to_string())
            .send()
            .await
            .expect("POST"),
    );
    wait_detail(&browser, arrived).await;
    assert_eq!(selected(&browser).await, json!(arrived));
    assert_eq!(browser.eval("return window.__marker;").await, json!(1));
    // Opened live, its JSON is a tree whose nodes fold.
    let nodes = browser
        .eval("return document.querySelectorAll('#detail .json-tree .jt-node').length;")
        .await;
    assert_eq!(nodes, json!(3), "root, order and items");
    let keys = browser
        .eval("return [...document.querySelectorAll('#detail .json-tree .jt-key')].map(k => k.textContent);")
        .await;
    assert_eq!(
        keys,
        json!(["\"order\"", "\"id\"", "\"items\"", "\"paid\""])
    );
    click(&browser, "#detail .json-tree .jt-children .jt-toggle").await;
    let folded = browser
        .eval(
            "const t = document.querySelector('#detail .json-tree .jt-children .jt-toggle');
             return [t.getAttribute('aria-expanded'), t.parentElement.classList.contains('collapsed'),
                     getComputedStyle(t.parentElement.querySelector('.jt-children')).display];",
        )
        .await;
    assert_eq!(folded, json!(["false", true, "none"]));

    // Remembered: still on after a reload.
    browser.open(&dashboard).await;
    browser.until_live().await;
    assert_eq!(
        browser
            .eval("return document.getElementById('follow').checked;")
            .await,
        json!(true)
    );
    // Off: arrivals are listed, the open request stays.
    click(&browser, "#follow").await;
    click(&browser, &format!("{} a", row_css(first))).await;
    wait_detail(&browser, first).await;
    let later = TestApp::request_id(&app.post_to_bin(bin, "/later", "later").await);
    browser.wait_for("the later row", &row_css(later)).await;
    assert_eq!(selected(&browser).await, json!(first));
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_show_as_json_xml_form_and_multipart_parts() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let capture = |path: &str, content_type: &str, body: Vec<u8>| {
        let request = app
            .client
            .post(app.url(&format!("/{bin}{path}")))
            .header("Content-Type", content_type)
            .body(body);
        async move { TestApp::request_id(&request.send().await.expect("capture")) }
    };
    let xml = capture(
        "/xml",
        "application/xml",
        b"<?xml version=\"1.0\"?><order id=\"7\"><item>2</item></order>".to_vec(),
    )
    .await;
    let form = capture(
        "/form",
        "application/x-www-form-urlencoded",
        b"tag=a&name=Ada+Lovelace&tag=b".to_vec(),
    )
    .await;
    let file: Vec<u8> = (0..=255).rev().collect();
    let mut multipart =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy upload\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../evil;name.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n"
            .to_vec();
    multipart.extend_from_slice(&file);
    multipart.extend_from_slice(
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"notes\"; filename=\"notes.txt\"\r\n\
          Content-Type: text/plain\r\n\r\nsome notes\r\n--XyZ--\r\n",
    );
    let multipart = capture("/upload", "multipart/form-data; boundary=XyZ", multipart).await;
    let empty = capture("/empty", "text/plain", Vec::new()).await;

    let browser = Browser::start().await;
    browser
        .open(&app.url(&format!("/view/{bin}?r={xml}")))
        .await;
    let tabs = browser
        .eval("return [...document.querySelectorAll('#detail [role=tab]')].map(t => [t.textContent, t.getAttribute('aria-selected')]);")
        .await;
    assert_eq!(tabs, json!([["XML", "true"], ["Raw", "false"]]));
    assert_eq!(
        browser
            .eval("return document.querySelector('#detail pre.body.xml').textContent;")
            .await,
        json!("<?xml version=\"1.0\"?>\n<order id=\"7\">\n  <item>2</item>\n</order>\n")
    );
    assert_eq!(shown(&browser, "#detail pre.body.text").await, json!(false));
    click(&browser, "#detail [role=tab]:nth-child(2)").await;
    assert_eq!(shown(&browser, "#detail pre.body.text").await, json!(true));
    assert_eq!(shown(&browser, "#detail pre.body.xml").await, json!(false));

    browser
        .open(&app.url(&format!("/view/{bin}?r={form}")))
        .await;
    let fields = browser
        .eval("return [...document.querySelectorAll('#detail table.kv.form tr')].map(r => [...r.cells].map(c => c.textContent));")
        .await;
    assert_eq!(
        fields,
        json!([["tag", "a"], ["name", "Ada Lovelace"], ["tag", "b"]]),
        "repeated keys kept, in order"
    );

    browser
        .open(&app.url(&format!("/view/{bin}?r={multipart}")))
        .await;
    let rows = browser
        .eval("return [...document.querySelectorAll('#detail table.kv.parts tr')].map(r => [r.cells[0].textContent, r.querySelector('.file')?.textContent ?? r.cells[1].textContent, r.querySelector('a.part-download')?.getAttribute('href') ?? null]);")
        .await;
    let base = format!("/view/{bin}/{multipart}/part");
    assert_eq!(
        rows,
        json!([
            ["title", "My upload", null],
            ["file", "../evil;name.bin", format!("{base}/2")],
            ["notes", "notes.txt", format!("{base}/3")],
        ])
    );
    let part_headers = text_of(&browser, "#detail details.part-headers").await;
    assert!(
        part_headers.contains("content-disposition") && part_headers.contains("text/plain"),
        "{part_headers}"
    );
    // The sender's own name goes along percent-encoded (RFC 6266), never
    // raw: `;` and quotes cannot break out of the header.
    for (number, bytes, disposition) in [
        (
            2,
            file.clone(),
            r#"attachment; filename="evilname.bin"; filename*=UTF-8''evil%3Bname.bin"#,
        ),
        (
            3,
            b"some notes".to_vec(),
            r#"attachment; filename="notes.txt""#,
        ),
    ] {
        let got = browser
            .eval_async(&format!(
                "const done = arguments[arguments.length - 1];
                 fetch('{base}/{number}').then(async r => done([r.status,
                   r.headers.get('content-disposition'), r.headers.get('x-content-type-options'),
                   r.headers.get('content-security-policy'), r.headers.get('content-type'),
                   [...new Uint8Array(await r.arrayBuffer())]]));"
            ))
            .await;
        assert_eq!(got[0], json!(200));
        assert_eq!(got[1], json!(disposition), "part {number}");
        assert_eq!(got[2], json!("nosniff"));
        assert!(
            got[3]
                .as_str()
                .is_some_and(|csp| csp.starts_with("sandbox")),
            "{got}"
        );
        assert_eq!(got[4], json!("application/octet-stream"));
        assert_eq!(got[5], json!(bytes), "part {number} is exact");
    }
    let missing = app
        .get(&format!("/view/{bin}/{multipart}/part/4"))
        .await
        .status();
    assert_eq!(missing, 404);
    let not_multipart = app
        .get(&format!("/view/{bin}/{form}/part/1"))
        .await
        .status();
    assert_eq!(not_multipart, 404);

    browser
        .open(&app.url(&format!("/view/{bin}?r={empty}")))
        .await;
    assert_eq!(text_of(&browser, "#detail p.empty").await, "Empty body.");
    let downloads = browser
        .eval("return document.querySelectorAll('#detail a[href$=\"/body\"]').length;")
        .await;
    assert_eq!(downloads, json!(0), "nothing to download");
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_megabyte_body_makes_a_small_fast_page_and_copies_whole() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let items: Vec<Value> = (0..60_000)
        .map(|i| json!({"id": i, "name": format!("item {i}"), "tags": ["a", "b"]}))
        .collect();
    let body = json!({ "items": items }).to_string();
    assert!(body.len() > 2_900_000, "{}", body.len());
    let id = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/bulk")))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("POST"),
    );
    let detail = format!("/view/{bin}?r={id}");
    let html = app.html(&detail).await;
    assert!(
        html.len() < 300 * 1024,
        "the page weighs {} bytes",
        html.len()
    );
    // Its row has its type badge like any other (read from the headers,
    // not the body).
    assert!(
        html.contains(r#"<span class="badge kind" title="application/json">json</span>"#),
        "the big row's type badge"
    );
    let curl = app.get(&format!("/view/{bin}/{id}/curl")).await;
    assert_eq!(curl.status(), 200);
    assert!(curl.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let curl = curl.text().await.expect("text");
    assert!(
        curl.starts_with("curl ") && curl.len() > body.len(),
        "whole"
    );

    let browser = Browser::start().await;
    browser.open(&app.url(&detail)).await;
    let timing = browser
        .eval(
            "const n = performance.getEntriesByType('navigation')[0];
             return n.loadEventEnd - n.startTime;",
        )
        .await;
    // About 0.1 s here (a debug build); the bound leaves room for a
    // loaded CI machine running other browsers at once. What keeps it fast
    // is checked exactly: the page's weight above, and how many elements
    // the browser builds for it (the preview is capped, not 3 MB of nodes).
    let millis = timing.as_f64().expect("a number");
    assert!(millis < 2000.0, "the page took {millis} ms");
    let elements = browser
        .eval("return document.getElementsByTagName('*').length;")
        .await;
    assert!(
        elements.as_u64().is_some_and(|n| n < 5_000),
        "{elements} elements"
    );
    assert_eq!(
        browser
            .eval("return document.querySelector('#detail details.curl-block').open;")
            .await,
        json!(false),
        "the curl block starts collapsed"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('curl-line');")
            .await,
        Value::Null,
        "not inlined"
    );

    browser.allow_clipboard().await;
    click(&browser, "#detail button[data-copy='curl-line']").await;
    browser
        .until_with(
            "the whole curl command on the clipboard",
            "return navigator.clipboard.readText().then(t => t === arguments[0]);",
            vec![json!(curl)],
        )
        .await;

    // "Show all" loads the rest of the preview.
    let preview = browser
        .eval("return document.getElementById('body-text').textContent.length;")
        .await;
    assert!(preview.as_u64().expect("length") < 70_000, "{preview}");
    click(&browser, "#detail a.show-all").await;
    browser
        .until_with(
            "the whole body",
            "return document.getElementById('body-text').textContent === arguments[0];",
            vec![json!(body)],
        )
        .await;
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_all_asks_first_also_without_javascript() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    app.post_to_bin(bin, "/one", "1").await;
    app.post_to_bin(bin, "/two", "2").await;
    let browser = Browser::start_without_javascript().await;
    browser.open(&app.url(&format!("/view/{bin}"))).await;
    click(
        &browser,
        &format!("form[action='/view/{bin}/clear'] button"),
    )
    .await;
    browser
        .until(
            "the question",
            "return document.readyState === 'complete' && document.querySelector('.confirm') !== null;",
        )
        .await;
    let question = text_of(&browser, ".confirm").await;
    assert!(question.contains("Yes, delete 2 requests"), "{question}");
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 2);

    click(&browser, ".confirm a.button").await;
    browser
        .until(
            "the dashboard after cancelling",
            "return document.readyState === 'complete' && document.getElementById('request-count') !== null;",
        )
        .await;
    assert_eq!(text_of(&browser, "#request-count").await, "2");

    click(
        &browser,
        &format!("form[action='/view/{bin}/clear'] button"),
    )
    .await;
    browser
        .until(
            "the question again",
            "return document.readyState === 'complete' && document.querySelector('.confirm') !== null;",
        )
        .await;
    click(&browser, ".confirm button[type=submit]").await;
    browser
        .until(
            "the emptied dashboard",
            "return document.readyState === 'complete' &&
               document.getElementById('request-count')?.textContent === '0';",
        )
        .await;
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 0);
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_the_bins_this_browser_made_or_opened() {
    let app = TestApp::spawn().await;
    // Made by someone else and opened here by its URL.
    let shared = app.new_bin().await;
    let browser = Browser::start().await;
    browser.open(&app.url("/")).await;
    let first = current_bin(&browser).await;
    let stored = app.state.store.bin(first).await.expect("read");
    let mut settings = stored.expect("bin").settings.clone();
    settings.alias = Some("stripe-staging".into());
    app.state
        .store
        .update_bin(first, settings)
        .await
        .expect("alias");
    browser.open(&app.url(&format!("/view/{shared}"))).await;
    click(&browser, "form[action='/new'] button").await;
    let made = browser
        .until_with(
            "the new bin's dashboard",
            "const m = location.pathname.match(/^\\/view\\/([0-9a-f-]{36})$/);
             return m && m[1] !== arguments[0] && document.readyState === 'complete' ? m[1] : null;",
            vec![json!(shared)],
        )
        .await;
    let made: Uuid = serde_json::from_value(made).expect("bin id");
    let listed = browser
        .eval("return [...document.querySelectorAll('nav.bins a')].map(a => [a.getAttribute('href'), a.textContent, a.getAttribute('aria-current')]);")
        .await;
    assert_eq!(
        listed,
        json!([
            [format!("/view/{made}"), made.to_string(), "page"],
            [format!("/view/{shared}"), shared.to_string(), null],
            [
                format!("/view/{first}"),
                format!("stripe-staging {first}"),
                null
            ],
        ]),
        "newest first, with the alias"
    );
    click(&browser, &format!("nav.bins a[href='/view/{first}']")).await;
    browser
        .until_with(
            "the first bin again",
            "return location.pathname === '/view/' + arguments[0] && document.readyState === 'complete';",
            vec![json!(first)],
        )
        .await;
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_serious_in_light_or_dark() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let json_request = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/orders?x=1")))
            .header("Content-Type", "application/json")
            .body(r#"{"id":7,"paid":true,"items":[{"sku":"A"}],"note":null}"#)
            .send()
            .await
            .expect("POST"),
    );
    let multipart = TestApp::request_id(
        &app.client
            .post(app.url(&format!("/{bin}/upload")))
            .header("Content-Type", "multipart/form-data; boundary=B")
            .body(
                "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ntext\r\n\
                 --B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--B--\r\n",
            )
            .send()
            .await
            .expect("POST"),
    );
    app.client
        .delete(app.url(&format!("/{bin}/gone")))
        .send()
        .await
        .expect("DELETE");
    let browser = Browser::start().await;
    // First show that axe runs and sees a violation planted in the page.
    browser.open(&app.url(&format!("/view/{bin}"))).await;
    browser
        .eval(
            "const b = document.createElement('button');
             b.id = 'axe-canary';
             document.querySelector('main').append(b);
             return true;",
        )
        .await;
    let planted = browser::serious_violations(&browser).await;
    assert!(
        planted.iter().any(|v| v.contains("#axe-canary")),
        "axe sees an unnamed button: {planted:?}"
    );
    let mut found = Vec::new();
    for scheme in ["light", "dark"] {
        browser.set_color_scheme(scheme).await;
        for (what, path) in [
            ("the dashboard", format!("/view/{bin}")),
            ("a JSON detail", format!("/view/{bin}?r={json_request}")),
            ("a multipart detail", format!("/view/{bin}?r={multipart}")),
            ("the settings", format!("/view/{bin}/settings")),
        ] {
            browser.open(&app.url(&path)).await;
            let background = browser
                .eval("return getComputedStyle(document.body).backgroundColor;")
                .await;
            let expected = if scheme == "dark" { DARK } else { LIGHT };
            assert_eq!(background, json!(expected), "{what} in {scheme}");
            let violations = browser::serious_violations(&browser).await;
            found.extend(
                violations
                    .into_iter()
                    .map(|v| format!("{what} ({scheme}): {v}")),
            );
        }
    }
    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    browser.quit().await;
    app.stop().await;
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// Types `keys` into whatever has the focus (the page itself when nothing
/// does).
async fn press(browser: &Browser, keys: &str) {
    browser
        .client
        .active_element()
        .await
        .expect("the focused element")
        .send_keys(keys)
        .await
        .unwrap_or_else(|e| panic!("pressing {keys:?}: {e}"));
}

async fn wait_detail(browser: &Browser, id: Uuid) {
    browser
        .until_with(
            "the request's detail",
            "const d = document.getElementById('detail');
             return d !== null && getComputedStyle(d).display !== 'none' &&
               d.querySelector('.detail-head')?.dataset.request === arguments[0];",
            vec![json!(id)],
        )
        .await;
}

async fn selected(browser: &Browser) -> Value {
    browser
        .eval("return document.querySelector('#requests li.selected')?.dataset.id ?? null;")
        .await
}

/// Whether the element takes space on the page.
async fn shown(browser: &Browser, css: &str) -> Value {
    browser
        .eval_with(
            "const e = document.querySelector(arguments[0]);
             if (!e) throw new Error('no ' + arguments[0]);
             return e.getClientRects().length > 0;",
            vec![json!(css)],
        )
        .await
}

async fn text_of(browser: &Browser, css: &str) -> String {
    let value = browser
        .eval_with(
            "return document.querySelector(arguments[0])?.textContent.replace(/\\s+/g, ' ').trim() ?? null;",
            vec![json!(css)],
        )
        .await;
    match value {
        Value::String(text) => text,
        other => panic!("no element {css} (got {other})"),
    }
}

async fn attribute(browser: &Browser, css: &str, name: &str) -> String {
    let value = browser
        .eval_with(
            "return document.querySelector(arguments[0])?.getAttribute(arguments[1]) ?? null;",
            vec![json!(css), json!(name)],
        )
        .await;
    match value {
        Value::String(text) => text,
        other => panic!("no {name} on {css} (got {other})"),
    }
}

async fn current_bin(browser: &Browser) -> Uuid {
    let url = browser.client.current_url().await.expect("current url");
    let id = url
        .path()
        .strip_prefix("/view/")
        .unwrap_or_else(|| panic!("not a dashboard: {url}"));
    Uuid::try_parse(id).expect("bin id")
}

fn row_css(id: Uuid) -> String {
    format!("#requests li.req[data-id='{id}']")
}
