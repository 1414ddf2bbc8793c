//! CSV export: every awkward shape of request (binary, not UTF-8, commas,
//! quotes, line breaks, formula-like text) read back through a real CSV
//! parser gives exactly the stored values; the API and the dashboard take
//! the list's filters; the download is an attachment.

mod support;

use std::collections::HashMap;

use base64::Engine as _;
use hookscope::model::CapturedRequest;
use support::TestApp;
use uuid::Uuid;

const COLUMNS: [&str; 11] = [
    "uuid",
    "time",
    "method",
    "url",
    "ip",
    "size",
    "content_type",
    "body_encoding",
    "body",
    "signature",
    "signature_reason",
];

/// One request as written on the wire.
struct Shape {
    name: &'static str,
    method: &'static str,
    /// Below `/{bin}`, with the query string.
    target: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

fn shapes() -> Vec<Shape> {
    let shape = |name, method, target, content_type, body: &[u8]| Shape {
        name,
        method,
        target,
        content_type,
        body: body.to_vec(),
    };
    vec![
        shape("empty GET", "GET", "", None, b""),
        shape(
            "json",
            "POST",
            "/hooks?a=1,2&b=%22x%22",
            Some("application/json"),
            br#"{"a": "b, c", "q": "\"quoted\""}"#,
        ),
        shape(
            "every byte",
            "PUT",
            "/bin",
            Some("application/octet-stream"),
            &(0..=255u8).collect::<Vec<_>>(),
        ),
        shape(
            "latin-1",
            "POST",
            "",
            Some("text/plain; charset=iso-8859-1"),
            b"caf\xe9, na\xefve",
        ),
        shape(
            "commas and quotes",
            "POST",
            "",
            Some("text/csv"),
            b"a,b,\"c\"\n1,\"2,3\",4",
        ),
        shape(
            "line breaks",
            "POST",
            "",
            Some("text/plain"),
            b"one\r\ntwo\nthree\rfour\r\n",
        ),
        shape(
            "formula =",
            "POST",
            "",
            Some("text/plain"),
            b"=HYPERLINK(\"http://evil\",\"x\")",
        ),
        shape("formula +", "POST", "", Some("text/plain"), b"+1+1"),
        shape("formula -", "POST", "", Some("text/plain"), b"-2+3"),
        shape("formula @", "POST", "", Some("text/plain"), b"@SUM(1,2)"),
        shape("formula tab", "POST", "", Some("text/plain"), b"\t=1"),
        shape("formula cr", "POST", "", Some("text/plain"), b"\r=1"),
        shape("already quoted", "POST", "", Some("text/plain"), b"'=1"),
        shape(
            "unicode and NUL",
            "PATCH",
            "/%E2%9C%93",
            Some("text/plain; charset=utf-8"),
            "✓ zebrafish \0 end".as_bytes(),
        ),
        shape(
            "formula content type",
            "POST",
            "",
            Some("=cmd|' /C calc'!A0"),
            b"x",
        ),
        shape("odd method", "-X", "", None, b""),
    ]
}

/// Sends `shape` as raw HTTP/1 bytes; the id the server gave it.
async fn send(app: &TestApp, bin: Uuid, shape: &Shape) -> Uuid {
    let mut raw = format!(
        "{} /{bin}{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        shape.method,
        shape.target,
        app.addr,
        shape.body.len()
    )
    .into_bytes();
    if let Some(content_type) = shape.content_type {
        raw.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&shape.body);
    let answer = app.raw(&raw).await;
    assert_eq!(support::status_of(&answer), 200, "{}", shape.name);
    let id = support::header_of(&answer, "x-request-id").expect("X-Request-Id");
    Uuid::parse_str(&id).expect("request uuid")
}

/// Undoes the export's formula guard: one leading `'` is dropped.
fn unguard(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// The rows of a CSV text, checking its header row; cells unguarded.
fn parse(text: &str) -> Vec<HashMap<&'static str, String>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header row")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, COLUMNS);
    reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed CSV record");
            assert_eq!(record.len(), COLUMNS.len());
            COLUMNS
                .iter()
                .zip(record.iter())
                .map(|(name, cell)| (*name, unguard(cell).to_owned()))
                .collect()
        })
        .collect()
}

