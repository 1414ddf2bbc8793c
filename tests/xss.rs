//! Hostile payloads stay inert: an XSS corpus put into every part of a
//! request (body, path, query, header names and values, method, form and
//! multipart fields, JSON, binary, a 5 MB single line) is opened in a real
//! browser, both when the page loads with it stored and when it arrives
//! over the live feed. Each payload, were it ever run, would set
//! `window.__pwned` or open a dialog; neither may happen, no payload may
//! turn into an element or attribute, and the page must not even have to
//! block an inline script (a CSP report in the console means a payload got
//! parsed as markup).

mod support;

use std::time::Instant;
use support::browser::{self, Browser};
use support::{header_of, status_of, TestApp};

use serde_json::{json, Value};
use uuid::Uuid;

/// What each payload tries, and the payload. Every one that could run sets
/// `window.__pwned` or opens a dialog.
const PAYLOADS: &[(&str, &str)] = &[
    ("script element", "<script>window.__pwned='script'</script>"),
    (
        "double-quote breakout into img onerror",
        "\"><img src=x onerror=\"window.__pwned='img'\">",
    ),
    (
        "single-quote breakout",
        "'><img src=x onerror='window.__pwned=1'>",
    ),
    (
        "svg onload",
        "<svg onload=\"window.__pwned='svg'\"><circle r=1 /></svg>",
    ),
    (
        "svg script",
        "<svg><script>window.__pwned='svg-script'</script></svg>",
    ),
    (
        "javascript: URL",
        "javascript:window.__pwned='js-url';alert(1)",
    ),
    (
        "javascript: link",
        "<a id=pwn href=\"javascript:window.__pwned='link'\">click</a>",
    ),
    (
        "broken attribute quoting",
        "x\" onmouseover=\"window.__pwned='quote'\" autofocus onfocus=\"window.__pwned='focus'\" y=\"",
    ),
    (
        "unquoted attribute breakout",
        "x onmouseover=window.__pwned=1 autofocus onfocus=window.__pwned=2 ",
    ),
    (
        "closing the surrounding elements",
        "</pre></td></tr></table></textarea></title></style></noscript><script>window.__pwned='close'</script>",
    ),
    (
        "iframe srcdoc",
        "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>",
    ),
    (
        "template injection",
        "{{7*7}} ${7*7} #{7*7} <%= 7*7 %> {{constructor.constructor('window.__pwned=1')()}} ${window.__pwned='tpl'}",
    ),
    (
        "dialogs",
        "<script>alert('pwned')</script><img src=x onerror=\"alert('pwned')\"><body onload=confirm(1)>",
    ),
    (
        "meta refresh and base",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__pwned=1\"><base href=\"javascript:/\">",
    ),
    (
        "form and style",
        "<form action=\"javascript:window.__pwned=1\"><button formaction=\"javascript:alert(1)\">x</button></form><style>body{display:none}</style>",
    ),
    (
        "Unicode bidi and control characters",
        "\u{202e}txt.exe\u{202c} \u{2066}\u{2067}\u{2068}\u{2069} \u{200f}\u{200e} \u{0}\u{1}\u{7}\u{8}\u{1b}[31m\u{7f}\u{85}\u{2028}\u{2029}\u{feff}<script>window.__pwned='bidi'</script>",
    ),
];

