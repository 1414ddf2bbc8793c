//! The parts of a `multipart/form-data` body, for the detail pane and for
//! downloading one part on its own. Parsing never changes what is stored.

use bytes::Bytes;

/// One part of a multipart body.
pub struct Part {
    pub name: String,
    /// The part's `filename`, when it is a file upload.
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// The part's own headers, in arrival order.
    pub headers: Vec<(String, String)>,
    pub bytes: Bytes,
}

impl Part {
    /// Whether the part is shown inline as text (else it is a file).
    pub fn is_text(&self) -> bool {
        self.file_name.is_none() && std::str::from_utf8(&self.bytes).is_ok()
    }
}

/// The parts of `body`, when `content_type` is multipart with a boundary;
/// stops at the first part that does not parse (the rest is in the raw
/// body).
pub async fn parts(body: Bytes, content_type: &str) -> Vec<Part> {
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Vec::new();
    };
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
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
        let Ok(bytes) = field.bytes().await else {
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

/// A file name that is safe inside a `Content-Disposition` header: the
/// part's own name reduced to plain characters, else `part-{n}.bin`.
pub fn download_name(part: &Part, index: usize) -> String {
    let cleaned: String = part
        .file_name
        .as_deref()
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        format!("part-{index}.bin")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_keep_only_plain_characters() {
        let part = |name: &str| Part {
            name: String::new(),
            file_name: Some(name.to_owned()),
            content_type: None,
            headers: Vec::new(),
            bytes: Bytes::new(),
        };
        assert_eq!(download_name(&part("a\"b;c.txt"), 1), "abc.txt");
        assert_eq!(download_name(&part("../../etc/passwd"), 1), "passwd");
        assert_eq!(download_name(&part("\"\r\n"), 2), "part-2.bin");
    }
}
