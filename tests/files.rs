//! A script written for webhook.site rebuilds an upload it captured: it reads
//! `files` (keyed by form field name) and `request` (the form fields) from
//! the request object, then downloads each file by its id. Every byte must
//! come back as sent, and the live feed and the export must say the same.

mod support;

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{json, Value};
use support::TestApp;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const BOUNDARY: &str = "----files-test-Q8x2kP";

/// One part of a multipart body as a sender writes it.
struct SentPart {
    name: &'static str,
    filename: Option<&'static str>,
    content_type: Option<&'static str>,
    bytes: Vec<u8>,
}

impl SentPart {
    fn field(name: &'static str, value: &str) -> Self {
        Self {
            name,
            filename: None,
            content_type: None,
            bytes: value.as_bytes().to_vec(),
        }
    }

    fn file(
        name: &'static str,
        filename: &'static str,
        content_type: &'static str,
        bytes: Vec<u8>,
    ) -> Self {
        Self {
            name,
            filename: Some(filename),
            content_type: Some(content_type),
            bytes,
        }
    }
}

fn multipart_body(parts: &[SentPart]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post(app: &TestApp, bin: Uuid, content_type: &str, body: Vec<u8>) -> Uuid {
    let response = app
        .client
        .post(app.url(&format!("/{bin}/upload")))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST to bin");
    assert_eq!(response.status(), 200);
    TestApp::request_id(&response)
}

async fn api_object(app: &TestApp, bin: Uuid, rid: Uuid) -> Value {
    let response = app.get(&format!("/token/{bin}/request/{rid}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("request object")
}

fn file_id(object: &Value, field: &str) -> Uuid {
    object["files"][field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id for file {field}: {}", object["files"]))
        .parse()
        .expect("file ids are UUIDs")
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_feed(app: &TestApp, bin: Uuid) -> Socket {
    let url = format!("ws://{}/live/{bin}", app.addr);
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    assert_eq!(response.status(), 101);
    socket
}

/// The request object of the next `request` message on the feed.
async fn next_request(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a live message in time")
            .expect("socket open")
            .expect("websocket frame");
        if let Message::Text(text) = message {
            let message: Value = serde_json::from_str(&text).expect("JSON message");
            assert_eq!(message["type"], "request", "{message}");
            return message["request"].clone();
        }
    }
}

both_backends!(a_multipart_upload_reads_back_as_files_and_fields_and_downloads_byte_exact);
async fn a_multipart_upload_reads_back_as_files_and_fields_and_downloads_byte_exact(app: TestApp) {
    let bin = app.bin_with(json!({})).await;
    let mut feed = open_feed(&app, bin).await;

    let every_byte: Vec<u8> = (0..=255u8).collect();
    let text_file = "first line\r\nzweite Zeile: grüße\n".as_bytes().to_vec();
    let parts = [
        SentPart::field("title", "Quartalsbericht – Grüße"),
        SentPart::file(
            "blob",
            "all bytes.bin",
            "application/octet-stream",
            every_byte.clone(),
        ),
        SentPart::field("tag", "a"),
        SentPart::file(
            "notes",
            "notes.txt",
            "text/plain; charset=utf-8",
            text_file.clone(),
        ),
        SentPart::field("tag", "b"),
    ];
    let body = multipart_body(&parts);
    let rid = post(
        &app,
        bin,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        body.clone(),
    )
    .await;

    let object = api_object(&app, bin, rid).await;
    let blob_id = file_id(&object, "blob");
    let notes_id = file_id(&object, "notes");
    assert_ne!(blob_id, notes_id);
    assert_eq!(
        object["files"],
        json!({
            "blob": {
                "id": blob_id.to_string(),
                "name": "blob",
                "filename": "all bytes.bin",
                "size": 256,
                "content_type": "application/octet-stream",
            },
            "notes": {
                "id": notes_id.to_string(),
                "name": "notes",
                "filename": "notes.txt",
                "size": text_file.len(),
                "content_type": "text/plain; charset=utf-8",
            },
        })
    );
    assert_eq!(
        object["request"],
        json!({ "title": "Quartalsbericht – Grüße", "tag": ["a", "b"] })
    );
    // The body itself is untouched: not UTF-8, so `content` is its base64.
    assert_eq!(object["content_encoding"], "base64");
    assert_eq!(object["size"], body.len());

    // Ids are stable: the same in a second read, the list and `latest`.
    assert_eq!(api_object(&app, bin, rid).await["files"], object["files"]);
    let listed = app.json(&format!("/token/{bin}/requests")).await;
    assert_eq!(listed["data"][0]["files"], object["files"]);
    assert_eq!(listed["data"][0]["request"], object["request"]);
    let latest = app.json(&format!("/token/{bin}/request/latest")).await;
    assert_eq!(latest["files"], object["files"]);

    // The live feed and the JSON export carry the same object.
    let live = next_request(&mut feed).await;
    assert_eq!(live["uuid"], rid.to_string());
    assert_eq!(live["files"], object["files"], "live feed files");
    assert_eq!(live["request"], object["request"], "live feed request");
    let export = app.json(&format!("/view/{bin}/export.json")).await;
    assert_eq!(export[0]["files"], object["files"], "export files");
    assert_eq!(export[0]["request"], object["request"], "export request");

    // Each file downloads as its exact bytes, as an attachment no browser
    // renders.
    for (id, bytes, content_type, disposition) in [
        (
            blob_id,
            &every_byte,
            "application/octet-stream",
            "attachment; filename=\"allbytes.bin\"; filename*=UTF-8''all%20bytes.bin",
        ),
        (
            notes_id,
            &text_file,
            "text/plain; charset=utf-8",
            "attachment; filename=\"notes.txt\"",
        ),
    ] {
        let response = app
            .get(&format!("/token/{bin}/request/{rid}/download/{id}"))
            .await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type);
        assert_eq!(headers["content-disposition"], disposition);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-security-policy"], "sandbox");
        let got = response.bytes().await.expect("file bytes");
        assert!(got[..] == bytes[..], "{id}: other bytes came back");
    }

    // The dashboard's per-part download names the same bytes (part 2).
    let part = app.get(&format!("/view/{bin}/{rid}/part/2")).await;
    assert_eq!(part.status(), 200);
    assert!(part.bytes().await.expect("part")[..] == every_byte[..]);

    app.stop().await;
}

both_backends!(an_unknown_file_id_is_a_404_with_a_reason);
async fn an_unknown_file_id_is_a_404_with_a_reason(app: TestApp) {
    let bin = app.bin_with(json!({})).await;
    let parts = [
        SentPart::field("note", "text, not a file"),
        SentPart::file("upload", "a.txt", "text/plain", b"file".to_vec()),
    ];
    let rid = post(
        &app,
        bin,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        multipart_body(&parts),
    )
    .await;
    let known = file_id(&api_object(&app, bin, rid).await, "upload");
    let plain = post(&app, bin, "text/plain", b"no parts here".to_vec()).await;

    for (request, file) in [
        (rid, Uuid::new_v4().to_string()),
        (rid, "not-a-uuid".to_owned()),
        // The text field is in `request`, not a file.
        (rid, hookscope::multipart::file_id(rid, 1).to_string()),
        // A real file id asked of another request.
        (plain, known.to_string()),
    ] {
        let path = format!("/token/{bin}/request/{request}/download/{file}");
        let response = app.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        let error: Value = response.json().await.expect("JSON error");
        assert_eq!(error["error"], "not_found", "{path}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("no file with this id")),
            "{path}: {error}"
        );
    }
    // An unknown request is still told apart from an unknown file.
    let response = app
        .get(&format!(
            "/token/{bin}/request/{}/download/{known}",
            Uuid::now_v7()
        ))
        .await;
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.expect("JSON error");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("no such request")),
        "{error}"
    );
    app.stop().await;
}

both_backends!(repeated_file_fields_list_every_file_in_order);
async fn repeated_file_fields_list_every_file_in_order(app: TestApp) {
    let bin = app.bin_with(json!({})).await;
    let parts = [
        SentPart::file("docs[]", "one.txt", "text/plain", b"first".to_vec()),
        SentPart::file("docs[]", "two.txt", "text/plain", b"second".to_vec()),
    ];
    let rid = post(
        &app,
        bin,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        multipart_body(&parts),
    )
    .await;
    let object = api_object(&app, bin, rid).await;
    let docs = object["files"]["docs[]"]
        .as_array()
        .unwrap_or_else(|| panic!("a list for a repeated name: {}", object["files"]));
    assert_eq!(docs.len(), 2);
    for (doc, (filename, bytes)) in docs
        .iter()
        .zip([("one.txt", "first"), ("two.txt", "second")])
    {
        assert_eq!(doc["name"], "docs[]");
        assert_eq!(doc["filename"], filename);
        let id = doc["id"].as_str().expect("id");
        let response = app
            .get(&format!("/token/{bin}/request/{rid}/download/{id}"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("text"), bytes);
    }
    assert_eq!(object["request"], json!({}));
    app.stop().await;
}

both_backends!(a_urlencoded_form_reads_back_as_the_request_object);
async fn a_urlencoded_form_reads_back_as_the_request_object(app: TestApp) {
    let bin = app.bin_with(json!({})).await;
    let mut feed = open_feed(&app, bin).await;
    let form = "name=J%C3%BCrgen&city=M%C3%BCnchen+Ost&tag=a&tag=b&tag=%E2%82%AC\
                &empty=&items%5B%5D=x&items%5B%5D=y&emoji=%F0%9F%A6%80";
    let rid = post(
        &app,
        bin,
        "application/x-www-form-urlencoded; charset=UTF-8",
        form.as_bytes().to_vec(),
    )
    .await;
    let object = api_object(&app, bin, rid).await;
    let expected = json!({
        "name": "Jürgen",
        "city": "München Ost",
        "tag": ["a", "b", "€"],
        "empty": "",
        "items[]": ["x", "y"],
        "emoji": "🦀",
    });
    assert_eq!(object["request"], expected);
    // Keys keep the order they were sent in, so a client can rebuild the
    // form field by field.
    let keys: Vec<&String> = object["request"]
        .as_object()
        .expect("object")
        .keys()
        .collect();
    assert_eq!(keys, ["name", "city", "tag", "empty", "items[]", "emoji"]);
    assert_eq!(object["files"], json!({}));
    assert_eq!(object["content"], form, "content stays the exact body");

    let live = next_request(&mut feed).await;
    assert_eq!(live["request"], expected, "live feed request");
    let export = app.json(&format!("/view/{bin}/export.json")).await;
    assert_eq!(export[0]["request"], expected, "export request");

    // A body that is not a form has no fields, even if it looks like one.
    let rid = post(&app, bin, "text/plain", b"a=1&b=2".to_vec()).await;
    let object = api_object(&app, bin, rid).await;
    assert_eq!(object["request"], json!({}));
    assert_eq!(object["files"], json!({}));
    app.stop().await;
}

both_backends!(file_downloads_are_behind_the_bin_password);
async fn file_downloads_are_behind_the_bin_password(app: TestApp) {
    let bin = app.bin_with(json!({ "password": "hunter2" })).await;
    let parts = [SentPart::file(
        "f",
        "f.bin",
        "application/octet-stream",
        vec![0, 1, 2],
    )];
    let rid = post(
        &app,
        bin,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        multipart_body(&parts),
    )
    .await;
    let object: Value = app
        .client
        .get(app.url(&format!("/token/{bin}/request/{rid}")))
        .header("X-Bin-Password", "hunter2")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("object");
    let id = file_id(&object, "f");
    let path = format!("/token/{bin}/request/{rid}/download/{id}");
    assert_eq!(app.get(&path).await.status(), 401);
    let allowed = app
        .client
        .get(app.url(&path))
        .header("X-Bin-Password", "hunter2")
        .send()
        .await
        .expect("GET");
    assert_eq!(allowed.status(), 200);
    assert_eq!(&allowed.bytes().await.expect("bytes")[..], &[0, 1, 2]);
    app.stop().await;
}