/// Header names must be tokens: these are the nastiest that HTTP allows.
const HEADER_NAMES: &[&str] = &["x-'onmouseover'", "x-`alert`|1", "x-&lt&quot!#$%*+.^~"];
/// An extension method (any token is a method).
const METHOD: &str = "X-'ONLOAD`|^~!#$%&*+";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_stay_inert_on_page_load_and_live() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;

    // First show that each detector would see a payload that ran.
    let stored = app.new_bin().await;
    let dashboard = app.url(&format!("/view/{stored}"));
    browser.goto(&dashboard).await;
    detectors_catch_a_payload_that_runs(&browser).await;

    // On page load: everything is stored before the page opens.
    let corpus = corpus();
    let mut ids = Vec::new();
    for hostile in &corpus {
        ids.push(hostile.send(&app, stored).await);
    }
    browser.goto(&dashboard).await;
    assert_inert(&browser, "the list of stored hostile requests", &dashboard).await;
    let listed = browser
        .eval("return document.querySelectorAll('#requests li.req').length;")
        .await;
    assert_eq!(
        listed,
        json!(corpus.len()),
        "every hostile request is listed"
    );
    for (hostile, id) in corpus.iter().zip(&ids) {
        let detail = app.url(&format!("/view/{stored}?r={id}"));
        browser.goto(&detail).await;
        let what = format!("the detail of {}", hostile.what);
        assert_inert(&browser, &what, &detail).await;
        hostile.check_shown(&browser).await;
    }

    // Live: the page is open, then the payloads arrive over the websocket.
    let live = app.new_bin().await;
    let dashboard = app.url(&format!("/view/{live}"));
    browser.goto(&dashboard).await;
    browser.until_live().await;
    browser
        .eval("window.__marker = 'same page'; return true;")
        .await;
    let mut ids = Vec::new();
    for hostile in &corpus {
        ids.push(hostile.send(&app, live).await);
    }
    browser
        .until_with(
            "every hostile request in the live list",
            "return arguments[0].every(id =>
               document.querySelector('#requests li.req[data-id=\"' + id + '\"]'));",
            vec![json!(ids)],
        )
        .await;
    assert_eq!(
        browser.eval("return window.__marker;").await,
        json!("same page"),
        "the requests arrived without a reload"
    );
    assert_inert(&browser, "the live list of hostile requests", &dashboard).await;
    for (hostile, id) in corpus.iter().zip(&ids) {
        let shown = browser
            .eval_with(
                "return document.querySelector('#requests li.req[data-id=\"' + arguments[0] + '\"] .target').textContent;",
                vec![json!(id)],
            )
            .await;
        assert_eq!(
            shown,
            json!(hostile.target_text()),
            "the live row of {} shows its path and query as text",
            hostile.what
        );
    }

    // The live row's link (built by the page's script) opens the detail.
    browser
        .client
        .find(fantoccini::Locator::Css(&format!(
            "#requests li.req[data-id='{}'] a",
            ids[0]
        )))
        .await
        .expect("the live row's link")
        .click()
        .await
        .expect("click the live row");
    let detail = app.url(&format!("/view/{live}?page=1&r={}", ids[0]));
    browser
        .until_with(
            "the detail opened from a live row",
            "return location.href === arguments[0] && document.readyState === 'complete';",
            vec![json!(detail)],
        )
        .await;
    assert_inert(&browser, "a detail opened from the live list", &detail).await;
    corpus[0].check_shown(&browser).await;

    browser.quit().await;
    app.stop().await;
}

