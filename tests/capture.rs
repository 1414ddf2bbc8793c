//! A sender's story: whatever is sent to a bin is stored exactly.

mod support;

use hookscope::model::{CapturedRequest, Header};
use support::{header_of, status_of, Backend, TestApp};
use uuid::Uuid;

async fn stored(app: &TestApp, bin: Uuid, id: Uuid) -> CapturedRequest {
    app.state
        .store
        .request(bin, id)
        .await
        .expect("store read")
        .expect("request is stored")
}

/// Sends a raw request and returns the stored copy.
async fn capture_raw(app: &TestApp, bin: Uuid, wire: &[u8]) -> CapturedRequest {
    let answer = app.raw(wire).await;
    assert_eq!(
        status_of(&answer),
        200,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let id = header_of(&answer, "x-request-id").expect("x-request-id");
    assert_eq!(header_of(&answer, "x-token-id"), Some(bin.to_string()));
    stored(app, bin, Uuid::parse_str(&id).expect("uuid")).await
}

both_backends!(binary_body_with_nul_and_ff_round_trips_byte_for_byte);
async fn binary_body_with_nul_and_ff_round_trips_byte_for_byte(app: TestApp) {
    let bin = app.new_bin().await;
    let body: Vec<u8> = (0..=255u8).chain([0, 0xff, 0, 0xfe]).collect();
    let response = app.post_to_bin(bin, "", body.clone()).await;
    assert_eq!(response.status(), 200);
    let id = TestApp::request_id(&response);
    assert_eq!(&stored(&app, bin, id).await.body[..], &body[..]);

    let download = app.download_body(bin, id).await;
    assert!(download.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert_eq!(&download.bytes().await.expect("bytes")[..], &body[..]);
}

both_backends!(invalid_utf8_and_empty_bodies_are_kept_exactly);
async fn invalid_utf8_and_empty_bodies_are_kept_exactly(app: TestApp) {
    let bin = app.new_bin().await;
    for body in [b"\xc3\x28 not utf-8 \x80".to_vec(), Vec::new()] {
        let response = app.post_to_bin(bin, "", body.clone()).await;
        let req = stored(&app, bin, TestApp::request_id(&response)).await;
        assert_eq!(&req.body[..], &body[..]);
        assert_eq!(req.size(), body.len());
    }
}

both_backends!(headers_keep_arrival_order_duplicates_case_and_raw_bytes);
async fn headers_keep_arrival_order_duplicates_case_and_raw_bytes(app: TestApp) {
    let bin = app.new_bin().await;
    let wire = format!(
        "POST /{bin} HTTP/1.1\r\nHost: example.test\r\nX-Dup: one\r\nContent-Type: text/plain\r\n\
         x-dup: two\r\nX-DUP: three\r\nX-Bytes: caf\u{e9}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    let mut wire = wire.into_bytes();
    // A raw obs-text byte that is not UTF-8 in a header value. (The marker
    // names the header: the bin's id may contain "caf".)
    let marker = b"X-Bytes: caf";
    let at = wire
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker")
        + marker.len();
    wire.splice(at..at + 2, [0xe9]);
    let req = capture_raw(&app, bin, &wire).await;
    let expected = [
        Header::new("Host", b"example.test".to_vec()),
        Header::new("X-Dup", b"one".to_vec()),
        Header::new("Content-Type", b"text/plain".to_vec()),
        Header::new("x-dup", b"two".to_vec()),
        Header::new("X-DUP", b"three".to_vec()),
        Header::new("X-Bytes", b"caf\xe9".to_vec()),
        Header::new("Content-Length", b"2".to_vec()),
        Header::new("Connection", b"close".to_vec()),
    ];
    assert_eq!(req.headers, expected);
    assert_eq!(&req.body[..], b"hi");
    assert_eq!(req.version, "HTTP/1.1");
    assert!(
        req.remote_addr.starts_with("127.0.0.1:"),
        "{}",
        req.remote_addr
    );
}

both_backends!(a_head_with_many_fields_keeps_their_case_and_order);
async fn a_head_with_many_fields_keeps_their_case_and_order(backend: Backend) {
    // Above the default limit (100 fields), which is a setting.
    let app = TestApp::spawn_with_backend(backend, |config| config.max_headers = 200).await;
    let bin = app.new_bin().await;
    // More fields than fit the head parser's stack array (32).
    let fields: Vec<(String, String)> = (0..150)
        .map(|n| {
            (
                format!("X-Field-{n}-{}", if n % 2 == 0 { "Up" } else { "low" }),
                n.to_string(),
            )
        })
        .collect();
    let mut wire = format!("POST /{bin} HTTP/1.1\r\nHost: example.test\r\n");
    for (name, value) in &fields {
        wire.push_str(&format!("{name}: {value}\r\n"));
    }
    wire.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    let req = capture_raw(&app, bin, wire.as_bytes()).await;
    let names: Vec<&str> = req.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names.len(), 153);
    assert_eq!(names[0], "Host");
    for (n, (name, value)) in fields.iter().enumerate() {
        assert_eq!(
            req.headers[n + 1],
            Header::new(name.as_str(), value.as_bytes())
        );
    }
}

both_backends!(keep_alive_and_chunked_requests_each_get_their_own_headers);
async fn keep_alive_and_chunked_requests_each_get_their_own_headers(app: TestApp) {
    let bin = app.new_bin().await;
    let wire = format!(
        "PUT /{bin}/one HTTP/1.1\r\nHost: h\r\nX-First: 1\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\nab\r\n\r\n3;ext=1\r\ncd\n\r\n0\r\n\r\n\
         PATCH /{bin}/two HTTP/1.1\r\nHost: h\r\nX-Second: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz"
    );
    let answer = app.raw(wire.as_bytes()).await;
    assert_eq!(
        String::from_utf8_lossy(&answer)
            .matches("HTTP/1.1 200")
            .count(),
        2
    );
    let list = app
        .state
        .store
        .requests_after(bin, None, 10)
        .await
        .expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].method, "PUT");
    assert_eq!(&list[0].body[..], b"ab\r\ncd\n");
    assert_eq!(list[0].headers[1], Header::new("X-First", b"1".to_vec()));
    assert_eq!(list[1].method, "PATCH");
    assert_eq!(list[1].headers[1], Header::new("X-Second", b"2".to_vec()));
}

