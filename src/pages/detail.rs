//! The detail pane of one request: what the body is, decoded for reading.
//! Storage never decodes; this only shows, and caps what it shows so that
//! a page stays small whatever the body weighs (the rest is one click or a
//! download away).

use std::fmt::Write as _;

use uuid::Uuid;

use crate::model::{CapturedRequest, Header, SentResponse, SignatureJson};
use crate::multipart::{self, essence, Part};

/// Most body text shown inline, also the largest body we pretty-print or
/// split into form fields; "show all" and the download have the rest.
pub const PREVIEW_LIMIT: usize = 64 * 1024;
/// Most body bytes shown as hex.
const HEX_LIMIT: usize = 16 * 1024;

/// One field of a urlencoded form (repeated names kept, in order).
pub struct FormField {
    pub name: String,
    pub value: String,
}

/// One part of a multipart body, for reading.
pub struct PartView {
    /// Position in the body, from 1 (the download link's `{n}`).
    pub number: usize,
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The part's text, for a text field (capped).
    pub text: Option<String>,
    pub size: String,
}

pub struct RequestDetail {
    pub id: Uuid,
    pub method: String,
    /// The method's colour class (see `pages::method_class`).
    pub method_class: &'static str,
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
    pub parts: Vec<PartView>,
    pub json: Option<String>,
    pub xml: Option<String>,
    pub text: Option<String>,
    pub hex: Option<String>,
    /// Shown text or hex is only the start of the body.
    pub truncated: bool,
    pub empty: bool,
    /// For a capture awaiting a relayed answer: what its sender was answered.
    pub answered: Option<Answered>,
    /// The bin's signature check: valid or not, and the full reason.
    pub signature: Option<SignatureJson>,
}

/// What a capture awaiting a relayed answer answered, for reading.
pub struct Answered {
    /// The local app's answer (else the bin's default: none came in time).
    pub from_app: bool,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answered {
    pub fn new(sent: &SentResponse) -> Self {
        let body = String::from_utf8_lossy(&sent.body[..sent.body.len().min(PREVIEW_LIMIT)]);
        Self {
            from_app: sent.from_app,
            status: sent.status,
            headers: Header::pairs_lossy(&sent.headers),
            body: body.into_owned(),
        }
    }
}

impl RequestDetail {
    pub fn new(req: &CapturedRequest, public_base: Option<&str>) -> Self {
        let content_type = req.header_str("content-type");
        let mime = content_type.as_deref().map(essence).unwrap_or_default();
        let body = &req.body;
        let small = body.len() <= PREVIEW_LIMIT;
        let mut form = Vec::new();
        let mut parts = Vec::new();
        let mut json = None;
        let mut xml = None;
        if small && mime == "application/x-www-form-urlencoded" && req.body_text().is_some() {
            form = req
                .form()
                .fields
                .into_iter()
                .map(|(name, value)| FormField { name, value })
                .collect();
        }
        if mime == "multipart/form-data" {
            parts = multipart::parts(body, content_type.as_deref().unwrap_or(""))
                .iter()
                .enumerate()
                .map(|(i, part)| PartView::new(i + 1, part))
                .collect();
        }
        let starts = body.trim_ascii_start();
        if small && (mime.contains("json") || starts.starts_with(b"{") || starts.starts_with(b"["))
        {
            json = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok());
        }
        if small && (mime.contains("xml") || starts.starts_with(b"<?xml")) {
            xml = req.body_text().and_then(super::xml::indent);
        }
        let (text, hex, truncated) = match std::str::from_utf8(body) {
            Ok(text) => (
                Some(truncate_at_char(text, PREVIEW_LIMIT).to_owned()),
                None,
                text.len() > PREVIEW_LIMIT,
            ),
            // Text whose first bytes are fine and only later go wrong is
            // still shown as text: the preview never reaches the bad part.
            Err(e) if e.valid_up_to() >= PREVIEW_LIMIT => {
                let text = String::from_utf8_lossy(&body[..e.valid_up_to()]);
                (
                    Some(truncate_at_char(&text, PREVIEW_LIMIT).to_owned()),
                    None,
                    true,
                )
            }
            Err(_) => (
                None,
                Some(hex_dump(&body[..body.len().min(HEX_LIMIT)])),
                body.len() > HEX_LIMIT,
            ),
        };
        Self {
            id: req.id,
            method: req.method.clone(),
            method_class: super::method_class(&req.method),
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
            parts,
            json,
            xml,
            text,
            hex,
            truncated,
            empty: body.is_empty(),
            answered: None,
            signature: req.signature.as_ref().map(SignatureJson::new),
        }
    }
}

impl PartView {
    fn new(number: usize, part: &Part) -> Self {
        let text = if part.is_text() {
            std::str::from_utf8(&part.bytes)
                .ok()
                .map(|t| truncate_at_char(t, PREVIEW_LIMIT).to_owned())
        } else {
            None
        };
        Self {
            number,
            name: part.name.clone(),
            file_name: part.file_name.clone(),
            content_type: part.content_type.clone(),
            headers: part.headers.clone(),
            text,
            size: super::human_size(part.bytes.len()),
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