/// Pages and downloads carry the headers that keep a payload from running
/// even if one slipped through: a strict CSP, nosniff, no referrer, no
/// framing; raw bodies are attachments.
#[tokio::test]
async fn pages_send_strict_security_headers_and_bodies_download_as_attachments() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let html = "<html><body><script>alert(1)</script></body></html>";
    let answer = app
        .client
        .post(app.url(&format!("/{bin}")))
        .header("Content-Type", "text/html")
        .body(html)
        .send()
        .await
        .expect("POST");
    let id = TestApp::request_id(&answer);

    let pages = [
        ("the dashboard", format!("/view/{bin}"), 200),
        ("a request's detail", format!("/view/{bin}?r={id}"), 200),
        (
            "the unknown-bin page",
            format!("/view/{}", Uuid::new_v4()),
            404,
        ),
        // Captures render their own errors, outside the pages' layers.
        (
            "a capture URL of no bin",
            format!("/{}/x", Uuid::new_v4()),
            404,
        ),
        ("a path that names no bin", "/nothing-here".to_owned(), 404),
    ];
    for (what, path, status) in pages {
        let response = app
            .client
            .get(app.url(&path))
            .header("Accept", "text/html")
            .send()
            .await
            .expect("GET page");
        assert_eq!(response.status(), status, "{what}");
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{what} has no {name} header"))
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{what}");
        check_csp(what, &header("content-security-policy"));
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        let referrer = header("referrer-policy");
        assert!(
            ["no-referrer", "same-origin", "strict-origin"].contains(&referrer.as_str()),
            "{what} leaks the bin URL as referrer: {referrer}"
        );
        let frames = headers
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_uppercase);
        let csp = header("content-security-policy");
        assert!(
            matches!(frames.as_deref(), Some("DENY" | "SAMEORIGIN"))
                || directive(&csp, "frame-ancestors")
                    .is_some_and(|v| v == ["'none'"] || v == ["'self'"]),
            "{what} can be framed by other sites"
        );
    }

    let download = app
        .client
        .get(app.url(&format!("/view/{bin}/{id}/body")))
        .send()
        .await
        .expect("GET body");
    assert_eq!(download.status(), 200);
    let headers = download.headers().clone();
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let content_type = headers["content-type"].to_str().expect("ascii");
    assert!(
        !content_type.contains("html") && !content_type.contains("script"),
        "a download is never served as something a browser runs: {content_type}"
    );
    assert_eq!(download.bytes().await.expect("body"), html.as_bytes());

    app.stop().await;
}

fn directive<'a>(csp: &'a str, name: &str) -> Option<Vec<&'a str>> {
    csp.split(';').find_map(|d| {
        let mut words = d.split_whitespace();
        (words.next()? == name).then(|| words.collect())
    })
}

fn check_csp(what: &str, csp: &str) {
    for unsafe_source in ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"] {
        assert!(
            !csp.contains(unsafe_source),
            "{what}: CSP allows {unsafe_source}: {csp}"
        );
    }
    let scripts = directive(csp, "script-src")
        .or_else(|| directive(csp, "default-src"))
        .unwrap_or_else(|| panic!("{what}: CSP does not restrict scripts: {csp}"));
    assert!(
        scripts.iter().all(|s| ["'self'", "'none'"].contains(s)),
        "{what}: scripts may come from elsewhere: {csp}"
    );
    let objects = directive(csp, "object-src").or_else(|| directive(csp, "default-src"));
    assert_eq!(
        objects,
        Some(vec!["'none'"]),
        "{what}: plugins allowed: {csp}"
    );
    assert!(
        directive(csp, "base-uri").is_some_and(|v| v == ["'none'"] || v == ["'self'"]),
        "{what}: <base> may point elsewhere: {csp}"
    );
}

/// Runs each detector against a payload that really runs, so that a
/// detector that sees nothing cannot pass this test by accident.
async fn detectors_catch_a_payload_that_runs(browser: &Browser) {
    browser.console().await; // Drops earlier messages.
    browser
        .eval("setTimeout(() => alert('canary'), 0); return true;")
        .await;
    let deadline = Instant::now() + browser::PAGE_DEADLINE;
    let dialog = loop {
        if let Some(text) = browser.open_dialog().await {
            break text;
        }
        assert!(Instant::now() < deadline, "an open dialog is seen");
        tokio::time::sleep(browser::POLL).await;
    };
    assert_eq!(dialog, "canary");
    browser
        .client
        .dismiss_alert()
        .await
        .expect("dismiss the dialog");

    // Markup parsed from text: the DOM scan sees it, and the CSP blocks its
    // inline handler and says so in the console.
    browser
        .eval(
            "const div = document.createElement('div');
             div.id = 'canary';
             div.innerHTML = '<img src=x onerror=\"window.__pwned=1\">';
             document.body.append(div);
             return true;",
        )
        .await;
    let offenders = browser.eval(DOM_SCAN).await;
    assert!(
        offenders.to_string().contains("onerror"),
        "the DOM scan sees injected handlers: {offenders}"
    );
    while csp_reports(&browser.console().await).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the blocked inline handler shows in the console"
        );
        tokio::time::sleep(browser::POLL).await;
    }
    assert_eq!(
        browser.eval("return window.__pwned ?? null;").await,
        Value::Null,
        "the CSP blocked the inline handler"
    );
    browser
        .eval("document.getElementById('canary').remove(); return true;")
        .await;
}

