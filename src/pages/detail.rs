//! The detail pane of one request: what the body is, decoded for reading.
//! Storage never decodes; this only shows, and caps what it shows.

use std::fmt::Write as _;

use uuid::Uuid;

use crate::model::{CapturedRequest, Header, SentResponse};

/// Most body text shown inline; the download has the rest.
const TEXT_LIMIT: usize = 256 * 1024;
/// Most body bytes shown as hex.
const HEX_LIMIT: usize = 16 * 1024;
/// Largest body we try to pretty-print or split into form fields.
const PARSE_LIMIT: usize = 2 * 1024 * 1024;

/// One field of a urlencoded or multipart form.
pub struct FormField {
    pub name: String,
    /// The value as text, or a description of a file part.
    pub value: String,
    pub file_name: Option<String>,
}

pub struct RequestDetail {
    pub id: Uuid,
    pub method: String,
    pub url: String,
    pub version: String,
    pub remote_addr: String,
    pub received: String,
    pub received_iso: String,
    pub size: String,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub form: Vec<FormField>,
    pub json: Option<String>,
    pub text: Option<String>,
    pub hex: Option<String>,
    /// Shown text or hex is only the start of the body.
    pub truncated: bool,
    pub empty: bool,
    /// For a listen-mode capture: what its sender was answered.
    pub answered: Option<Answered>,
}

/// What a listen-mode capture answered, for reading.
pub struct Answered {
    /// The local app's answer (else the bin's default: none came in time).
    pub from_app: bool,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answered {
    pub fn new(sent: &SentResponse) -> Self {
        let body = String::from_utf8_lossy(&sent.body[..sent.body.len().min(TEXT_LIMIT)]);
        Self {
            from_app: sent.from_app,
            status: sent.status,
            headers: Header::pairs_lossy(&sent.headers),
            body: body.into_owned(),
        }
    }
}

impl RequestDetail {
    pub async fn new(req: &CapturedRequest, public_base: Option<&str>) -> Self {
        let content_type = req.header_str("content-type");
        let mime = content_type
            .as_deref()
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let body = &req.body;
        let mut form = Vec::new();
        let mut json = None;
        if body.len() <= PARSE_LIMIT {
            if mime == "application/x-www-form-urlencoded" && req.body_text().is_some() {
                form = form_urlencoded::parse(body)
                    .map(|(k, v)| FormField {
                        name: k.into_owned(),
                        value: v.into_owned(),
                        file_name: None,
                    })
                    .collect();
            } else if mime == "multipart/form-data" {
                form = multipart_fields(req, content_type.as_deref().unwrap_or("")).await;
            }
            if mime.contains("json")
                || body.trim_ascii_start().starts_with(b"{")
                || body.trim_ascii_start().starts_with(b"[")
            {
                json = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok());
            }
        }
        let (text, hex, truncated) = match std::str::from_utf8(body) {
            Ok(text) if text.len() <= TEXT_LIMIT => (Some(text.to_owned()), None, false),
            Ok(text) => (
                Some(truncate_at_char(text, TEXT_LIMIT).to_owned()),
                None,
                true,
            ),
            Err(_) => (
                None,
                Some(hex_dump(&body[..body.len().min(HEX_LIMIT)])),
                body.len() > HEX_LIMIT,
            ),
        };
        Self {
            id: req.id,
            method: req.method.clone(),
            url: format!("{}{}", req.base_url(public_base), req.path_and_query()),
            version: req.version.clone(),
            remote_addr: req.remote_addr.clone(),
            received: req.received_at.to_sql_datetime(),
            received_iso: req.received_at.to_rfc3339(),
            size: super::human_size(req.size()),
            content_type,
            headers: Header::pairs_lossy(&req.headers),
            query: req.query_pairs(),
            form,
            json,
            text,
            hex,
            truncated,
            empty: body.is_empty(),
            answered: None,
        }
    }
}

fn truncate_at_char(text: &str, limit: usize) -> &str {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

async fn multipart_fields(req: &CapturedRequest, content_type: &str) -> Vec<FormField> {
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Vec::new();
    };
    let body = req.body.clone();
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let part_type = field.content_type().map(ToString::to_string);
        let Ok(bytes) = field.bytes().await else {
            break;
        };
        let value = match (&file_name, std::str::from_utf8(&bytes)) {
            (None, Ok(text)) => truncate_at_char(text, TEXT_LIMIT).to_owned(),
            _ => format!(
                "{} file, {}",
                part_type.as_deref().unwrap_or("binary"),
                super::human_size(bytes.len())
            ),
        };
        fields.push(FormField {
            name,
            value,
            file_name,
        });
    }
    fields
}

/// Classic hex dump: offset, 16 bytes in hex, the printable ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 16);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", line * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_shows_offsets_bytes_and_ascii() {
        let dump = hex_dump(b"\x00AB\xff");
        assert!(dump.starts_with("00000000  00 41 42 ff"), "{dump}");
        assert!(dump.ends_with("|.AB.|\n"), "{dump}");
    }
}
