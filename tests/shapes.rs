//! Issue 11's safety net: into one bin, capture every shape of request a
//! real sender produces, then read each one back through every read path —
//! the API object, the raw body, the detail page, list paging, search, the
//! dashboard's search, both exports, the live feed and
//! `hookscope forward --replay`. No answer may be a 5xx and nothing may be
//! logged at ERROR: one odd request must never break a feature for the
//! others (an empty body once made every search answer 503).
//!
//! Every shape is written as raw HTTP/1 bytes, so the test knows exactly
//! what was sent: request line, every header field in order, every byte.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use support::recorder::{body_of, Recorder};
use support::{header_of, status_of, Backend, TestApp};
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;
use uuid::Uuid;

/// How long one live-feed message, or the whole forward replay, may take.
const WAIT: Duration = Duration::from_secs(60);
/// The list's page size in the paging check: small, so there are pages.
const PER_PAGE: usize = 7;

// ---------------------------------------------------------------------------
// Nothing logged at ERROR

/// ERROR events the server logged in this test binary.
static ERRORS: AtomicUsize = AtomicUsize::new(0);

/// Counts ERROR events; everything at WARN and above is also printed, so a
/// failure shows what the server complained about.
struct CountErrors;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            ERRORS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn count_logged_errors() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing_subscriber::registry()
            .with(CountErrors)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            )
            .init();
    });
}

// ---------------------------------------------------------------------------
// The shapes

/// One request as a real sender writes it.
struct Shape {
    /// Named in every failure message.
    name: &'static str,
    method: &'static str,
    /// The path below `/{bin}` as on the wire: bytes, because a sender may
    /// write raw UTF-8 there.
    sub_path: Vec<u8>,
    /// The raw query string, without `?`.
    query: Option<String>,
    /// `HTTP/1.1` or `HTTP/1.0`.
    version: &'static str,
    /// Header fields in order (framing fields are added by `sent_headers`).
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Sent with `Transfer-Encoding: chunked` in pieces of this size.
    chunked: Option<usize>,
    /// The API's decoded `query` object, for shapes with a query.
    decoded_query: Value,
    /// Words of the body the search should find in this request alone.
    body_words: Vec<&'static str>,
    /// The file parts the request object's `files` lists.
    files: Vec<SentFile>,
    /// The request object's `request`: the form fields.
    form: Value,
}

/// One file part of a multipart shape.
struct SentFile {
    field: &'static str,
    /// Position of the part in the body, from 1.
    number: usize,
    filename: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

impl Shape {
    fn new(name: &'static str, method: &'static str) -> Self {
        let token = Self::token_of(name);
        Self {
            name,
            method,
            sub_path: format!("/s/{token}").into_bytes(),
            query: None,
            version: "HTTP/1.1",
            headers: vec![
                ("Host".into(), b"hooks.example.test".to_vec()),
                ("User-Agent".into(), b"shape-sender/1.0".to_vec()),
                ("Accept".into(), b"*/*".to_vec()),
                ("X-Shape".into(), token.into_bytes()),
            ],
            body: Vec::new(),
            chunked: None,
            decoded_query: json!({}),
            body_words: Vec::new(),
            files: Vec::new(),
            form: json!({}),
        }
    }

    /// The one search word naming this shape (in its path and `X-Shape`).
    fn token_of(name: &str) -> String {
        format!("k{}", name.replace('-', ""))
    }

    fn token(&self) -> String {
        Self::token_of(self.name)
    }

    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn body(self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut shape = self.header("Content-Type", content_type);
        shape.body = body.into();
        shape
    }