/// Finds what a payload would have become had it been parsed as markup:
/// event handler attributes, `javascript:` URLs, and elements the
/// dashboard never has.
const DOM_SCAN: &str = r#"
const bad = [];
const urlAttributes = ['href', 'src', 'action', 'formaction', 'xlink:href', 'srcdoc', 'data'];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) {
    if (a.name.toLowerCase().startsWith('on')) bad.push(el.tagName + '[' + a.name + ']');
    if (urlAttributes.includes(a.name.toLowerCase()) && /^\s*javascript:/i.test(a.value))
      bad.push(el.tagName + '[' + a.name + '=' + a.value.slice(0, 40) + ']');
  }
  const tag = el.tagName.toLowerCase();
  const src = el.getAttribute('src') || '';
  const href = el.getAttribute('href') || '';
  const ours =
    (tag === 'script' && src.startsWith('/static/app.js')) ||
    (tag === 'link' && href.startsWith('/static/')) ||
    (tag === 'meta' && (el.hasAttribute('charset') || el.getAttribute('name') === 'viewport')) ||
    (tag === 'form' && (el.getAttribute('action') === '/new' ||
      // The dashboard's own forms: search, clear all, delete one, settings, compare.
      /^\/view\/[0-9a-f-]{36}(\/clear|\/settings|\/diff|\/[0-9a-f-]{36}\/delete)?$/.test(el.getAttribute('action') || '')));
  const foreign = ['script', 'img', 'svg', 'iframe', 'object', 'embed', 'base', 'style',
    'link', 'meta', 'form', 'math', 'template', 'frame', 'frameset', 'video', 'audio', 'source'];
  if (foreign.includes(tag) && !ours) bad.push(el.outerHTML.slice(0, 80));
}
return bad.length ? { count: bad.length, first: bad.slice(0, 10) } : null;
"#;

fn csp_reports(console: &[String]) -> Vec<&String> {
    console
        .iter()
        .filter(|m| m.contains("Content Security Policy"))
        .collect()
}

/// The page at `url` shows hostile data and nothing of it ran or turned
/// into markup.
async fn assert_inert(browser: &Browser, what: &str, url: &str) {
    // Give anything the page loads (handlers, timers) its turn first.
    browser
        .until(
            "the page to finish loading",
            "return document.readyState === 'complete';",
        )
        .await;
    browser
        .eval_async("requestAnimationFrame(() => setTimeout(arguments[0], 0));")
        .await;
    assert_eq!(
        browser.open_dialog().await,
        None,
        "{what}: a payload opened a dialog"
    );
    let pwned = browser.eval("return window.__pwned ?? null;").await;
    assert_eq!(pwned, Value::Null, "{what}: a payload ran");
    let offenders = browser.eval(DOM_SCAN).await;
    assert_eq!(offenders, Value::Null, "{what}: a payload became markup");
    let here = browser.client.current_url().await.expect("url");
    assert_eq!(here.as_str(), url, "{what}: a payload navigated the page");
    let console = browser.console().await;
    let reports = csp_reports(&console);
    assert!(
        reports.is_empty(),
        "{what}: the CSP had to block something: {reports:?}"
    );
}

