//! Property: random bytes as body, path, query and header values never
//! get a 5xx, and whatever is accepted is stored exactly as sent.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::{header_of, status_of, TestApp};
use uuid::Uuid;

/// Percent-encodes every byte that may not appear raw in a path or query.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Header-value bytes that HTTP/1 carries as they are: visible ASCII and
/// obs-text, inner spaces and tabs (edges are trimmed by the protocol).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(prop_oneof![0x21u8..=0x7e, 0x80u8..=0xff], 1..40),
        vec(
            prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff, Just(b'\t')],
            0..40,
        ),
        vec(prop_oneof![0x21u8..=0x7e, 0x80u8..=0xff], 1..2),
    )
        .prop_map(|(a, b, c)| [a, b, c].concat())
}

struct Sent {
    path: String,
    query: String,
    value: Vec<u8>,
    body: Vec<u8>,
}

fn wire(bin: Uuid, sent: &Sent) -> Vec<u8> {
    let mut wire = format!(
        "PUT /{bin}/{}?{} HTTP/1.1\r\nHost: x\r\nX-Random: ",
        sent.path, sent.query
    )
    .into_bytes();
    wire.extend_from_slice(&sent.value);
    wire.extend_from_slice(
        format!(
            "\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            sent.body.len()
        )
        .as_bytes(),
    );
    wire.extend_from_slice(&sent.body);
    wire
}

/// A runtime for the property's blocking cases, and a server with one bin.
fn server_with_bin() -> (tokio::runtime::Runtime, TestApp, Uuid) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (app, bin) = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let bin = app.new_bin().await;
        (app, bin)
    });
    (runtime, app, bin)
}

#[test]
fn random_bytes_round_trip_exactly_and_never_get_a_5xx() {
    let (runtime, app, bin) = server_with_bin();
    let strategy = (
        vec(any::<u8>(), 0..24),
        vec(any::<u8>(), 0..24),
        header_value(),
        vec(any::<u8>(), 0..4096),
    );
    let mut runner = TestRunner::new(Config::with_cases(64));
    runner
        .run(&strategy, |(path, query, value, body)| {
            let sent = Sent {
                path: encode(&path),
                query: encode(&query),
                value,
                body,
            };
            let answer = runtime.block_on(app.raw(&wire(bin, &sent)));
            prop_assert_eq!(status_of(&answer), 200);
            let id = header_of(&answer, "x-request-id").expect("x-request-id");
            let id = Uuid::parse_str(&id).expect("uuid");
            let stored = runtime
                .block_on(app.state.store.request(bin, id))
                .expect("read")
                .expect("stored");
            prop_assert_eq!(stored.path, format!("/{bin}/{}", sent.path));
            prop_assert_eq!(stored.query.as_deref(), Some(sent.query.as_str()));
            let random = stored.headers.iter().find(|h| h.name == "X-Random");
            prop_assert_eq!(&random.expect("X-Random").value, &sent.value);
            prop_assert_eq!(&stored.body[..], &sent.body[..]);
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn raw_random_bytes_in_the_request_line_and_headers_never_get_a_5xx() {
    let (runtime, app, bin) = server_with_bin();
    let strategy = (
        vec(any::<u8>(), 0..24),
        vec(any::<u8>(), 0..24),
        vec(any::<u8>(), 0..24),
    );
    let mut runner = TestRunner::new(Config::with_cases(64));
    runner
        .run(&strategy, |(path, query, value)| {
            let mut wire = format!("GET /{bin}/").into_bytes();
            wire.extend_from_slice(&path);
            wire.push(b'?');
            wire.extend_from_slice(&query);
            wire.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nX-Raw: ");
            wire.extend_from_slice(&value);
            wire.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
            let answer = runtime.block_on(app.raw(&wire));
            // A request hyper cannot parse may be dropped without an
            // answer; any answer must not be a server error.
            if !answer.is_empty() {
                prop_assert!(
                    status_of(&answer) < 500,
                    "{:?}",
                    String::from_utf8_lossy(&answer)
                );
            }
            Ok(())
        })
        .expect("property holds");
    let next = runtime.block_on(app.post_to_bin(bin, "", "next"));
    assert_eq!(next.status(), 200);
}
