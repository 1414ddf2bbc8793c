//! HTTP/1 framing, exactly as the bytes go: heads parsed with `httparse`
//! (which keeps field names' case, their order and duplicates, where a
//! `HeaderMap` would regroup them), where a body ends, and heads written
//! field by field.
//!
//! Two parts of hookscope need this: the server's head tap (`wire`), which
//! watches what hyper reads to keep each request's head as sent, and the
//! forwarder's client (`forward`), which writes requests with their fields
//! untouched and reads the answers. Both read heads and bodies by the same
//! rules here, so they cannot drift apart. The rules follow hyper's, so the
//! tap frames a connection's bodies as the server does.

use crate::model::Header;

/// A request head as sent: request line and header fields in order, with
/// their case and duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// HTTP/1.0 rather than HTTP/1.1.
    pub http10: bool,
    pub headers: Vec<Header>,
}

/// An answer's head: its status and header fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerHead {
    pub status: u16,
    pub headers: Vec<Header>,
}

/// Heads with at most this many lines are parsed without allocating.
const FEW_HEADERS: usize = 32;

/// Runs `parse` with room for the header fields of the head that starts
/// `bytes`, at most `max_headers`. Each field takes a line, so the line
/// count bounds the fields: most heads fit on the stack instead of a
/// `max_headers` array per message.
fn with_fields<'b, T>(
    bytes: &'b [u8],
    max_headers: usize,
    parse: impl FnOnce(&mut [httparse::Header<'b>]) -> T,
) -> T {
    let wanted = memchr::memchr_iter(b'\n', bytes).take(max_headers).count();
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    let mut many = Vec::new();
    let fields = if wanted <= FEW_HEADERS {
        &mut few[..wanted]
    } else {
        many.resize(wanted, httparse::EMPTY_HEADER);
        &mut many[..]
    };
    parse(fields)
}

fn headers_of(fields: &[httparse::Header<'_>]) -> Vec<Header> {
    fields
        .iter()
        .map(|h| Header::new(h.name, h.value))
        .collect()
}

/// Parses the request head at the start of `bytes`: `None` while it is
/// incomplete, else the head and how many bytes it took. More than
/// `max_headers` fields is `httparse::Error::TooManyHeaders`.
pub fn parse_request_head(
    bytes: &[u8],
    max_headers: usize,
) -> Result<Option<(usize, RequestHead)>, httparse::Error> {
    with_fields(bytes, max_headers, |fields| {
        let mut req = httparse::Request::new(fields);
        let httparse::Status::Complete(used) = req.parse(bytes)? else {
            return Ok(None);
        };
        // A complete parse always has them.
        let (Some(method), Some(target)) = (req.method, req.path) else {
            return Ok(None);
        };
        Ok(Some((
            used,
            RequestHead {
                method: method.to_owned(),
                target: target.to_owned(),
                http10: req.version == Some(0),
                headers: headers_of(req.headers),
            },
        )))
    })
}

/// Parses the answer head at the start of `bytes`: `None` while it is
/// incomplete, else the head and how many bytes it took.
pub fn parse_answer_head(
    bytes: &[u8],
    max_headers: usize,
) -> Result<Option<(usize, AnswerHead)>, httparse::Error> {
    with_fields(bytes, max_headers, |fields| {
        let mut answer = httparse::Response::new(fields);
        let httparse::Status::Complete(used) = answer.parse(bytes)? else {
            return Ok(None);
        };
        Ok(Some((
            used,
            AnswerHead {
                status: answer.code.unwrap_or(0),
                headers: headers_of(answer.headers),
            },
        )))
    })
}

/// How a message says where its body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: …, chunked`: chunks up to a last, empty one.
    Chunked,
}

/// Framing fields a message's body end cannot be found from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("Transfer-Encoding does not end in chunked")]
    NotChunked,
    #[error("Content-Length is not a number of bytes")]
    BadLength,
    #[error("Content-Length fields disagree")]
    LengthsDisagree,
}

/// The framing `headers` give a body, or `None` when they give none (a
/// request then has no body; an answer runs until the connection closes).
/// The last `Transfer-Encoding` field wins over any `Content-Length`.
pub fn framing(headers: &[Header]) -> Result<Option<Framing>, FramingError> {
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    };
    if let Some(te) = named("transfer-encoding").next_back() {
        let chunked = te
            .value
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        return if chunked {
            Ok(Some(Framing::Chunked))
        } else {
            Err(FramingError::NotChunked)
        };
    }
    let mut lengths = named("content-length").map(|h| content_length(&h.value));
    let Some(first) = lengths.next() else {
        return Ok(None);
    };
    let length = first.ok_or(FramingError::BadLength)?;
    if !lengths.all(|other| other == Some(length)) {
        return Err(FramingError::LengthsDisagree);
    }
    Ok(Some(Framing::Length(length)))
}

