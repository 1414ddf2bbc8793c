//! What a forwarder reads from the live feed, and the exact request it
//! writes to the target from it.

use base64::Engine as _;
use serde::Deserialize;
use uuid::Uuid;

use super::target::Target;
use crate::http1;

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

/// Header fields that describe one connection, not the request; they are
/// not forwarded (RFC 9110 §7.6.1).
pub fn is_hop_by_hop(lower_name: &str) -> bool {
    matches!(
        lower_name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || lower_name.starts_with("proxy-")
}

/// The request as written to the target: exact method, headers and body.
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
    let headers: Vec<(&str, Vec<u8>)> = match &req.raw_headers_base64 {
        Some(exact) => exact
            .iter()
            .map(|(n, v)| Ok((n.as_str(), b64.decode(v)?)))
            .collect::<Result<_, base64::DecodeError>>()
            .map_err(|e| format!("a stored header is not valid base64: {e}"))?,
        None => req
            .raw_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone().into_bytes()))
            .collect(),
    };
    if !http1::is_token(req.method.as_bytes()) {
        return Err(format!("refusing to send method {:?}", req.method));
    }
    if !path_and_query.bytes().all(|b| b > b' ' && b != 0x7f) {
        return Err("refusing to send a path with spaces or control characters".into());
    }
    // Fields named in `Connection` are hop-by-hop too.
    let named_in_connection: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();

    let mut fields: Vec<(&str, Vec<u8>)> = Vec::with_capacity(headers.len() + 2);
    let mut has_host = false;
    let mut has_length = false;
    let mut was_chunked = false;
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if lower == "transfer-encoding" {
            was_chunked = true;
        }
        if is_hop_by_hop(&lower) || named_in_connection.contains(&lower) {
            continue;
        }
        if !http1::is_token(name.as_bytes())
            || value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            continue;
        }
        match lower.as_str() {
            "host" if has_host => {}
            "host" => {
                has_host = true;
                fields.push((name, target.authority.clone().into_bytes()));
            }
            "content-length" if has_length => {}
            "content-length" => {
                has_length = true;
                let exact = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    == Some(body.len());
                let value = if exact {
                    value.clone()
                } else {
                    body.len().to_string().into_bytes()
                };
                fields.push((name, value));
            }
            _ => fields.push((name, value.clone())),
        }
    }
    if !has_host {
        fields.insert(0, ("Host", target.authority.clone().into_bytes()));
    }
    if !has_length && (!body.is_empty() || was_chunked) {
        fields.push(("Content-Length", body.len().to_string().into_bytes()));
    }

    let mut wire = Vec::with_capacity(256 + body.len());
    http1::write_request_line(&mut wire, &req.method, path_and_query);
    for (name, value) in fields {
        http1::write_field(&mut wire, name, &value);
    }
    http1::end_head(&mut wire);
    wire.extend_from_slice(&body);
    Ok(wire)
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
        use crate::model::{CapturedRequest, Header, Timestamp};
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