/// One hostile request, as raw bytes on the wire.
struct Hostile {
    what: String,
    method: String,
    /// Path after `/{bin}`, and the raw query.
    sub_path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// What the detail pane must show as text, by CSS selector.
    expect: Vec<(&'static str, String)>,
}

impl Hostile {
    fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            method: "POST".into(),
            sub_path: String::new(),
            query: None,
            headers: Vec::new(),
            body: Vec::new(),
            expect: Vec::new(),
        }
    }

    async fn send(&self, app: &TestApp, bin: Uuid) -> Uuid {
        let mut wire = format!("{} /{bin}{}", self.method, self.sub_path).into_bytes();
        if let Some(query) = &self.query {
            wire.extend_from_slice(format!("?{query}").as_bytes());
        }
        wire.extend_from_slice(format!(" HTTP/1.1\r\nHost: {}\r\n", app.addr).as_bytes());
        for (name, value) in &self.headers {
            wire.extend_from_slice(name.as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                self.body.len()
            )
            .as_bytes(),
        );
        wire.extend_from_slice(&self.body);
        let answer = app.raw(&wire).await;
        assert_eq!(status_of(&answer), 200, "{} was captured", self.what);
        let id = header_of(&answer, "x-request-id").expect("X-Request-Id");
        Uuid::parse_str(&id).expect("request id")
    }

    /// How the list shows the request's path and query.
    /// How the request list shows it: the path below the bin, then the query.
    fn target_text(&self) -> String {
        let path = if self.sub_path.is_empty() {
            "/"
        } else {
            &self.sub_path
        };
        match &self.query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        }
    }

    /// The detail pane shows each expected text exactly, as text.
    async fn check_shown(&self, browser: &Browser) {
        for (css, expected) in &self.expect {
            let texts = browser
                .eval_with(
                    "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
                    vec![json!(css)],
                )
                .await;
            let texts: Vec<String> = serde_json::from_value(texts).expect("texts");
            // The HTML parser drops NUL characters from text.
            let expected = expected.replace('\0', "");
            assert!(
                texts.contains(&expected),
                "{}: {css} should show {:?}, shows {:?}",
                self.what,
                shorten(&expected),
                texts.iter().map(|t| shorten(t)).collect::<Vec<_>>()
            );
        }
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 300 {
        return text.to_owned();
    }
    let head: String = text.chars().take(300).collect();
    format!("{head}… ({} bytes)", text.len())
}

