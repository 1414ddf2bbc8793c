//! The usual ways a body gets changed between its sender and a signature
//! check: a framework parsing JSON and writing it back, a proxy or editor
//! touching line ends. When a signature fails on the bytes received but
//! matches one of these, the developer learns what changed the body.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};

/// One re-encoding of a body and how a reason names it.
pub(super) struct Reencoding {
    pub(super) body: Vec<u8>,
    /// Completes "signature matches this body …".
    pub(super) described: &'static str,
}

/// Re-encodings are only tried after a failure, and each costs one more
/// HMAC over the whole body: past this size the check stays at one.
const LARGEST_BODY: usize = 1024 * 1024;

/// Every distinct re-encoding of `body` that differs from it, the smallest change
/// first: a JSON body that only lost its trailing newline is also its own
/// compact re-encoding, and the newline is the better answer.
pub(super) fn reencodings(body: &[u8]) -> Vec<Reencoding> {
    if body.len() > LARGEST_BODY {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut add = |candidate: Vec<u8>, described| {
        if candidate != body && found.iter().all(|r: &Reencoding| r.body != candidate) {
            found.push(Reencoding {
                body: candidate,
                described,
            });
        }
    };
    match body {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] => {
            add(rest.to_vec(), "with its trailing newline removed");
        }
        _ => add([body, b"\n"].concat(), "with a trailing newline added"),
    }
    if body.windows(2).any(|pair| pair == b"\r\n") {
        add(crlf_to_lf(body), "with CRLF line ends turned into LF");
    }
    if bare_newlines(body) {
        add(lf_to_crlf(body), "with LF line ends turned into CRLF");
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        add(
            written(&value, CompactFormatter),
            "re-encoded as compact JSON",
        );
        add(
            written(&value, PrettyFormatter::new()),
            "re-encoded as pretty-printed JSON",
        );
        add(
            written(&value, EscapingFormatter::PYTHON),
            "re-encoded as Python's json.dumps writes it (a space after `:` and `,`, non-ASCII \
             escaped)",
        );
        add(
            written(&value, EscapingFormatter::PHP),
            "re-encoded as PHP's json_encode writes it (`/` and non-ASCII escaped)",
        );
    }
    found
}

fn written(value: &serde_json::Value, formatter: impl Formatter) -> Vec<u8> {
    let mut out = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("a parsed JSON value writes back into memory");
    out
}

/// JSON as two other common frameworks write it back: one line, every
/// non-ASCII character as `\uXXXX`; Python's `json.dumps` puts a space
/// after `:` and `,`, PHP's `json_encode` escapes `/`. serde_json's own
/// compact and pretty forms cover most of the rest (JavaScript's
/// `JSON.stringify`, Go, Ruby).
struct EscapingFormatter {
    spaced: bool,
    escape_slash: bool,
}

impl EscapingFormatter {
    const PYTHON: Self = Self {
        spaced: true,
        escape_slash: false,
    };
    const PHP: Self = Self {
        spaced: false,
        escape_slash: true,
    };

    fn separator<W: ?Sized + io::Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        match (first, self.spaced) {
            (true, _) => Ok(()),
            (false, true) => writer.write_all(b", "),
            (false, false) => writer.write_all(b","),
        }
    }
}

impl Formatter for EscapingFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(if self.spaced { b": " } else { b":" })
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if c == '/' && self.escape_slash {
                writer.write_all(b"\\/")?;
            } else if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

fn crlf_to_lf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut bytes = body.iter().peekable();
    while let Some(&byte) = bytes.next() {
        if byte == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

fn bare_newlines(body: &[u8]) -> bool {
    body.iter()
        .enumerate()
        .any(|(at, &byte)| byte == b'\n' && (at == 0 || body[at - 1] != b'\r'))
}

fn lf_to_crlf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16);
    for (at, &byte) in body.iter().enumerate() {
        if byte == b'\n' && (at == 0 || body[at - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(body: &[u8]) -> Vec<(&'static str, String)> {
        reencodings(body)
            .into_iter()
            .map(|r| (r.described, String::from_utf8(r.body).expect("text")))
            .collect()
    }

    #[test]
    fn json_is_rewritten_keeping_key_order() {
        let found = described(b"{\"z\":1,\"a\":[1,2]}");
        assert_eq!(
            found[0],
            (
                "with a trailing newline added",
                "{\"z\":1,\"a\":[1,2]}\n".into()
            )
        );
        assert_eq!(
            found[1],
            (
                "re-encoded as pretty-printed JSON",
                "{\n  \"z\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}".into()
            )
        );
        assert_eq!(found[2].1, "{\"z\": 1, \"a\": [1, 2]}");
        assert!(found[2].0.contains("Python"));

        assert_eq!(
            found.len(),
            3,
            "the compact form is the body itself: {found:?}"
        );
    }

    #[test]
    fn python_and_php_escape_as_they_do() {
        let found = described("{\"name\":\"José 🚀\",\"url\":\"a/b\"}".as_bytes());
        let python = found.iter().find(|(what, _)| what.contains("Python"));
        assert_eq!(
            python.map(|(_, body)| body.as_str()),
            Some("{\"name\": \"Jos\\u00e9 \\ud83d\\ude80\", \"url\": \"a/b\"}")
        );
        let php = found.iter().find(|(what, _)| what.contains("PHP"));
        assert_eq!(
            php.map(|(_, body)| body.as_str()),
            Some("{\"name\":\"Jos\\u00e9 \\ud83d\\ude80\",\"url\":\"a\\/b\"}")
        );
    }

    #[test]
    fn a_pretty_body_is_tried_compact() {
        let found = described(b"{\n  \"a\": 1\n}\n");
        assert!(found.contains(&("re-encoded as compact JSON", "{\"a\":1}".into())));
        assert!(found
            .iter()
            .any(|(what, body)| *what == "with its trailing newline removed"
                && body == "{\n  \"a\": 1\n}"));
        assert!(found
            .iter()
            .any(|(what, body)| *what == "with LF line ends turned into CRLF"
                && body == "{\r\n  \"a\": 1\r\n}\r\n"));
    }

    #[test]
    fn line_ends_are_turned_both_ways() {
        let found = described(b"a\r\nb\r\n");
        assert!(found.contains(&("with its trailing newline removed", "a\r\nb".into())));
        assert!(found.contains(&("with CRLF line ends turned into LF", "a\nb\n".into())));
        assert!(!found.iter().any(|(what, _)| what.contains("into CRLF")));
        let found = described(b"\na\r\n");
        assert!(found.contains(&("with LF line ends turned into CRLF", "\r\na\r\n".into())));
    }

    #[test]
    fn a_large_body_is_not_tried_again() {
        assert!(reencodings(&vec![b'\n'; LARGEST_BODY + 1]).is_empty());
        assert!(!reencodings(&vec![b'\n'; LARGEST_BODY]).is_empty());
    }
}