both_backends!(any_method_deep_sub_path_and_raw_query_are_stored_as_sent);
async fn any_method_deep_sub_path_and_raw_query_are_stored_as_sent(app: TestApp) {
    let bin = app.new_bin().await;
    for method in ["PROPFIND", "PURGE", "TOKEN", "DELETE", "OPTIONS", "GET"] {
        let path = "/a/b%2Fc/d//e.json";
        let query = "x=1&x=2&y=%20%E2%9C%93&empty=&flag&x=3";
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                app.url(&format!("/{bin}{path}?{query}")),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{method}");
        let req = stored(&app, bin, TestApp::request_id(&response)).await;
        assert_eq!(req.method, method);
        assert_eq!(req.path, format!("/{bin}{path}"));
        assert_eq!(req.sub_path(), path);
        assert_eq!(req.query.as_deref(), Some(query));
    }
    // A trailing slash and a bare `?` are part of the request too.
    let response = app.post_to_bin(bin, "/?", "").await;
    let req = stored(&app, bin, TestApp::request_id(&response)).await;
    assert_eq!(req.path, format!("/{bin}/"));
    assert_eq!(req.query.as_deref(), Some(""));
}

both_backends!(body_at_the_limit_is_stored_and_one_byte_more_is_refused_with_413);
async fn body_at_the_limit_is_stored_and_one_byte_more_is_refused_with_413(backend: Backend) {
    let limit = 64 * 1024;
    let app = TestApp::spawn_with_backend(backend, |c| c.max_body_bytes = limit).await;
    let bin = app.new_bin().await;
    let response = app.post_to_bin(bin, "", vec![b'a'; limit]).await;
    assert_eq!(response.status(), 200);

    let response = app.post_to_bin(bin, "", vec![b'a'; limit + 1]).await;
    assert_eq!(response.status(), 413);
    assert!(response.text().await.expect("text").contains("limit"));

    // Chunked, so no Content-Length announces the size up front.
    let chunks = futures_util::stream::iter(
        (0..2).map(move |_| Ok::<_, std::io::Error>(vec![b'b'; limit / 2 + 1])),
    );
    let response = app
        .post_to_bin(bin, "/chunked", reqwest::Body::wrap_stream(chunks))
        .await;
    assert_eq!(response.status(), 413);

    assert_eq!(app.state.store.count_requests(bin).await.expect("count"), 1);
}

both_backends!(a_10_mib_body_is_stored);
async fn a_10_mib_body_is_stored(app: TestApp) {
    let bin = app.new_bin().await;
    let body: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    let response = app.post_to_bin(bin, "", body.clone()).await;
    assert_eq!(response.status(), 200);
    let req = stored(&app, bin, TestApp::request_id(&response)).await;
    assert!(req.body[..] == body[..]);
}

both_backends!(unknown_or_malformed_bins_get_404_and_nothing_is_stored);
async fn unknown_or_malformed_bins_get_404_and_nothing_is_stored(app: TestApp) {
    let unknown = Uuid::new_v4();
    for path in [
        format!("/{unknown}"),
        format!("/{unknown}/sub"),
        "/not-a-uuid".to_owned(),
        "/favicon.ico".to_owned(),
    ] {
        let response = app
            .client
            .post(app.url(&path))
            .body("x")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain"));
        assert!(response.text().await.expect("text").contains("no bin"));
    }
    // A browser gets a page instead.
    let page = app
        .client
        .get(app.url(&format!("/{unknown}")))
        .header("accept", "text/html")
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 404);
    assert!(page
        .text()
        .await
        .expect("text")
        .contains("<h1>404 Not Found</h1>"));
    // And a client that asks for JSON gets JSON.
    let json = app
        .client
        .post(app.url(&format!("/{unknown}")))
        .header("accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(json.status(), 404);
    let error: serde_json::Value = json.json().await.expect("a JSON error");
    assert_eq!(error["error"], "not_found");
    assert!(error["message"]
        .as_str()
        .expect("message")
        .contains("no bin"));
    assert_eq!(app.state.store.count_bins().await.expect("count"), 0);
}

both_backends!(the_answer_comes_after_the_row_is_committed);
async fn the_answer_comes_after_the_row_is_committed(app: TestApp) {
    let bin = app.new_bin().await;
    // Fire many captures at once; each answered id must be readable by a
    // separate read-only connection the moment its answer arrives.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let client = app.client.clone();
        let url = app.url(&format!("/{bin}/{i}"));
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .body(format!("body {i}"))
                .send()
                .await
                .expect("send");
            TestApp::request_id(&response)
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let id = task.await.expect("task");
        let req = stored(&app, bin, id).await;
        assert_eq!(req.body, format!("body {i}").into_bytes());
    }
}
