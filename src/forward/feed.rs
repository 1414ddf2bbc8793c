//! What a forwarder reads from the live feed, and the exact request it
//! writes to the target from it.

use base64::Engine as _;
use serde::Deserialize;
use uuid::Uuid;

use super::target::Target;
use crate::exchange;
use crate::model::Header;

/// A live-feed message, as the server's `live::feed_message` writes it. Its
/// `row` (the dashboard's list text) is not the forwarder's business.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FeedMessage {
    Request {
        request: Box<FeedRequest>,
    },
    Lagged,
    #[serde(other)]
    Other,
}

/// The parts of the request object (`model::RequestJson`) a forwarder needs.
#[derive(Debug, Deserialize)]
pub struct FeedRequest {
    pub uuid: Uuid,
    /// The bin's id: the token API (relayed answers) takes only the
    /// id, while `--url` may name the bin by its alias.
    #[serde(default)]
    pub token_id: Option<Uuid>,
    pub method: String,
    pub content: String,
    pub content_encoding: String,
    pub path: String,
    pub query_string: Option<String>,
    pub raw_headers: Vec<(String, String)>,
    #[serde(default)]
    pub raw_headers_base64: Option<Vec<(String, String)>>,
    /// Received time in microseconds since the epoch.
    pub sorting: i64,
}

/// The request as written to the target: exact method, headers and body
/// ([`exchange::request_wire`]).
pub fn build_request(
    req: &FeedRequest,
    target: &Target,
    path_and_query: &str,
) -> Result<Vec<u8>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = match req.content_encoding.as_str() {
        "base64" => b64
            .decode(&req.content)
            .map_err(|e| format!("the stored body is not valid base64: {e}"))?,
        _ => req.content.clone().into_bytes(),
    };
    let headers: Vec<Header> = match &req.raw_headers_base64 {
        Some(exact) => exact
            .iter()
            .map(|(n, v)| Ok(Header::new(n.as_str(), b64.decode(v)?)))
            .collect::<Result<_, base64::DecodeError>>()
            .map_err(|e| format!("a stored header is not valid base64: {e}"))?,
        None => req
            .raw_headers
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), v.as_bytes()))
            .collect(),
    };
    exchange::request_wire(
        &req.method,
        path_and_query,
        &target.authority,
        &headers,
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_request(headers: &[(&str, &str)], body: &str) -> FeedRequest {
        FeedRequest {
            uuid: Uuid::now_v7(),
            token_id: None,
            method: "POST".into(),
            content: body.into(),
            content_encoding: "utf-8".into(),
            path: format!("/{}/a", Uuid::new_v4()),
            query_string: None,
            raw_headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            raw_headers_base64: None,
            sorting: 0,
        }
    }

    #[test]
    fn hop_by_hop_fields_are_dropped_and_host_is_the_targets() {
        let target = Target::parse("http://127.0.0.1:3000/hooks").expect("target");
        let req = feed_request(
            &[
                ("Host", "hooks.example.com"),
                ("Connection", "keep-alive, X-Hop"),
                ("X-Hop", "1"),
                ("X-Dup", "a"),
                ("Transfer-Encoding", "chunked"),
                ("x-dup", "b"),
                ("Proxy-Authorization", "secret"),
            ],
            "hi",
        );
        let wire = build_request(&req, &target, "/hooks/a").expect("wire");
        assert_eq!(
            String::from_utf8(wire).expect("utf-8"),
            "POST /hooks/a HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nX-Dup: a\r\nx-dup: b\r\n\
             Content-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn the_servers_feed_message_parses_and_rebuilds_the_exact_request() {
        use crate::model::{CapturedRequest, Timestamp};
        let bin = Uuid::new_v4();
        let captured = CapturedRequest {
            id: Uuid::now_v7(),
            bin,
            received_at: Timestamp::now(),
            method: "PUT".into(),
            path: format!("/{bin}/x"),
            query: Some("a=%20".into()),
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:9".into(),
            headers: vec![
                Header::new("Host", "h"),
                Header::new("X-Raw", b"caf\xe9".to_vec()),
                Header::new("Content-Length", "3"),
            ],
            body: bytes::Bytes::from_static(b"\x00\xff\x01"),
            signature: None,
        };
        let message = crate::live::feed::feed_message(&captured, None);
        let FeedMessage::Request { request } =
            serde_json::from_str(&message).expect("a feed message")
        else {
            panic!("not a request message: {message}");
        };
        assert_eq!(request.uuid, captured.id);
        let target = Target::parse("http://t:1/in").expect("target");
        let wire = build_request(&request, &target, "/in/x?a=%20").expect("wire");
        let mut expected =
            b"PUT /in/x?a=%20 HTTP/1.1\r\nHost: t:1\r\nX-Raw: caf\xe9\r\nContent-Length: 3\r\n\r\n"
                .to_vec();
        expected.extend_from_slice(b"\x00\xff\x01");
        assert_eq!(wire, expected);
        assert!(matches!(
            serde_json::from_str(r#"{"type":"lagged"}"#),
            Ok(FeedMessage::Lagged)
        ));
    }
}
