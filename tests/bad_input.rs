//! Every bad input gets its documented answer — a clear 4xx with a one-line
//! reason, or a capture stored exactly — never a 5xx, and the server serves
//! the next request. Many of these refusals are hyper's own (it answers a
//! head it cannot parse before any handler runs); they carry a reason too.

mod support;

use std::io::Write as _;
use std::time::{Duration, Instant};

use hookscope::model::CapturedRequest;
use support::{header_of, status_of, Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

/// What a bad input must get.
enum Expect {
    /// This status with a one-line plain-text reason containing these
    /// words, and nothing stored.
    Refused(u16, &'static str),
    /// 200, and the stored request passes the check.
    Stored(fn(&CapturedRequest)),
}

struct Case {
    name: &'static str,
    wire: Vec<u8>,
    expect: Expect,
}

/// `head` (with `{bin}` replaced) then a blank line, then `body`.
fn request(head: &str, bin: Uuid, body: &[u8]) -> Vec<u8> {
    let mut wire = head.replace("{bin}", &bin.to_string()).into_bytes();
    wire.extend_from_slice(b"\r\n\r\n");
    wire.extend_from_slice(body);
    wire
}

fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).expect("compress");
    }
    encoder.finish().expect("compress")
}

fn cases(bin: Uuid) -> Vec<Case> {
    let mut path_ff = format!("POST /{bin}/caf").into_bytes();
    path_ff.extend_from_slice(b"\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut query_ff = format!("POST /{bin}?q=").into_bytes();
    query_ff.extend_from_slice(b"\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut value_ff = format!("POST /{bin} HTTP/1.1\r\nHost: x\r\nX-Bytes: ").into_bytes();
    value_ff
        .extend_from_slice(b"\xff\xfe\x80 ok\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    let many_headers = {
        let fields: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
        request(
            &format!("POST /{{bin}} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close"),
            bin,
            b"",
        )
    };
    let huge_header = request(
        &format!(
            "POST /{{bin}} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close",
            "a".repeat(100 * 1024)
        ),
        bin,
        b"",
    );
    let bomb = gzip_bomb();
    let gzip = request(
        &format!(
            "POST /{{bin}} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close",
            bomb.len()
        ),
        bin,
        &bomb,
    );
    vec![
        Case {
            name: "invalid UTF-8 in the path",
            wire: path_ff,
            expect: Expect::Refused(400, TARGET_FF),
        },
        Case {
            name: "invalid UTF-8 in the query",
            wire: query_ff,
            expect: Expect::Refused(400, TARGET_FF),
        },
        Case {
            name: "invalid UTF-8 in a header value",
            wire: value_ff,
            expect: Expect::Stored(|req| {
                let value = req.headers.iter().find(|h| h.name == "X-Bytes");
                assert_eq!(value.expect("X-Bytes").value, b"\xff\xfe\x80 ok");
            }),
        },
        Case {
            name: "invalid UTF-8 in the body",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close",
                bin,
                b"\xc3\x28\xff\x00",
            ),
            expect: Expect::Stored(|req| assert_eq!(&req.body[..], b"\xc3\x28\xff\x00")),
        },
        Case {
            name: "10 000 header fields",
            wire: many_headers,
            expect: Expect::Refused(431, TOO_MANY_BYTES),
        },
        Case {
            name: "a 100 KiB header field",
            wire: huge_header,
            expect: Expect::Refused(431, TOO_MANY_BYTES),
        },
        Case {
            name: "a gzip bomb (64 MiB of zeros) is stored compressed",
            wire: gzip,
            expect: Expect::Stored(|req| {
                assert!(req.body.len() < 200 * 1024, "stored as sent, not inflated");
                assert_eq!(&req.body[..2], b"\x1f\x8b");
            }),
        },
        Case {
            name: "malformed JSON with a JSON content type",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 11\r\nConnection: close",
                bin,
                b"{\"a\": [1, }",
            ),
            expect: Expect::Stored(|req| assert_eq!(&req.body[..], b"{\"a\": [1, }")),
        },
        Case {
            name: "a bin that is not a UUID",
            wire: request(
                "POST /not-a-uuid HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close",
                bin,
                b"",
            ),
            expect: Expect::Refused(404, "no bin with this id"),
        },
        Case {
            name: "a 1 GiB Content-Length with a short body",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\nConnection: close",
                bin,
                b"short",
            ),
            expect: Expect::Refused(413, "larger than the limit"),
        },
        Case {
            name: "a chunked body",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close",
                bin,
                b"3\r\nabc\r\n1;ext=1\r\n\xff\r\n0\r\nTrailer: t\r\n\r\n",
            ),
            expect: Expect::Stored(|req| assert_eq!(&req.body[..], b"abc\xff")),
        },
        Case {
            name: "HTTP/1.0",
            wire: request(
                "POST /{bin}/old HTTP/1.0\r\nHost: x\r\nContent-Length: 5",
                bin,
                b"hello",
            ),
            expect: Expect::Stored(|req| {
                assert_eq!(req.version, "HTTP/1.0");
                assert_eq!(&req.body[..], b"hello");
            }),
        },
        Case {
            name: "a TLS handshake on the plain-HTTP port",
            wire: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
            expect: Expect::Refused(400, "TLS handshake on a plain-HTTP port"),
        },
        Case {
            name: "a request line that is not HTTP",
            wire: b"hello world\r\nConnection: close\r\n\r\n".to_vec(),
            expect: Expect::Refused(400, NOT_HTTP1),
        },
        Case {
            name: "HTTP/2.0 in an HTTP/1 request line",
            wire: request("GET /{bin} HTTP/2.0\r\nHost: x", bin, b""),
            expect: Expect::Refused(400, NOT_HTTP1),
        },
        Case {
            name: "a space in the query",
            wire: request("GET /{bin}?q=a b HTTP/1.1\r\nHost: x", bin, b""),
            expect: Expect::Refused(400, "percent-encode it (%20)"),
        },
        Case {
            name: "a control byte in the query",
            wire: request("GET /{bin}?q=a\x01b HTTP/1.1\r\nHost: x", bin, b""),
            expect: Expect::Refused(400, "percent-encode it (%01)"),
        },
        Case {
            // httparse takes it; hyper's URI parser does not.
            name: "a raw < in the path",
            wire: request("GET /{bin}/a<b HTTP/1.1\r\nHost: x", bin, b""),
            expect: Expect::Refused(400, "percent-encode it (%3C)"),
        },
        Case {
            name: "a raw quote in the query",
            wire: request("GET /{bin}?json={\"a\":1} HTTP/1.1\r\nHost: x", bin, b""),
            expect: Expect::Refused(400, "percent-encode it (%22)"),
        },
        Case {
            name: "a space in a header name",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nBad Name: v\r\nContent-Length: 0",
                bin,
                b"",
            ),
            expect: Expect::Refused(
                400,
                "header field 2 has a byte that is not allowed in a header name (0x20)",
            ),
        },
        Case {
            // hyper refuses at the bad byte, before the head has ended.
            name: "a bad byte in the method, the head never finished",
            wire: format!("G(T /{bin} HTTP/1.1\r\nHost: x\r\n").into_bytes(),
            expect: Expect::Refused(400, NOT_HTTP1),
        },
        Case {
            name: "a header line without a colon",
            wire: request("POST /{bin} HTTP/1.1\r\nHost: x\r\nNoColon", bin, b""),
            expect: Expect::Refused(400, "header field 2 has no colon"),
        },
        Case {
            name: "a folded header line",
            wire: request("POST /{bin} HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b", bin, b""),
            expect: Expect::Refused(400, "folded header lines are not accepted"),
        },
        Case {
            name: "a control byte in a header value",
            wire: request("POST /{bin} HTTP/1.1\r\nHost: x\r\nX-A: a\x01b", bin, b""),
            expect: Expect::Refused(400, "header field 2 has a control byte (0x01)"),
        },
        Case {
            name: "two different Content-Lengths",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close",
                bin,
                b"ab",
            ),
            expect: Expect::Refused(400, "Content-Length headers that disagree"),
        },
        Case {
            name: "a Content-Length that is not a number",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nContent-Length: +5",
                bin,
                b"",
            ),
            expect: Expect::Refused(400, "Content-Length header is not a number"),
        },
        Case {
            name: "Transfer-Encoding in HTTP/1.0",
            wire: request(
                "POST /{bin} HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked",
                bin,
                b"0\r\n\r\n",
            ),
            expect: Expect::Refused(400, "HTTP/1.0 request cannot have a Transfer-Encoding"),
        },
        Case {
            name: "a Transfer-Encoding that does not end in chunked",
            wire: request(
                "POST /{bin} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip",
                bin,
                b"",
            ),
            expect: Expect::Refused(400, "Transfer-Encoding does not end in chunked"),
        },
        Case {
            name: "101 header fields",
            wire: {
                let fields: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
                request(&format!("POST /{{bin}} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close"), bin, b"")
            },
            expect: Expect::Refused(431, "more than 100 header fields"),
        },
    ]
}

