//! "Copy as curl": a shell command that sends a stored request again with
//! the same method, sub-path, raw query, headers (in order) and body bytes.

use crate::model::CapturedRequest;

/// Headers curl computes itself from what it sends.
const SKIPPED: [&str; 3] = ["host", "content-length", "transfer-encoding"];

/// Headers curl adds on its own; when the original request had none, the
/// command removes curl's (`-H 'Name:'`).
const CURL_DEFAULTS: [&str; 3] = ["user-agent", "accept", "content-type"];

pub struct CurlCommand {
    /// The command line, for `bash` (uses `$'…'` quoting where needed).
    pub line: String,
    /// The body holds a NUL byte, which no shell string can carry: the
    /// command reads it from `body.bin` (the downloaded exact bytes).
    pub body_from_file: bool,
}

/// `url` is where to send it: the bin's capture URL plus the original
/// path below the bin and the raw query.
pub fn curl_command(req: &CapturedRequest, url: &str) -> CurlCommand {
    let mut parts = vec![
        String::from("curl"),
        String::from("--globoff"),
        String::from("--path-as-is"),
        String::from("-X"),
        quote(req.method.as_bytes()),
    ];
    if req.version == "HTTP/1.0" {
        parts.push(String::from("--http1.0"));
    }
    parts.push(quote(url.as_bytes()));
    for h in &req.headers {
        if SKIPPED.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            continue;
        }
        let mut header = h.name.as_bytes().to_vec();
        if h.value.is_empty() {
            // `Name;` is curl's way to send a header with an empty value.
            header.push(b';');
        } else {
            header.extend_from_slice(b": ");
            header.extend_from_slice(&h.value);
        }
        parts.push(String::from("-H"));
        parts.push(quote(&header));
    }
    for default in CURL_DEFAULTS {
        let sent = req.header(default).is_some();
        let curl_adds = default != "content-type" || !req.body.is_empty();
        if !sent && curl_adds {
            parts.push(String::from("-H"));
            parts.push(quote(format!("{}:", title_case(default)).as_bytes()));
        }
    }
    if !req.body.is_empty() && req.header("expect").is_none() {
        // curl asks `Expect: 100-continue` before large bodies.
        parts.push(String::from("-H"));
        parts.push(quote(b"Expect:"));
    }
    let body_from_file = req.body.contains(&0);
    if body_from_file {
        parts.push(String::from("--data-binary"));
        parts.push(String::from("@body.bin"));
    } else if !req.body.is_empty() {
        // `--data-raw` sends the bytes as given (a leading `@` is no file).
        parts.push(String::from("--data-raw"));
        parts.push(quote(&req.body));
    }
    CurlCommand {
        line: parts.join(" "),
        body_from_file,
    }
}

fn title_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Shell-quotes bytes: `'…'` when they are plain printable ASCII, else
/// bash's `$'…'` with `\xHH` escapes (never for NUL, which bash cannot
/// hold).
fn quote(bytes: &[u8]) -> String {
    let plain = bytes
        .iter()
        .all(|&b| (b' '..=b'~').contains(&b) && b != b'\'');
    if plain {
        return format!("'{}'", String::from_utf8_lossy(bytes));
    }
    let mut out = String::from("$'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_plain_and_escaped_bytes() {
        assert_eq!(quote(b"a b"), "'a b'");
        assert_eq!(quote(b"it's\n\xff\\"), r"$'it\'s\n\xff\\'");
    }
}