/// The row's body cell decoded by its encoding cell.
fn body_of(row: &HashMap<&'static str, String>) -> Vec<u8> {
    match row["body_encoding"].as_str() {
        "text" => row["body"].clone().into_bytes(),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(&row["body"])
            .expect("base64 body"),
        other => panic!("unknown body encoding {other:?}"),
    }
}

async fn stored(app: &TestApp, bin: Uuid, id: Uuid) -> CapturedRequest {
    app.state
        .store
        .request(bin, id)
        .await
        .expect("read")
        .expect("stored")
}

async fn get_csv(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    response.text().await.expect("UTF-8 CSV")
}

both_backends!(every_shape_reads_back_from_the_csv_as_stored);
async fn every_shape_reads_back_from_the_csv_as_stored(app: TestApp) {
    let bin = app.new_bin().await;
    let shapes = shapes();
    let mut ids = Vec::new();
    for shape in &shapes {
        ids.push(send(&app, bin, shape).await);
    }

    let text = get_csv(&app, &format!("/token/{bin}/requests.csv")).await;
    let rows = parse(&text);
    let exported: Vec<Uuid> = rows
        .iter()
        .map(|row| Uuid::parse_str(&row["uuid"]).expect("uuid cell"))
        .collect();
    assert_eq!(exported, ids, "one row per request, oldest first");

    for ((shape, id), row) in shapes.iter().zip(&ids).zip(&rows) {
        let req = stored(&app, bin, *id).await;
        let name = shape.name;
        assert_eq!(req.body, shape.body, "{name}: stored as sent");
        assert_eq!(row["time"], req.received_at.to_rfc3339(), "{name}");
        assert!(row["time"].ends_with('Z'), "{name}: UTC");
        assert_eq!(row["method"], req.method, "{name}");
        assert_eq!(
            row["url"],
            format!("http://{}{}", app.addr, req.path_and_query()),
            "{name}"
        );
        assert_eq!(row["ip"], "127.0.0.1", "{name}");
        assert_eq!(row["size"], shape.body.len().to_string(), "{name}");
        assert_eq!(
            row["content_type"],
            req.header_str("content-type").unwrap_or_default(),
            "{name}"
        );
        let expected_encoding = if std::str::from_utf8(&shape.body).is_ok() {
            "text"
        } else {
            "base64"
        };
        assert_eq!(row["body_encoding"], expected_encoding, "{name}");
        assert_eq!(body_of(row), shape.body, "{name}");
    }

    // The guard is there in the raw text: no cell starts a formula.
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    for record in reader.records() {
        for cell in record.expect("record").iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unguarded cell {cell:?}"
            );
        }
    }
    app.stop().await;
}