const TARGET_FF: &str =
    "the request target has a byte that is not allowed in a URL: percent-encode it (%FF)";
const NOT_HTTP1: &str = "the request line is not HTTP/1: METHOD /path HTTP/1.1 expected";
const TOO_MANY_BYTES: &str = "larger than 65536 bytes";

/// The body of a raw HTTP/1 answer.
fn body_of(answer: &[u8]) -> &[u8] {
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    &answer[head_end + 4..]
}

/// Sends a well-formed capture on a new connection; it must be stored.
async fn capture_on_a_new_connection(app: &TestApp, bin: Uuid, after: &str) {
    let before = app.state.store.count_requests(bin).await.expect("count");
    let answer = app
        .raw(&request(
            "POST /{bin}/next HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close",
            bin,
            b"still here",
        ))
        .await;
    assert_eq!(
        status_of(&answer),
        200,
        "after {after}: next request served"
    );
    let stored = app.state.store.count_requests(bin).await.expect("count");
    assert_eq!(stored, before + 1, "after {after}: next request stored");
}

/// A refusal's answer: `status`, `Connection: close`, and a one-line
/// plain-text reason containing `says`.
fn assert_refused(answer: &[u8], status: u16, says: &str, name: &str) {
    assert_eq!(status_of(answer), status, "{name}");
    let content_type = header_of(answer, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "{name}: {content_type:?}"
    );
    assert_eq!(
        header_of(answer, "connection").as_deref(),
        Some("close"),
        "{name}"
    );
    let body = String::from_utf8(body_of(answer).to_vec()).expect("a UTF-8 reason");
    let reason = body
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{name}: {body:?} ends a line"));
    assert!(
        !reason.is_empty() && !reason.contains('\n'),
        "{name}: one line, got {body:?}"
    );
    assert!(
        reason.contains(says),
        "{name}: {reason:?} should say {says:?}"
    );
}