/// A Content-Length value read as hyper reads it: decimal digits only (no
/// sign, no list).
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Where a body is in its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// This many bytes of a Content-Length body are still to come.
    Length(u64),
    /// A chunk-size line.
    ChunkSize,
    /// This many bytes of chunk data are still to come.
    ChunkData(u64),
    /// The CRLF after chunk data.
    ChunkEnd,
    /// Trailer fields, up to an empty line.
    Trailers,
    /// Past the body's end.
    Done,
}

/// A body's framing the bytes do not follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("bad chunk size")]
    ChunkSize,
    #[error("chunk data does not end with CRLF")]
    ChunkEnd,
    #[error("a chunk-size or trailer line is too long")]
    LineTooLong,
}

/// Follows a body's framing through its bytes, however they are split
/// across reads: hands over the body's own bytes (without chunk framing)
/// and finds where the body ends, so the next message can start there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyReader {
    part: Part,
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
}

impl BodyReader {
    pub fn new(framing: Framing) -> Self {
        Self {
            part: match framing {
                Framing::Length(0) => Part::Done,
                Framing::Length(n) => Part::Length(n),
                Framing::Chunked => Part::ChunkSize,
            },
            line: Vec::new(),
        }
    }

    /// Reads what of `data` belongs to the body, handing body bytes to
    /// `body`; returns how many bytes of `data` it took. Fewer than all
    /// only once the body has ended: the rest is the next message.
    pub fn read(&mut self, data: &[u8], mut body: impl FnMut(&[u8])) -> Result<usize, BodyError> {
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            match self.part {
                Part::Done => break,
                Part::Length(left) | Part::ChunkData(left) => {
                    let n = usize::try_from(left).map_or(rest.len(), |left| left.min(rest.len()));
                    body(&rest[..n]);
                    at += n;
                    let left = left - n as u64;
                    self.part = match (self.part, left) {
                        (Part::Length(_), 0) => Part::Done,
                        (Part::Length(_), _) => Part::Length(left),
                        (_, 0) => Part::ChunkEnd,
                        (_, _) => Part::ChunkData(left),
                    };
                }
                Part::ChunkSize | Part::ChunkEnd | Part::Trailers => {
                    let Some(used) = self.gather_line(rest)? else {
                        return Ok(data.len());
                    };
                    at += used;
                    self.part = self.after_line()?;
                    self.line.clear();
                }
            }
        }
        Ok(at)
    }

    /// Whether all of the body's bytes are in (a chunked body's trailers
    /// may still be on their way).
    pub fn has_all_data(&self) -> bool {
        matches!(self.part, Part::Trailers | Part::Done)
    }

    /// Whether the body has ended, trailers and all.
    pub fn is_done(&self) -> bool {
        self.part == Part::Done
    }

    /// Adds `data` up to the end of a line (its `\n`) to `self.line`; how
    /// much of `data` that took, or `None` when the line goes on.
    fn gather_line(&mut self, data: &[u8]) -> Result<Option<usize>, BodyError> {
        let end = memchr::memchr(b'\n', data);
        let take = end.map_or(data.len(), |i| i + 1);
        if self.line.len() + take > MAX_LINE_BYTES {
            return Err(BodyError::LineTooLong);
        }
        self.line.extend_from_slice(&data[..take]);
        Ok(end.map(|_| take))
    }

    /// Where the body is once the complete line in `self.line` is read.
    fn after_line(&self) -> Result<Part, BodyError> {
        let line = self.line.as_slice();
        match self.part {
            // httparse reads extensions and whitespace as hyper does.
            Part::ChunkSize => match httparse::parse_chunk_size(line) {
                Ok(httparse::Status::Complete((used, size))) if used == line.len() => {
                    Ok(if size == 0 {
                        Part::Trailers
                    } else {
                        Part::ChunkData(size)
                    })
                }
                _ => Err(BodyError::ChunkSize),
            },
            Part::ChunkEnd if line == b"\r\n" => Ok(Part::ChunkSize),
            Part::ChunkEnd => Err(BodyError::ChunkEnd),
            Part::Trailers if line == b"\r\n" => Ok(Part::Done),
            other => Ok(other),
        }
    }
}

/// A `tchar` of RFC 9110: what methods and header names are made of.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `text` is a token: a valid method or header name.
pub fn is_token(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(|&b| is_token_byte(b))
}