both_backends!(the_export_takes_the_lists_filters);
async fn the_export_takes_the_lists_filters(app: TestApp) {
    let bin = app.new_bin().await;
    let first = TestApp::request_id(&app.post_to_bin(bin, "", "a zebrafish swims").await);
    let second = TestApp::request_id(&app.post_to_bin(bin, "", "a cat sleeps").await);
    let third = TestApp::request_id(&app.post_to_bin(bin, "", "zebrafish again").await);
    let ids = |text: &str| -> Vec<Uuid> {
        parse(text)
            .iter()
            .map(|row| Uuid::parse_str(&row["uuid"]).expect("uuid"))
            .collect()
    };

    let all = get_csv(&app, &format!("/token/{bin}/requests.csv")).await;
    assert_eq!(ids(&all), [first, second, third]);
    // webhook.site's own route for it answers the same.
    let webhook_site = get_csv(&app, &format!("/token/{bin}/requests/export")).await;
    assert_eq!(webhook_site, all);
    let newest = get_csv(&app, &format!("/token/{bin}/requests.csv?sorting=newest")).await;
    assert_eq!(ids(&newest), [third, second, first]);
    let searched = get_csv(&app, &format!("/token/{bin}/requests.csv?query=zebrafish")).await;
    assert_eq!(ids(&searched), [first, third]);
    let future = get_csv(
        &app,
        &format!("/token/{bin}/requests.csv?date_from=2999-01-01"),
    )
    .await;
    assert_eq!(
        ids(&future),
        Vec::<Uuid>::new(),
        "a header row and nothing else"
    );
    let past = get_csv(
        &app,
        &format!("/token/{bin}/requests.csv?date_to=2000-01-01"),
    )
    .await;
    assert_eq!(ids(&past), Vec::<Uuid>::new());

    // The dashboard's export takes its search box's `q`.
    let dashboard = get_csv(
        &app,
        &format!("/view/{bin}/export.csv?sorting=newest&q=zebrafish"),
    )
    .await;
    assert_eq!(ids(&dashboard), [third, first]);

    let bad = app
        .get(&format!("/token/{bin}/requests.csv?sorting=sideways"))
        .await;
    assert_eq!(bad.status(), 400);
    let unknown = app
        .get(&format!("/token/{}/requests.csv", Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}

both_backends!(the_dashboard_links_to_the_csv_of_what_it_shows);
async fn the_dashboard_links_to_the_csv_of_what_it_shows(app: TestApp) {
    let bin = app.new_bin().await;
    let html = app.html(&format!("/view/{bin}")).await;
    assert!(
        html.contains(&format!(
            "<a href=\"/view/{bin}/export.csv?sorting=newest\" download>Export CSV</a>"
        )),
        "no CSV link on the dashboard"
    );
    let searched = app.html(&format!("/view/{bin}?q=a%2Cb")).await;
    assert!(
        searched.contains(&format!(
            "href=\"/view/{bin}/export.csv?sorting=newest&#38;q=a%2Cb\""
        )),
        "the CSV link does not carry the search: {searched}"
    );
    app.stop().await;
}

both_backends!(a_large_bin_exports_every_request_once);
async fn a_large_bin_exports_every_request_once(app: TestApp) {
    let bin = app.new_bin().await;
    // More than one page of the store (500), in both orders.
    let mut ids = Vec::new();
    for i in 0..1203 {
        ids.push(TestApp::request_id(
            &app.post_to_bin(bin, "", format!("request {i}")).await,
        ));
    }
    let oldest = parse(&get_csv(&app, &format!("/token/{bin}/requests.csv")).await);
    let got: Vec<Uuid> = oldest
        .iter()
        .map(|row| Uuid::parse_str(&row["uuid"]).expect("uuid"))
        .collect();
    assert_eq!(got, ids);
    let newest = parse(&get_csv(&app, &format!("/view/{bin}/export.csv?sorting=newest")).await);
    let mut got: Vec<Uuid> = newest
        .iter()
        .map(|row| Uuid::parse_str(&row["uuid"]).expect("uuid"))
        .collect();
    got.reverse();
    assert_eq!(got, ids);
    app.stop().await;
}

both_backends!(the_dashboard_export_works_through_the_bins_alias);
async fn the_dashboard_export_works_through_the_bins_alias(app: TestApp) {
    let bin = app.new_bin().await;
    let set = app
        .client
        .put(app.url(&format!("/token/{bin}")))
        .json(&serde_json::json!({ "alias": "csv-shop" }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(set.status(), 200);
    let id = TestApp::request_id(&app.post_to_bin(bin, "", "via alias").await);
    let rows = parse(&get_csv(&app, "/view/csv-shop/export.csv").await);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["uuid"], id.to_string());
    assert_eq!(rows[0]["body"], "via alias");
    app.stop().await;
}