/// Sends `wire` on a new connection and reads the answer, which must come
/// within a few seconds (no hanging on a declared-but-missing body).
async fn send(app: &TestApp, wire: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    // The server may answer and close before reading everything (413, 431).
    let _ = stream.write_all(wire).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 5 s");
    answer
}

both_backends!(every_bad_input_gets_its_documented_answer_and_the_server_carries_on);
async fn every_bad_input_gets_its_documented_answer_and_the_server_carries_on(app: TestApp) {
    let bin = app.new_bin().await;
    for case in cases(bin) {
        let before = app.state.store.count_requests(bin).await.expect("count");
        let answer = send(&app, &case.wire).await;
        let status = status_of(&answer);
        match case.expect {
            Expect::Refused(expected, says) => {
                assert_refused(&answer, expected, says, case.name);
                let after = app.state.store.count_requests(bin).await.expect("count");
                assert_eq!(after, before, "{}: nothing stored", case.name);
            }
            Expect::Stored(check) => {
                assert_eq!(status, 200, "{}", case.name);
                let id = header_of(&answer, "x-request-id").expect("x-request-id");
                let id = Uuid::parse_str(&id).expect("uuid");
                let stored = app.state.store.request(bin, id).await.expect("read");
                check(&stored.expect("stored"));
                // The dashboard shows it without decoding anything unbounded.
                let page = app
                    .client
                    .get(app.url(&format!("/view/{bin}?r={id}")))
                    .send()
                    .await
                    .expect("dashboard");
                assert_eq!(page.status(), 200, "{}: dashboard renders", case.name);
                let html = page.text().await.expect("html");
                assert!(
                    html.len() < 2 * 1024 * 1024,
                    "{}: page is capped",
                    case.name
                );
            }
        }
        capture_on_a_new_connection(&app, bin, case.name).await;
    }
}

