//! The parts of a `multipart/form-data` body: the one parser behind the
//! request object's `files` and `request`, the API's file downloads and the
//! dashboard's detail pane and per-part downloads. Parsing only reads a copy
//! of the stored body; it never changes what is stored.

use bytes::Bytes;
use futures_util::FutureExt as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// Largest body split into parts or form fields. Bigger bodies are still
/// stored and downloadable whole; they just have no `files` or `request`.
pub const PARSE_LIMIT: usize = 16 * 1024 * 1024;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field name (`name=` of its Content-Disposition).
    pub name: String,
    /// The part's `filename`, when it is a file upload.
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// The part's own headers, in arrival order.
    pub headers: Vec<(String, String)>,
    pub bytes: Bytes,
}

impl Part {
    /// Whether the part is a text field (else it is a file). A part without
    /// a `filename` whose bytes are not UTF-8 counts as a file: as text it
    /// could only be shown with bytes replaced, and as a file it downloads
    /// exactly.
    pub fn is_text(&self) -> bool {
        self.file_name.is_none() && std::str::from_utf8(&self.bytes).is_ok()
    }
}

/// The media type of a `Content-Type` value, lower case, without
/// parameters.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The parts of `body` when `content_type` is `multipart/form-data` with a
/// boundary and the body is within [`PARSE_LIMIT`]; stops at the first part
/// that does not parse (the rest is still in the raw body).
pub fn parts(body: &Bytes, content_type: &str) -> Vec<Part> {
    if essence(content_type) != "multipart/form-data" || body.len() > PARSE_LIMIT {
        return Vec::new();
    }
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Vec::new();
    };
    // The whole body is in memory and the stream yields it at once, so
    // multer never waits: each step completes on its first poll. That keeps
    // this synchronous, for the request object's builder (the live feed
    // builds it outside any handler).
    let stream = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(body.clone())]);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(Ok(Some(field))) = multipart.next_field().now_or_never() {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let headers = field
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let Some(Ok(bytes)) = field.bytes().now_or_never() else {
            break;
        };
        parts.push(Part {
            name,
            file_name,
            content_type,
            headers,
            bytes,
        });
    }
    parts
}

/// The id of the part at `number` (its position in the body, from 1, as in
/// the dashboard's `/part/{n}`) of request `request`: derived, not stored,
/// so it is the same in every answer and needs no migration. A UUID like
/// webhook.site's file ids (version 8: its bits are a hash).
pub fn file_id(request: Uuid, number: usize) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"hookscope file part\0")
        .chain_update(request.as_bytes())
        .chain_update((number as u64).to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A file name that is safe inside a `Content-Disposition` header: the
/// part's own name reduced to plain characters, else `part-{n}.bin`.
pub fn download_name(part: &Part, number: usize) -> String {
    let cleaned: String = base_name(part)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        format!("part-{number}.bin")
    } else {
        cleaned
    }
}

/// `Content-Disposition` of a part's download: `attachment` with the
/// [`download_name`], plus the sender's own name percent-encoded
/// (`filename*`, RFC 6266) when plain characters could not spell it, so a
/// browser or `curl -OJ` keeps `Jürgen.pdf` as it was sent.
pub fn content_disposition(part: &Part, number: usize) -> String {
    let plain = download_name(part, number);
    let original = base_name(part);
    if original.is_empty() || original == plain || original.chars().any(char::is_control) {
        return format!("attachment; filename=\"{plain}\"");
    }
    let mut encoded = String::with_capacity(original.len() * 3);
    for byte in original.bytes() {
        // RFC 5987 attr-char: everything else is percent-encoded.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

/// The part's file name without any directory a sender put in front.
fn base_name(part: &Part) -> &str {
    part.file_name
        .as_deref()
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Part {
        Part {
            name: String::new(),
            file_name: Some(name.to_owned()),
            content_type: None,
            headers: Vec::new(),
            bytes: Bytes::new(),
        }
    }

    #[test]
    fn download_names_keep_only_plain_characters() {
        assert_eq!(download_name(&file("a\"b;c.txt"), 1), "abc.txt");
        assert_eq!(download_name(&file("../../etc/passwd"), 1), "passwd");
        assert_eq!(download_name(&file("\"\r\n"), 2), "part-2.bin");
    }

    #[test]
    fn dispositions_carry_a_non_ascii_name_encoded() {
        assert_eq!(
            content_disposition(&file("report.pdf"), 1),
            "attachment; filename=\"report.pdf\""
        );
        assert_eq!(
            content_disposition(&file("dir/Jürgen \"1\".pdf"), 3),
            "attachment; filename=\"Jrgen1.pdf\"; \
             filename*=UTF-8''J%C3%BCrgen%20%221%22.pdf"
        );
        assert_eq!(
            content_disposition(&file("a\r\nb.txt"), 1),
            "attachment; filename=\"ab.txt\""
        );
    }

    #[test]
    fn file_ids_are_stable_and_distinct() {
        let request = Uuid::now_v7();
        assert_eq!(file_id(request, 1), file_id(request, 1));
        assert_ne!(file_id(request, 1), file_id(request, 2));
        assert_ne!(file_id(request, 1), file_id(Uuid::now_v7(), 1));
        assert_eq!(file_id(request, 1).get_version_num(), 8);
    }

    #[test]
    fn parts_split_fields_and_files() {
        let body = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n\
              --b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\
              Content-Type: application/octet-stream\r\n\r\n\x00\xff\r\n--b--\r\n",
        );
        let parts = parts(&body, "Multipart/Form-Data; boundary=b");
        assert_eq!(parts.len(), 2);
        assert!(parts[0].is_text());
        assert_eq!(&parts[0].bytes[..], b"hi");
        assert!(!parts[1].is_text());
        assert_eq!(parts[1].file_name.as_deref(), Some("x.bin"));
        assert_eq!(&parts[1].bytes[..], b"\x00\xff");
        assert!(super::parts(&body, "text/plain").is_empty());
    }
}