    fn words(mut self, words: &[&'static str]) -> Self {
        self.body_words = words.to_vec();
        self
    }

    fn file(mut self, file: SentFile) -> Self {
        self.files.push(file);
        self
    }

    fn form(mut self, form: Value) -> Self {
        self.form = form;
        self
    }

    /// The request object's `files` for this shape stored as `id`: keyed
    /// by field name, each file's id derived from the request and part.
    fn expected_files(&self, id: Uuid) -> Value {
        let mut files = serde_json::Map::new();
        for file in &self.files {
            files.insert(
                file.field.to_owned(),
                json!({
                    "id": hookscope::multipart::file_id(id, file.number).to_string(),
                    "name": file.field,
                    "filename": file.filename,
                    "size": file.bytes.len(),
                    "content_type": file.content_type,
                }),
            );
        }
        Value::Object(files)
    }

    fn path_tail(mut self, tail: &[u8]) -> Self {
        self.sub_path.extend_from_slice(tail);
        self
    }

    fn query(mut self, query: &str, decoded: Value) -> Self {
        self.query = Some(query.to_owned());
        self.decoded_query = decoded;
        self
    }

    fn chunked(mut self, piece: usize) -> Self {
        self.chunked = Some(piece);
        self
    }

    fn http10_without_host(mut self) -> Self {
        self.version = "HTTP/1.0";
        self.headers.retain(|(name, _)| name != "Host");
        self
    }

    /// Every header field on the wire, in order.
    fn sent_headers(&self) -> Vec<(String, Vec<u8>)> {
        let mut headers = self.headers.clone();
        if self.version == "HTTP/1.1" {
            headers.push(("Connection".into(), b"close".to_vec()));
        }
        let bodiless = matches!(self.method, "GET" | "HEAD" | "OPTIONS");
        match self.chunked {
            Some(_) => headers.push(("Transfer-Encoding".into(), b"chunked".to_vec())),
            None if !bodiless || !self.body.is_empty() => headers.push((
                "Content-Length".into(),
                self.body.len().to_string().into_bytes(),
            )),
            None => {}
        }
        headers
    }

    /// The path below the bin, as text.
    fn sub_path_text(&self) -> String {
        String::from_utf8(self.sub_path.clone()).expect("shape paths are UTF-8")
    }

    /// The stored path: `/{bin}` and the sub-path as received.
    fn path(&self, bin: Uuid) -> String {
        format!("/{bin}{}", self.sub_path_text())
    }

    fn path_and_query(&self, bin: Uuid) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path(bin)),
            None => self.path(bin),
        }
    }

    /// The request exactly as written to the socket.
    fn wire(&self, bin: Uuid) -> Vec<u8> {
        let mut wire = Vec::new();
        wire.extend_from_slice(format!("{} /{bin}", self.method).as_bytes());
        wire.extend_from_slice(&self.sub_path);
        if let Some(q) = &self.query {
            wire.extend_from_slice(format!("?{q}").as_bytes());
        }
        wire.extend_from_slice(format!(" {}\r\n", self.version).as_bytes());
        for (name, value) in self.sent_headers() {
            wire.extend_from_slice(name.as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(&value);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        match self.chunked {
            Some(piece) => {
                for chunk in self.body.chunks(piece) {
                    wire.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
                    wire.extend_from_slice(chunk);
                    wire.extend_from_slice(b"\r\n");
                }
                wire.extend_from_slice(b"0\r\n\r\n");
            }
            None => wire.extend_from_slice(&self.body),
        }
        wire
    }

    fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.body).is_ok()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

/// The file part of the multipart shape.
const MULTIPART_FILE: &[u8] = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x01binary";

fn multipart_body() -> (String, Vec<u8>) {
    let boundary = "----shape-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\
             multipart text part\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; \
             filename=\"blob.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(MULTIPART_FILE);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Every shape, one row each.
fn shapes() -> Vec<Shape> {
    let (multipart_type, multipart) = multipart_body();
    let mut long_line = b"longlineword ".to_vec();
    long_line.resize(3 * 1024 * 1024, b'a');
    let deep_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let mut many_headers = Shape::new("many-headers", "POST");
    for i in 0..84 {
        many_headers = many_headers.header(&format!("X-Extra-{i:02}"), format!("value {i}"));
    }
    let many_headers = many_headers
        .header("X-Dup", "first")
        .header("x-dup", "second")
        .body("text/plain", "many headers");
    let long_tail: String = (0..460).map(|i| format!("/seg{i:05}")).collect();

    vec![
        Shape::new("get", "GET"),
        Shape::new("head", "HEAD"),
        Shape::new("options", "OPTIONS"),
        Shape::new("empty-post", "POST"),
        Shape::new("delete-with-body", "DELETE")
            .body("application/json", r#"{"reason":"tombstone"}"#)
            .words(&["tombstone"]),
        Shape::new("all-bytes", "POST")
            .body("application/octet-stream", (0..=255u8).collect::<Vec<u8>>()),
        Shape::new("invalid-utf8-json", "POST")
            .body("application/json", b"{\"name\":\"caf\xe9\"}".to_vec()),
        Shape::new("one-byte", "PUT").body("text/plain", "z"),
        Shape::new("multipart", "POST")
            .body(&multipart_type, multipart)
            .file(SentFile {
                field: "upload",
                number: 2,
                filename: "blob.bin",
                bytes: MULTIPART_FILE,
                content_type: "application/octet-stream",
            })
            .form(json!({ "note": "multipart text part" })),
        Shape::new("urlencoded", "POST")
            .body(
                "application/x-www-form-urlencoded",
                "name=J%C3%BCrgen&city=M%C3%BCnchen+Ost&tag=a&tag=b&tag=%E2%82%AC&note=formword",
            )
            .form(json!({
                "name": "Jürgen",
                "city": "München Ost",
                "tag": ["a", "b", "€"],
                "note": "formword",
            }))
            .words(&["formword"]),
        Shape::new("deep-json", "POST").body("application/json", deep_json),
        Shape::new("long-line", "POST")
            .body("text/plain", long_line)
            .words(&["longlineword"]),
        Shape::new("gzip", "POST")
            .header("Content-Encoding", "gzip")
            .body(
                "application/json",
                gzip(br#"{"compressed":"gzipword","n":[1,2,3]}"#),
            ),
        Shape::new("utf16-json", "POST").body(
            "application/json; charset=utf-16",
            utf16le_with_bom(r#"{"wide":"utf16word"}"#),
        ),
        Shape::new("crlf-text", "POST")
            .body(
                "text/plain",
                "line one crlfword\r\nline two\r\n\r\nline four\r\n",
            )
            .words(&["crlfword"]),
        Shape::new("xml", "POST")
            .body(
                "application/xml",
                "<?xml version=\"1.0\"?>\n<order id=\"7\"><item>xmlword</item></order>",
            )
            .words(&["xmlword"]),
        many_headers,
        Shape::new("query-nul-ff", "GET").query(
            "nul=%00&ff=%FF&x=1&x=2",
            json!({ "nul": "\u{0}", "ff": "\u{fffd}", "x": ["1", "2"] }),
        ),
        Shape::new("long-path", "GET").path_tail(long_tail.as_bytes()),
        Shape::new("non-utf8-header", "POST")
            .header("X-Bin", b"caf\xe9".to_vec())
            .body("text/plain", "latin one header"),
        Shape::new("utf8-path", "GET")
            .path_tail("/café/ünïcödé/日本".as_bytes())
            .query("city=Zürich", json!({ "city": "Zürich" })),
        Shape::new("chunked", "POST")
            .chunked(7)
            .body("text/plain", "chunkword arrives in pieces of seven bytes")
            .words(&["chunkword"]),
        Shape::new("http10-no-host", "POST")
            .http10_without_host()
            .body("text/plain", "legacyword from an old client")
            .words(&["legacyword"]),
    ]
}

// ---------------------------------------------------------------------------
// The run

/// One server, one bin, every shape captured into it.
struct Run {
    app: TestApp,
    bin: Uuid,
    /// Each shape with the id it was stored under, in sending order.
    captured: Vec<(Shape, Uuid)>,
}

impl Run {
    fn ids(&self) -> Vec<Uuid> {
        self.captured.iter().map(|(_, id)| *id).collect()
    }

    fn ids_where(&self, keep: impl Fn(&Shape) -> bool) -> BTreeSet<Uuid> {
        self.captured
            .iter()
            .filter(|(shape, _)| keep(shape))
            .map(|(_, id)| *id)
            .collect()
    }

    fn name_of(&self, id: Uuid) -> &str {
        self.captured
            .iter()
            .find(|(_, i)| *i == id)
            .map_or("(not a shape)", |(shape, _)| shape.name)
    }

    /// `GET path`; any 5xx fails the test, naming `what`.
    async fn get(&self, what: &str, path: &str, accept: &str) -> reqwest::Response {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .header("Accept", accept)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: GET {path}: {e}"));
        assert!(
            !response.status().is_server_error(),
            "{what}: GET {path} answered {}",
            response.status()
        );
        response
    }

    /// The JSON of `GET path`, which must answer 200.
    async fn get_json(&self, what: &str, path: &str) -> Value {
        let response = self.get(what, path, "application/json").await;
        assert_eq!(response.status(), 200, "{what}: GET {path}");
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: GET {path}: not JSON: {e}"))
    }

    /// Ids of a search through the API (all on one page).
    async fn search(&self, query: &str) -> BTreeSet<Uuid> {
        let url = reqwest::Url::parse_with_params(
            &self.app.url(&format!("/token/{}/requests", self.bin)),
            &[("query", query), ("per_page", "100")],
        )
        .expect("url");
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let page = self.get_json(&format!("API search {query:?}"), &path).await;
        uuids(&page["data"], &format!("API search {query:?}"))
    }
}

fn uuid_of(object: &Value, what: &str) -> Uuid {
    let text = object["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no uuid in {object}"));
    Uuid::parse_str(text).unwrap_or_else(|e| panic!("{what}: uuid {text:?}: {e}"))
}

fn uuids(data: &Value, what: &str) -> BTreeSet<Uuid> {
    let list = data
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not a list: {data}"));
    let set: BTreeSet<Uuid> = list.iter().map(|o| uuid_of(o, what)).collect();
    assert_eq!(set.len(), list.len(), "{what}: an id listed twice");
    set
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Sends every shape, in order; each must be stored (200 with its id).
async fn capture_all(app: &TestApp, bin: Uuid) -> Vec<(Shape, Uuid)> {
    let mut captured = Vec::new();
    for shape in shapes() {
        let answer = app.raw(&shape.wire(bin)).await;
        let head = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
        assert_eq!(
            status_of(&answer),
            200,
            "shape {}: capture answered {head:?}",
            shape.name
        );
        let id = header_of(&answer, "x-request-id")
            .unwrap_or_else(|| panic!("shape {}: no X-Request-Id in {head:?}", shape.name));
        let id = Uuid::parse_str(&id).expect("request uuid");
        captured.push((shape, id));
    }
    captured
}

both_backends!(
    every_shape_reads_back_right_through_every_read_path,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn every_shape_reads_back_right_through_every_read_path(backend: Backend) {
    count_logged_errors();
    let started = Instant::now();
    let app = TestApp::spawn_on_backend(backend).await;
    let bin = app.new_bin().await;
    // A dashboard watching while the requests land.
    let watching = open_feed(&app, bin, "").await;
    let captured = capture_all(&app, bin).await;
    let run = Run { app, bin, captured };

    let api = api_objects(&run).await;
    raw_bodies(&run).await;
    detail_pages(&run).await;
    list_paging(&run, &api).await;
    api_search(&run).await;
    dashboard_search(&run).await;
    exports(&run, &api).await;
    live_feed(&run, &api, watching, "live feed as requests land").await;
    let replayed = open_feed(&run.app, bin, &format!("?after={}", Uuid::nil())).await;
    live_feed(&run, &api, replayed, "live feed replayed after the nil id").await;
    forward_replay(&run).await;
    search_after_everything(&run).await;

    assert_eq!(
        ERRORS.load(Ordering::SeqCst),
        0,
        "the server logged at ERROR (printed above)"
    );
    run.app.stop().await;
    eprintln!("shapes: done in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// Read path 1: the API object

async fn api_objects(run: &Run) -> HashMap<Uuid, Value> {
    let bin = run.bin;
    let mut objects = HashMap::new();
    for (shape, id) in &run.captured {
        let what = format!("shape {}, API object", shape.name);
        let object = run
            .get_json(&what, &format!("/token/{bin}/request/{id}"))
            .await;
        check_request_object(shape, *id, bin, &object, &what);
        objects.insert(*id, object);
    }
    objects
}

/// Checks a request object (API, list, export, live feed) against what was
/// sent.
fn check_request_object(shape: &Shape, id: Uuid, bin: Uuid, object: &Value, what: &str) {
    assert_eq!(object["uuid"], id.to_string(), "{what}: uuid");
    assert_eq!(object["token_id"], bin.to_string(), "{what}: token_id");
    assert_eq!(object["method"], shape.method, "{what}: method");
    assert_eq!(object["path"], shape.path(bin), "{what}: path");
    assert_eq!(
        object["query_string"],
        json!(shape.query),
        "{what}: query_string"
    );
    assert_eq!(object["query"], shape.decoded_query, "{what}: query");
    assert_eq!(
        object["http_version"], shape.version,
        "{what}: http_version"
    );
    assert_eq!(object["size"], shape.body.len(), "{what}: size");
    assert_eq!(object["files"], shape.expected_files(id), "{what}: files");
    assert_eq!(object["request"], shape.form, "{what}: request");

    let sent = shape.sent_headers();
    let lossy: Vec<(String, String)> = sent
        .iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert_eq!(object["raw_headers"], json!(lossy), "{what}: raw_headers");
    let exact = sent.iter().any(|(_, v)| std::str::from_utf8(v).is_err());
    if exact {
        let encoded: Vec<(String, String)> =
            sent.iter().map(|(n, v)| (n.clone(), base64(v))).collect();
        assert_eq!(
            object["raw_headers_base64"],
            json!(encoded),
            "{what}: raw_headers_base64"
        );
    } else {
        assert!(
            object.get("raw_headers_base64").is_none(),
            "{what}: raw_headers_base64 without a non-UTF-8 value"
        );
    }
    let mut grouped = serde_json::Map::new();
    for (name, value) in &lossy {
        let values = grouped
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| json!([]));
        values.as_array_mut().expect("array").push(json!(value));
    }
    assert_eq!(object["headers"], Value::Object(grouped), "{what}: headers");

    let host = sent
        .iter()
        .find(|(n, _)| n == "Host")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    assert_eq!(object["hostname"], json!(host), "{what}: hostname");
    let base = host.map_or_else(|| "http://localhost".to_owned(), |h| format!("http://{h}"));
    assert_eq!(
        object["url"],
        format!("{base}{}", shape.path_and_query(bin)),
        "{what}: url"
    );

    match std::str::from_utf8(&shape.body) {
        Ok(text) => {
            assert!(object["content"] == text, "{what}: content differs");
            assert_eq!(
                object["content_encoding"], "utf8",
                "{what}: content_encoding"
            );
        }
        Err(_) => {
            assert!(
                object["content"] == base64(&shape.body),
                "{what}: content is not the body's base64"
            );
            assert_eq!(
                object["content_encoding"], "base64",
                "{what}: content_encoding"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Read path 2: the raw body, and each file part by its id

async fn raw_bodies(run: &Run) {
    file_downloads(run).await;
    for (shape, id) in &run.captured {
        let what = format!("shape {}, /raw", shape.name);
        let path = format!("/token/{}/request/{id}/raw", run.bin);
        let response = run.get(&what, &path, "*/*").await;
        assert_eq!(response.status(), 200, "{what}");
        let bytes = response.bytes().await.expect("raw body");
        assert!(
            bytes[..] == shape.body[..],
            "{what}: {} bytes back for {} sent",
            bytes.len(),
            shape.body.len()
        );
    }
}

async fn file_downloads(run: &Run) {
    for (shape, id) in &run.captured {
        for file in &shape.files {
            let what = format!("shape {}, file {}", shape.name, file.field);
            let file_id = hookscope::multipart::file_id(*id, file.number);
            let path = format!("/token/{}/request/{id}/download/{file_id}", run.bin);
            let response = run.get(&what, &path, "*/*").await;
            assert_eq!(response.status(), 200, "{what}");
            let bytes = response.bytes().await.expect("file bytes");
            assert!(bytes[..] == *file.bytes, "{what}: other bytes came back");
        }
    }
}

// ---------------------------------------------------------------------------
// Read path 3: the detail page (being redesigned: only status, HTML, id)

async fn detail_pages(run: &Run) {
    for (shape, id) in &run.captured {
        let what = format!("shape {}, detail page", shape.name);
        let path = format!("/view/{}?r={id}", run.bin);
        let response = run.get(&what, &path, "text/html").await;
        assert_eq!(response.status(), 200, "{what}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("content type")
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{what}: {content_type}"
        );
        let html = response.text().await.expect("html");
        assert!(
            html.contains(&id.to_string()),
            "{what}: the id is not on it"
        );
    }
}

// ---------------------------------------------------------------------------
// Read path 4: list paging, both orders

async fn list_paging(run: &Run, api: &HashMap<Uuid, Value>) {
    let bin = run.bin;
    let in_order = run.ids();
    for sorting in ["oldest", "newest"] {
        let what = format!("list paging, sorting={sorting}");
        let mut listed = Vec::new();
        for page in 1.. {
            assert!(page <= in_order.len() + 1, "{what}: never a last page");
            let body = run
                .get_json(
                    &what,
                    &format!(
                        "/token/{bin}/requests?per_page={PER_PAGE}&page={page}&sorting={sorting}"
                    ),
                )
                .await;
            let what = format!("{what}, page {page}");
            assert_eq!(body["total"], in_order.len(), "{what}: total");
            assert_eq!(body["current_page"], page, "{what}: current_page");
            let data = body["data"].as_array().expect("data");
            assert!(data.len() <= PER_PAGE, "{what}: {} rows", data.len());
            for object in data {
                let id = uuid_of(object, &what);
                // The list carries the same objects as the API.
                let mut expected = api.get(&id).cloned().unwrap_or_default();
                if let Some(o) = expected.as_object_mut() {
                    o.remove("response");
                }
                assert!(
                    *object == expected,
                    "{what}: shape {}: listed object differs from the API's",
                    run.name_of(id)
                );
                listed.push(id);
            }
            if body["is_last_page"] == true {
                break;
            }
        }
        let mut expected = in_order.clone();
        if sorting == "newest" {
            expected.reverse();
        }
        assert_eq!(listed, expected, "{what}: not every request once, in order");
    }
}

// ---------------------------------------------------------------------------
// Read path 5: search through the API

async fn api_search(run: &Run) {
    for (shape, id) in &run.captured {
        let only = BTreeSet::from([*id]);
        let token = shape.token();
        let what = |term: &str| format!("shape {}, API search {term:?}", shape.name);
        let term = format!("header.x-shape:{token}");
        assert_eq!(run.search(&term).await, only, "{}", what(&term));
        let term = format!("path:/s/{token}");
        assert_eq!(run.search(&term).await, only, "{}", what(&term));
        for word in &shape.body_words {
            assert_eq!(run.search(word).await, only, "{}", what(word));
        }
    }
    let methods: BTreeSet<&str> = run.captured.iter().map(|(s, _)| s.method).collect();
    for method in methods {
        let term = format!("method:{method}");
        let expected = run.ids_where(|s| s.method == method);
        assert_eq!(run.search(&term).await, expected, "API search {term:?}");
    }
    // A header only one shape sends, and a word in no request.
    let expected = run.ids_where(|s| s.name == "non-utf8-header");
    assert_eq!(
        run.search("header.x-bin:caf").await,
        expected,
        "header.x-bin"
    );
    assert!(run.search("nosuchwordanywhere").await.is_empty());
}

// ---------------------------------------------------------------------------
// Read path 6: the dashboard's search

async fn dashboard_search(run: &Run) {
    let every = run.ids();
    let checks: Vec<(String, BTreeSet<Uuid>)> = vec![
        // No search: the first page lists them all.
        (String::new(), every.iter().copied().collect()),
        (
            "header.x-shape:kxml".to_owned(),
            run.ids_where(|s| s.name == "xml"),
        ),
        (
            "method:HEAD".to_owned(),
            run.ids_where(|s| s.method == "HEAD"),
        ),
        (
            "method:GET".to_owned(),
            run.ids_where(|s| s.method == "GET"),
        ),
        (
            "path:/s/kgzip".to_owned(),
            run.ids_where(|s| s.name == "gzip"),
        ),
        (
            "chunkword".to_owned(),
            run.ids_where(|s| s.name == "chunked"),
        ),
    ];
    for (query, expected) in checks {
        let what = format!("dashboard search {query:?}");
        let url = reqwest::Url::parse_with_params(
            &run.app.url(&format!("/view/{}", run.bin)),
            &[("q", query.as_str())],
        )
        .expect("url");
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let response = run.get(&what, &path, "text/html").await;
        assert_eq!(response.status(), 200, "{what}");
        let html = response.text().await.expect("html");
        for id in &every {
            assert_eq!(
                html.contains(&id.to_string()),
                expected.contains(id),
                "{what}: shape {} listed or missing wrongly",
                run.name_of(*id)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Read path 7: JSON and HAR exports

async fn exports(run: &Run, api: &HashMap<Uuid, Value>) {
    let bin = run.bin;
    let exported = run
        .get_json("JSON export", &format!("/view/{bin}/export.json"))
        .await;
    let objects = exported.as_array().expect("the JSON export is an array");
    assert_eq!(objects.len(), run.captured.len(), "JSON export: count");
    let by_id: HashMap<Uuid, &Value> = objects
        .iter()
        .map(|o| (uuid_of(o, "JSON export"), o))
        .collect();
    for (shape, id) in &run.captured {
        let what = format!("shape {}, JSON export", shape.name);
        let object = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{what}: not exported"));
        check_request_object(shape, *id, bin, object, &what);
        let mut expected = api[id].clone();
        if let Some(o) = expected.as_object_mut() {
            o.remove("response");
        }
        assert!(
            **object == expected,
            "{what}: differs from the API object: {}",
            diff(object, &expected)
        );
    }

    let har = run
        .get_json("HAR export", &format!("/view/{bin}/export.har"))
        .await;
    assert_eq!(har["log"]["version"], "1.2", "HAR export: version");
    let entries = har["log"]["entries"].as_array().expect("HAR entries");
    assert_eq!(entries.len(), run.captured.len(), "HAR export: count");
    for (shape, id) in &run.captured {
        let what = format!("shape {}, HAR export", shape.name);
        let marker = format!("hookscope request {id} ");
        let entry = entries
            .iter()
            .find(|e| {
                e["request"]["comment"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(&marker))
            })
            .unwrap_or_else(|| panic!("{what}: no entry names the id"));
        let request = &entry["request"];
        assert_eq!(request["method"], shape.method, "{what}: method");
        assert_eq!(request["httpVersion"], shape.version, "{what}: httpVersion");
        assert_eq!(request["bodySize"], shape.body.len(), "{what}: bodySize");
        let headers: Vec<(String, String)> = request["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| {
                let text = |key: &str| h[key].as_str().expect("name and value").to_owned();
                (text("name"), text("value"))
            })
            .collect();
        let sent: Vec<(String, String)> = shape
            .sent_headers()
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        assert_eq!(headers, sent, "{what}: headers in order");
        let url = request["url"].as_str().expect("url");
        assert!(
            url.ends_with(&shape.path_and_query(bin)),
            "{what}: url {url:?}"
        );
        let post = &request["postData"];
        if shape.body.is_empty() {
            assert!(post.is_null(), "{what}: postData for an empty body");
        } else if shape.is_utf8() {
            assert!(
                post["text"] == *std::str::from_utf8(&shape.body).expect("utf-8"),
                "{what}: postData.text"
            );
            assert!(post.get("encoding").is_none(), "{what}: encoding on text");
        } else {
            assert_eq!(post["encoding"], "base64", "{what}: postData.encoding");
            assert!(
                post["text"] == base64(&shape.body),
                "{what}: postData.text is not the base64"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Read path 8: the live feed, as requests land and replayed from the start

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_feed(app: &TestApp, bin: Uuid, query: &str) -> Socket {
    let url = format!("ws://{}/live/{bin}{query}", app.addr);
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("live feed: websocket");
    assert_eq!(response.status(), 101, "live feed: upgrade");
    socket
}

/// Reads one message per captured request from `socket`: each must be the
/// API's object, and they come in capture order.
async fn live_feed(run: &Run, api: &HashMap<Uuid, Value>, mut socket: Socket, feed: &str) {
    let mut seen = Vec::new();
    while seen.len() < run.captured.len() {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .unwrap_or_else(|_| panic!("{feed}: only {} messages came", seen.len()))
            .unwrap_or_else(|| panic!("{feed}: socket closed"))
            .unwrap_or_else(|e| panic!("{feed}: {e}"));
        let text = match message {
            Message::Text(text) => text,
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("{feed}: unexpected frame {other:?}"),
        };
        let message: Value = serde_json::from_str(&text).expect("live feed: JSON");
        assert_eq!(message["type"], "request", "{feed}: message type");
        let object = &message["request"];
        let id = uuid_of(object, feed);
        let what = format!("shape {}, {feed}", run.name_of(id));
        let mut expected = api
            .get(&id)
            .cloned()
            .unwrap_or_else(|| panic!("{what}: not a captured id"));
        if let Some(o) = expected.as_object_mut() {
            o.remove("response");
        }
        assert!(
            *object == expected,
            "{what}: differs from the API object: {}",
            diff(object, &expected)
        );
        seen.push(id);
    }
    assert_eq!(seen, run.ids(), "{feed}: every request once, in order");
    let _ = socket.close(None).await;
}

/// The top-level fields where two objects differ, for failure messages
/// that do not print megabytes.
fn diff(a: &Value, b: &Value) -> String {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return "not objects".into();
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| {
                let text = v.map_or("(absent)".into(), Value::to_string);
                text.chars().take(200).collect::<String>()
            };
            format!("{k}: {} vs {}", show(a.get(k)), show(b.get(k)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------
// Read path 9: `hookscope forward --replay`

async fn forward_replay(run: &Run) {
    let mut target = Recorder::start().await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookscope"));
    command
        .arg("forward")
        .arg("--url")
        .arg(run.app.url(&format!("/{}", run.bin)))
        .arg("--target")
        .arg(target.target("/hooks"))
        .arg("--retries")
        .arg("0")
        .arg("--replay")
        .args(run.ids().iter().map(Uuid::to_string))
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    let output = tokio::time::timeout(WAIT, command.output())
        .await
        .expect("forward --replay: finished in time")
        .expect("forward --replay: ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "forward --replay: {}: {stderr}",
        output.status
    );
    assert!(
        !stderr.contains("ERROR"),
        "forward --replay logged: {stderr}"
    );

    let mut received: HashMap<String, Vec<u8>> = HashMap::new();
    for _ in &run.captured {
        let request = target.next().await;
        let head = String::from_utf8_lossy(&request[..request.len() - body_of(&request).len()])
            .into_owned();
        let shape = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-shape")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("forward --replay: a request without X-Shape: {head:?}"));
        assert!(
            received.insert(shape.clone(), request).is_none(),
            "forward --replay: {shape} arrived twice"
        );
    }
    for (shape, _) in &run.captured {
        let what = format!("shape {}, forward --replay", shape.name);
        let request = received
            .get(&shape.token())
            .unwrap_or_else(|| panic!("{what}: never arrived"));
        let line_end = request
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a request line");
        let mut expected_line = format!("{} /hooks", shape.method).into_bytes();
        expected_line.extend_from_slice(&shape.sub_path);
        if let Some(q) = &shape.query {
            expected_line.extend_from_slice(format!("?{q}").as_bytes());
        }
        expected_line.extend_from_slice(b" HTTP/1.1");
        assert!(
            request[..line_end] == expected_line[..],
            "{what}: request line {:?}",
            String::from_utf8_lossy(&request[..line_end.min(300)])
        );
        assert!(
            body_of(request) == &shape.body[..],
            "{what}: {} body bytes arrived for {} sent",
            body_of(request).len(),
            shape.body.len()
        );
        for (name, value) in shape.sent_headers() {
            let lower = name.to_ascii_lowercase();
            if ["host", "connection", "content-length", "transfer-encoding"]
                .contains(&lower.as_str())
            {
                continue;
            }
            let mut field = name.into_bytes();
            field.extend_from_slice(b": ");
            field.extend_from_slice(&value);
            field.extend_from_slice(b"\r\n");
            assert!(
                request.windows(field.len()).any(|w| w == field),
                "{what}: header {:?} not relayed exactly",
                String::from_utf8_lossy(&field)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Finally: a request after all of them is still found

async fn search_after_everything(run: &Run) {
    let response = run
        .app
        .post_to_bin(run.bin, "/s/fresh", "freshzebra arrives last")
        .await;
    assert_eq!(response.status(), 200, "the last capture");
    let id = TestApp::request_id(&response);
    assert_eq!(
        run.search("freshzebra").await,
        BTreeSet::from([id]),
        "a word of a request sent after every shape"
    );
}