/// The corpus: each payload in body, path, query (name and value) and a
/// header value; then header names and an odd method, JSON, form,
/// multipart, binary, and one 5 MB line.
fn corpus() -> Vec<Hostile> {
    let mut corpus = Vec::new();
    for (i, &(what, payload)) in PAYLOADS.iter().enumerate() {
        let mut hostile = Hostile::new(what);
        hostile.sub_path = format!("/{}/{i}", path_escape(payload));
        let query_part: String = form_urlencoded::byte_serialize(payload.as_bytes()).collect();
        hostile.query = Some(format!("{query_part}={query_part}&q={query_part}"));
        let header_value = header_value_of(payload);
        hostile.headers = vec![
            ("Content-Type".into(), b"text/plain; charset=utf-8".to_vec()),
            ("X-Payload".into(), header_value.clone()),
        ];
        hostile.body = payload.as_bytes().to_vec();
        hostile.expect = vec![
            ("section.detail pre.body.text", payload.to_owned()),
            ("section.detail table.kv td", payload.to_owned()),
            ("section.detail table.kv th", payload.to_owned()),
            (
                "section.detail table.kv td",
                String::from_utf8(header_value)
                    .expect("UTF-8")
                    .trim()
                    .to_owned(),
            ),
        ];
        corpus.push(hostile);
    }

    let mut names = Hostile::new("hostile header names and method");
    names.method = METHOD.into();
    names.headers = HEADER_NAMES
        .iter()
        .map(|&name| {
            (
                name.to_owned(),
                b"<script>window.__pwned='name'</script>".to_vec(),
            )
        })
        .collect();
    names.expect = HEADER_NAMES
        .iter()
        .map(|&name| ("section.detail table.kv th", name.to_owned()))
        .collect();
    names
        .expect
        .push(("section.detail h2 .method", METHOD.to_owned()));
    corpus.push(names);

    let all: Vec<&str> = PAYLOADS.iter().map(|&(_, p)| p).collect();
    let mut json_body = Hostile::new("payloads in a JSON body");
    json_body.headers = vec![("Content-Type".into(), b"application/json".to_vec())];
    json_body.body =
        serde_json::to_vec(&json!({ "payloads": all, "<script>": "key" })).expect("JSON");
    json_body.expect = vec![(
        "section.detail pre.body.json",
        serde_json::to_string_pretty(&json!({ "payloads": all, "<script>": "key" })).expect("JSON"),
    )];
    corpus.push(json_body);

    let mut form = Hostile::new("payloads as urlencoded form fields");
    form.headers = vec![(
        "Content-Type".into(),
        b"application/x-www-form-urlencoded".to_vec(),
    )];
    form.body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all.iter().map(|&p| (p, p)))
        .finish()
        .into_bytes();
    form.expect = all
        .iter()
        .flat_map(|&p| {
            [
                ("section.detail table.kv th", p.to_owned()),
                ("section.detail table.kv td", p.to_owned()),
            ]
        })
        .collect();
    corpus.push(form);

    let boundary = "hostile-boundary";
    let field = "\"><img src=x onerror=\"window.__pwned='multipart'\">";
    let file = "<svg onload=window.__pwned=1>.html";
    let mut multipart = Hostile::new("payloads in multipart field and file names");
    multipart.headers = vec![(
        "Content-Type".into(),
        format!("multipart/form-data; boundary={boundary}").into_bytes(),
    )];
    multipart.body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"{}\"\r\n\
         Content-Type: text/html\r\n\r\n<script>window.__pwned='file'</script>\r\n--{boundary}--\r\n",
        field.replace('"', "%22"),
        PAYLOADS[0].1,
        file,
    )
    .into_bytes();
    multipart.expect = vec![
        ("section.detail table.kv td", PAYLOADS[0].1.to_owned()),
        ("section.detail table.kv .file", file.to_owned()),
    ];
    corpus.push(multipart);

    let mut binary = Hostile::new("a binary body holding markup");
    binary.headers = vec![("Content-Type".into(), b"text/html".to_vec())];
    binary.body = [b"\xff\xfe".as_slice(), PAYLOADS[1].1.as_bytes()].concat();
    corpus.push(binary);

    let line = "<img src=x onerror=\"window.__pwned='big'\">\u{202e}{{7*7}}";
    let mut big = Hostile::new("a 5 MB single-line body");
    big.headers = vec![("Content-Type".into(), b"text/plain".to_vec())];
    big.body = line.repeat(5 * 1024 * 1024 / line.len() + 1).into_bytes();
    big.expect = vec![(
        "section.detail p.hint",
        "Only the start of the body is shown; download it for every byte.".into(),
    )];
    corpus.push(big);

    corpus
}

/// `payload` as a path segment: bytes a request line cannot carry (space,
/// controls, `<`, `>`, `` ` ``) and those that end a path (`?`, `#`, `%`,
/// `/`) percent-escaped; the rest (quotes, braces, high bytes) raw.
fn path_escape(payload: &str) -> String {
    let mut out = Vec::new();
    for &b in payload.as_bytes() {
        if b >= 0x80 || (b.is_ascii_graphic() && !b"<>`?#%/".contains(&b)) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    String::from_utf8(out).expect("escaping keeps UTF-8 sequences whole")
}

/// The bytes of `payload` a header value may hold (controls dropped).
fn header_value_of(payload: &str) -> Vec<u8> {
    payload
        .bytes()
        .filter(|&b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80)
        .collect()
}