/// Appends an HTTP/1.1 request line: `METHOD target HTTP/1.1`.
pub fn write_request_line(out: &mut Vec<u8>, method: &str, target: &str) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Appends one header field, `Name: value`, name and value as given.
pub fn write_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the empty line that ends a head.
pub fn end_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `wire` split at every point; the body and the unread rest.
    fn read_split(framing: Framing, wire: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..=wire.len())
            .map(|split| {
                let mut reader = BodyReader::new(framing);
                let mut body = Vec::new();
                let mut rest = Vec::new();
                for piece in [&wire[..split], &wire[split..]] {
                    let used = reader
                        .read(piece, |b| body.extend_from_slice(b))
                        .expect("well framed");
                    rest.extend_from_slice(&piece[used..]);
                }
                assert!(reader.is_done(), "split at {split}");
                (body, rest)
            })
            .collect()
    }

    #[test]
    fn a_chunked_body_reads_the_same_however_it_is_split() {
        let wire = b"3;ext=1\r\nabc\r\n2 \r\nde\r\n0\r\nT: v\r\n\r\nNEXT";
        for (body, rest) in read_split(Framing::Chunked, wire) {
            assert_eq!(body, b"abcde");
            assert_eq!(rest, b"NEXT");
        }
        for (body, rest) in read_split(Framing::Length(5), b"helloNEXT") {
            assert_eq!(body, b"hello");
            assert_eq!(rest, b"NEXT");
        }
    }

    #[test]
    fn all_data_is_in_before_the_trailers() {
        let mut reader = BodyReader::new(Framing::Chunked);
        assert_eq!(reader.read(b"1\r\na\r\n0\r\n", |_| {}), Ok(9));
        assert!(reader.has_all_data() && !reader.is_done());
        assert!(BodyReader::new(Framing::Length(0)).is_done());
    }

    #[test]
    fn bad_chunk_framing_is_an_error() {
        for (wire, error) in [
            (&b"x\r\n"[..], BodyError::ChunkSize),
            (b"3\n", BodyError::ChunkSize),
            (b"3\r\nabcX\r\n", BodyError::ChunkEnd),
        ] {
            let mut reader = BodyReader::new(Framing::Chunked);
            assert_eq!(
                reader.read(wire, |_| {}),
                Err(error),
                "{}",
                wire.escape_ascii()
            );
        }
        let mut reader = BodyReader::new(Framing::Chunked);
        let long = vec![b'1'; MAX_LINE_BYTES + 1];
        assert_eq!(reader.read(&long, |_| {}), Err(BodyError::LineTooLong));
    }

    #[test]
    fn framing_follows_the_last_transfer_encoding_then_content_length() {
        let of = |fields: &[(&str, &str)]| {
            let headers: Vec<Header> = fields.iter().map(|(n, v)| Header::new(*n, *v)).collect();
            framing(&headers)
        };
        assert_eq!(of(&[]), Ok(None));
        assert_eq!(
            of(&[("Content-Length", " 12 ")]),
            Ok(Some(Framing::Length(12)))
        );
        assert_eq!(
            of(&[("content-length", "3"), ("Content-Length", "3")]),
            Ok(Some(Framing::Length(3)))
        );
        assert_eq!(
            of(&[
                ("Transfer-Encoding", "gzip, Chunked"),
                ("Content-Length", "3")
            ]),
            Ok(Some(Framing::Chunked))
        );
        assert_eq!(
            of(&[("Transfer-Encoding", "chunked, gzip")]),
            Err(FramingError::NotChunked)
        );
        for bad in ["-1", "+1", "1, 1", ""] {
            assert_eq!(of(&[("Content-Length", bad)]), Err(FramingError::BadLength));
        }
        assert_eq!(
            of(&[("Content-Length", "1"), ("Content-Length", "2")]),
            Err(FramingError::LengthsDisagree)
        );
    }

    #[test]
    fn heads_keep_case_order_and_duplicates() {
        let wire = b"POST /a?b HTTP/1.0\r\nX-Dup: 1\r\nhost: h\r\nx-dup: \xff\r\n\r\nbody";
        let (used, head) = parse_request_head(wire, 100)
            .expect("valid")
            .expect("complete");
        assert_eq!(&wire[used..], b"body");
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("POST", "/a?b")
        );
        assert!(head.http10);
        let names: Vec<_> = head.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["X-Dup", "host", "x-dup"]);
        assert_eq!(head.headers[2].value, b"\xff");
        assert_eq!(parse_request_head(&wire[..20], 100), Ok(None));
        assert_eq!(
            parse_request_head(wire, 2),
            Err(httparse::Error::TooManyHeaders)
        );

        let answer = b"HTTP/1.1 201 Created\r\nA: 1\r\na: 2\r\n\r\n";
        let (used, head) = parse_answer_head(answer, 100)
            .expect("valid")
            .expect("complete");
        assert_eq!(used, answer.len());
        assert_eq!(head.status, 201);
        assert_eq!(head.headers, [Header::new("A", "1"), Header::new("a", "2")]);
        assert_eq!(parse_answer_head(&answer[..30], 100), Ok(None));
    }

    #[test]
    fn heads_are_written_field_by_field() {
        let mut out = Vec::new();
        write_request_line(&mut out, "PUT", "/x?y");
        write_field(&mut out, "X-Raw", b"caf\xe9");
        end_head(&mut out);
        assert_eq!(out, b"PUT /x?y HTTP/1.1\r\nX-Raw: caf\xe9\r\n\r\n");
        assert!(is_token(b"PROPFIND") && !is_token(b"G T") && !is_token(b""));
    }
}