both_backends!(a_refused_request_pipelined_after_a_good_one_is_explained_and_the_good_one_kept);
async fn a_refused_request_pipelined_after_a_good_one_is_explained_and_the_good_one_kept(
    app: TestApp,
) {
    let bin = app.new_bin().await;
    let mut wire = request(
        "POST /{bin}/first HTTP/1.1\r\nHost: x\r\nContent-Length: 5",
        bin,
        b"first",
    );
    wire.extend(format!("GET /{bin}/caf").as_bytes());
    wire.extend(b"\xe9 HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = send(&app, &wire).await;
    let second_at = answer
        .windows(9)
        .rposition(|w| w == b"HTTP/1.1 ")
        .expect("two answers");
    let (first, second) = answer.split_at(second_at);
    assert_eq!(status_of(first), 200);
    assert_refused(second, 400, "percent-encode it (%E9)", "pipelined");
    let page = app.json(&format!("/token/{bin}/requests")).await;
    assert_eq!(
        support::contents(&page),
        ["first"],
        "only the good one stored"
    );
    capture_on_a_new_connection(&app, bin, "a pipelined refusal").await;
}

both_backends!(a_target_longer_than_hyper_takes_gets_414_with_its_reason);
async fn a_target_longer_than_hyper_takes_gets_414_with_its_reason(backend: Backend) {
    // Heads may be larger than a target may be long (64 KiB) only when
    // the head limit is raised.
    let app =
        TestApp::spawn_with_backend(backend, |config| config.max_header_bytes = 256 * 1024).await;
    let bin = app.new_bin().await;
    let long = "a".repeat(70_000);
    let wire = request(
        &format!("GET /{{bin}}/{long} HTTP/1.1\r\nHost: x\r\nConnection: close"),
        bin,
        b"",
    );
    let answer = send(&app, &wire).await;
    assert_refused(
        &answer,
        414,
        "the request target is too long",
        "a 70 000-byte target",
    );
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 0);
    capture_on_a_new_connection(&app, bin, "a 414").await;
}

both_backends!(http2_prior_knowledge_is_captured);
async fn http2_prior_knowledge_is_captured(app: TestApp) {
    let bin = app.new_bin().await;
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let (h2, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    let mut h2 = h2.ready().await.expect("h2 ready");
    let request = axum::http::Request::post(format!("http://{}/{bin}/h2?x=1", app.addr))
        .header("x-case", "Kept")
        .body(())
        .expect("request");
    let (response, mut body) = h2.send_request(request, false).expect("send");
    body.send_data(bytes::Bytes::from_static(b"\x00h2 body\xff"), true)
        .expect("body");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"].to_str().expect("ascii");
    let stored = app
        .state
        .store
        .request(bin, Uuid::parse_str(id).expect("uuid"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.version, "HTTP/2.0");
    assert_eq!(stored.path, format!("/{bin}/h2"));
    assert_eq!(stored.query.as_deref(), Some("x=1"));
    assert_eq!(&stored.body[..], b"\x00h2 body\xff");
    assert_eq!(app.post_to_bin(bin, "", "next").await.status(), 200);
}

both_backends!(a_client_that_stalls_in_its_head_is_dropped_after_the_header_timeout);
async fn a_client_that_stalls_in_its_head_is_dropped_after_the_header_timeout(backend: Backend) {
    let app =
        TestApp::spawn_with_backend(backend, |config| config.header_read_timeout_secs = 1).await;
    let bin = app.new_bin().await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream
        .write_all(format!("POST /{bin} HTTP/1.1\r\nHost: x\r\nX-Slow: ").as_bytes())
        .await
        .expect("write half a head");
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "still connected after 5 s");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "dropped too early: {waited:?}"
    );
    if !answer.is_empty() {
        assert_eq!(status_of(&answer), 408);
    }
    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 0);
    assert_eq!(app.post_to_bin(bin, "", "next").await.status(), 200);
}
