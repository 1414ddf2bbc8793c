//! Request heads exactly as they came over the wire.
//!
//! hyper hands handlers a `HeaderMap`, which lower-cases names and groups
//! repeated fields, so the original case and interleaving are gone. To store
//! headers as received, each HTTP/1 connection's bytes pass through a
//! [`TappedStream`] that parses the heads itself and skips bodies by their
//! framing, both by the rules of [`crate::http1`]. The server hands
//! each request the next tapped head; the capture handler uses it only when
//! it agrees with what hyper parsed, else it falls back to the `HeaderMap`.
//!
//! The same tap gives hyper's own refusals a reason. hyper answers a head it
//! cannot parse (or one too large) itself, before any handler runs, with a
//! bare `400`/`431` and an empty body; the sender learns nothing. hyper stays
//! the judge of what is refused — the tap never refuses anything — but when
//! such a bare answer goes out, [`TappedStream`] swaps it for the same status
//! with a one-line plain-text reason taken from what the tap saw. Keeping
//! hyper as the judge means the tap can never turn away a request hyper would
//! have served, and the happy path does no extra work: the reason is worked
//! out only once a head has failed.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use parking_lot::{Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http1::{self, BodyReader, Framing, FramingError};

/// One tapped request head: request line and header fields as sent (the
/// name the capture handler knows it by).
pub use crate::http1::RequestHead as RawHead;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Reading a request head.
    Head,
    /// Skipping a body.
    Body(BodyReader),
    /// Not HTTP/1 any more (upgrade, HTTP/2) or not understood: stop.
    Off,
}

/// Why hyper will refuse a request, as its sender should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    status: u16,
    reason: String,
}

impl Refusal {
    fn bad_request(reason: impl Into<String>) -> Self {
        Self {
            status: 400,
            reason: reason.into(),
        }
    }
}

struct TapState {
    mode: Mode,
    buf: Vec<u8>,
    heads: VecDeque<RawHead>,
    max_headers: usize,
    /// hyper's limit on a head's bytes (its read buffer).
    max_head_bytes: usize,
    /// Set when the tap stopped at a head hyper will refuse.
    refusal: Option<Refusal>,
}

/// The parsed heads of one connection, shared between its stream and its
/// request handler.
#[derive(Clone)]
pub struct HeadTap {
    state: Arc<Mutex<TapState>>,
}

impl HeadTap {
    /// A tap for a connection whose heads hyper limits to `max_headers`
    /// fields and `max_head_bytes` bytes.
    pub fn new(max_headers: usize, max_head_bytes: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(TapState {
                mode: Mode::Head,
                buf: Vec::new(),
                heads: VecDeque::new(),
                max_headers,
                max_head_bytes,
                refusal: None,
            })),
        }
    }

    /// The head of the next request on this connection, in order.
    pub fn next_head(&self) -> Option<RawHead> {
        let mut state = self.lock();
        let head = state.heads.pop_front();
        if head.is_none() {
            // hyper took a request the tap stopped at (the tap reads heads
            // as hyper does, but not every byte of every rule): the refusal
            // it expected did not come, so it must not explain a later one.
            state.refusal = None;
        }
        head
    }

    fn lock(&self) -> MutexGuard<'_, TapState> {
        self.state.lock()
    }
}

impl TapState {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.mode {
                Mode::Off => return,
                Mode::Head => data = self.feed_head(data),
                Mode::Body(body) => match body.read(data, |_| {}) {
                    Ok(used) => {
                        data = &data[used..];
                        if body.is_done() {
                            self.mode = Mode::Head;
                        }
                    }
                    // hyper will not read on past bad framing either.
                    Err(_) => self.mode = Mode::Off,
                },
            }
        }
    }

    fn feed_head<'a>(&mut self, mut data: &'a [u8]) -> &'a [u8] {
        if self.buf.is_empty() {
            // Empty lines before a request line are allowed and ignored.
            let skip = data
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            data = &data[skip..];
            if data.is_empty() {
                return data;
            }
            // Usually a whole head comes in one read: parse it in place.
            if let Some(end) = head_end(data) {
                self.end_head(&data[..end]);
                return &data[end..];
            }
        }
        let searched_from = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(data);
        let Some(end) = head_end(&self.buf[searched_from..]).map(|end| searched_from + end) else {
            if self.buf.len() >= self.max_head_bytes {
                // hyper's read buffer is full of this head by now: it answers 431.
                self.buf = Vec::new();
                self.stop(Some(head_too_large(self.max_head_bytes)));
            }
            return &[];
        };
        let unread = self.buf.len() - end;
        let head = std::mem::take(&mut self.buf);
        self.end_head(&head[..end]);
        &data[data.len() - unread..]
    }

    /// Takes the complete head `bytes`; what follows is framed as it says.
    fn end_head(&mut self, bytes: &[u8]) {
        match parse_head(bytes, self.max_headers) {
            Ok((raw, next)) => {
                self.heads.push_back(raw);
                self.mode = next;
            }
            Err(refusal) => self.stop(refusal),
        }
    }

    /// Stops tapping this connection, noting why hyper will refuse it if
    /// it will.
    fn stop(&mut self, refusal: Option<Refusal>) {
        self.mode = Mode::Off;
        self.refusal = refusal;
    }

    /// Whether hyper may be refusing a head now: one the tap parsed but
    /// hyper did not take, one the tap stopped at, or one still arriving.
    fn awaits_refusal(&self) -> bool {
        !self.heads.is_empty()
            || self.mode == Mode::Off
            || (self.mode == Mode::Head && !self.buf.is_empty())
    }

    /// The reason to give with hyper's bare `status` answer.
    fn explain(&self, status: u16) -> String {
        let refusal = self.refusal.as_ref().filter(|r| r.status == status);
        match status {
            431 => refusal.map_or_else(
                || head_too_large(self.max_head_bytes).reason,
                |r| r.reason.clone(),
            ),
            414 => "the request target is too long: send long data in the body".to_owned(),
            // A head the tap parsed but hyper did not take: httparse let its
            // target through, hyper's URI parser did not.
            _ => match self.heads.front() {
                Some(head) => target_problem(head.target.as_bytes())
                    .unwrap_or_else(|| "the request target is not a valid URL".to_owned()),
                None => match refusal {
                    Some(r) => r.reason.clone(),
                    // hyper can refuse a head before its end has arrived.
                    None if self.mode == Mode::Head && !self.buf.is_empty() => {
                        diagnose(&self.buf).reason
                    }
                    None => NOT_HTTP1.to_owned(),
                },
            },
        }
    }
}

const NOT_HTTP1: &str = "the request line is not HTTP/1: METHOD /path HTTP/1.1 expected";

/// How HTTP/2 with prior knowledge starts; hyper switches to HTTP/2 on it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

fn head_too_large(limit: usize) -> Refusal {
    Refusal {
        status: 431,
        reason: format!(
            "the request line and headers are larger than {limit} bytes, this server's limit"
        ),
    }
}

/// What is wrong with `head`, a complete or partial head httparse refused.
fn diagnose(head: &[u8]) -> Refusal {
    if head.first() == Some(&0x16) {
        return Refusal::bad_request(
            "this is a TLS handshake on a plain-HTTP port: use http://, not https://",
        );
    }
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let reason = request_line_problem(request_line)
        .or_else(|| header_problem(lines))
        .unwrap_or_else(|| "the request head is not valid HTTP/1".to_owned());
    Refusal::bad_request(reason)
}

fn request_line_problem(line: &[u8]) -> Option<String> {
    let Some(space) = line.iter().position(|&b| b == b' ') else {
        return Some(NOT_HTTP1.to_owned());
    };
    let (method, rest) = (&line[..space], &line[space + 1..]);
    if !http1::is_token(method) {
        return Some(NOT_HTTP1.to_owned());
    }
    // The version is the last word: a space inside the target leaves it last.
    let (target, version) = match rest.iter().rposition(|&b| b == b' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    target_problem(target).or_else(|| {
        (version != b"HTTP/1.1" && version != b"HTTP/1.0").then(|| NOT_HTTP1.to_owned())
    })
}

/// The first byte of `target` that hyper (httparse, then the `http`
/// crate's URI parser) refuses, named with its percent-encoding.
fn target_problem(target: &[u8]) -> Option<String> {
    let query_from = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    let refused = |(i, &b): (usize, &u8)| {
        let not_in_url = if i < query_from {
            b"<>`".contains(&b)
        } else {
            b"\"<>".contains(&b)
        };
        b <= b' ' || b == 0x7f || not_in_url
    };
    let bad = target
        .iter()
        .enumerate()
        .find(|&at| refused(at))
        .map(|(_, &b)| b);
    // Raw UTF-8 is taken as sent; other bytes above 0x7F are not.
    let bad = bad.or_else(|| {
        std::str::from_utf8(target)
            .err()
            .map(|e| target[e.valid_up_to()])
    })?;
    Some(format!(
        "the request target has a byte that is not allowed in a URL: percent-encode it (%{bad:02X})"
    ))
}

fn header_problem<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Option<String> {
    let mut lines = (1..).zip(lines).peekable();
    while let Some((field, line)) = lines.next() {
        if line.is_empty() {
            return None;
        }
        // hyper may refuse a head whose last line is still arriving.
        let arriving = lines.peek().is_none();
        if line[0] == b' ' || line[0] == b'\t' {
            return Some(format!(
                "header field {field} starts with a space: folded header lines are not accepted"
            ));
        }
        let colon = line.iter().position(|&b| b == b':');
        let name = &line[..colon.unwrap_or(line.len())];
        if let Some(&b) = name.iter().find(|&&b| !http1::is_token_byte(b)) {
            return Some(format!(
                "header field {field} has a byte that is not allowed in a header name (0x{b:02X})"
            ));
        }
        let Some(colon) = colon else {
            if arriving {
                return None;
            }
            return Some(format!(
                "header field {field} has no colon: Name: value expected"
            ));
        };
        if colon == 0 {
            return Some(format!(
                "header field {field} has no name: Name: value expected"
            ));
        }
        let allowed = |b: u8| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80;
        if let Some(&b) = line[colon + 1..].iter().find(|&&b| !allowed(b)) {
            return Some(format!(
                "header field {field} has a control byte (0x{b:02X}) in its value"
            ));
        }
    }
    None
}

/// Where the head in `bytes` ends (just past its empty line), if it does.
fn head_end(bytes: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes, b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete head; returns it and how the body that follows is
/// framed, or why hyper will refuse it (`None`: it will not, but the tap
/// cannot follow what comes next).
fn parse_head(bytes: &[u8], max_headers: usize) -> Result<(RawHead, Mode), Option<Refusal>> {
    let head = match http1::parse_request_head(bytes, max_headers) {
        Ok(Some((_, head))) => head,
        Ok(None) => return Err(None),
        Err(_) if bytes.starts_with(H2_PREFACE) => return Err(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Some(Refusal {
                status: 431,
                reason: format!(
                    "the request has more than {max_headers} header fields, this server's limit"
                ),
            }))
        }
        Err(_) => return Err(Some(diagnose(bytes))),
    };
    let has = |name: &str| {
        head.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    if head.method == "CONNECT" || has("upgrade") {
        return Ok((head, Mode::Off));
    }
    if head.http10 && has("transfer-encoding") {
        return Err(Some(Refusal::bad_request(
            "an HTTP/1.0 request cannot have a Transfer-Encoding header",
        )));
    }
    let next = match http1::framing(&head.headers).map_err(framing_refusal)? {
        None | Some(Framing::Length(0)) => Mode::Head,
        Some(framing) => Mode::Body(BodyReader::new(framing)),
    };
    Ok((head, next))
}

/// Why hyper refuses a request whose body's end it cannot find.
fn framing_refusal(e: FramingError) -> Option<Refusal> {
    Some(Refusal::bad_request(match e {
        FramingError::NotChunked => {
            "Transfer-Encoding does not end in chunked, so the body's end cannot be found"
        }
        FramingError::BadLength => "the Content-Length header is not a number of bytes",
        FramingError::LengthsDisagree => "the request has Content-Length headers that disagree",
    }))
}

/// If `bytes` are the whole of hyper's own answer to a head it refuses
/// (hyper 1.x `Server::on_error`: a status line, then exactly these
/// fields and no body), its status, status line and date line.
fn bare_refusal(bytes: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    // Every answer hyper writes passes here: most fail this first test.
    if !bytes.starts_with(b"HTTP/1.1 4") || bytes.len() > 160 {
        return None;
    }
    let status_end = bytes.iter().position(|&b| b == b'\r')?;
    let (status_line, fields) = bytes.split_at(status_end);
    let date_line = fields
        .strip_prefix(b"\r\nconnection: close\r\ncontent-length: 0\r\n")?
        .strip_suffix(b"\r\n\r\n")?;
    if !date_line.starts_with(b"date: ") || date_line.contains(&b'\r') {
        return None;
    }
    let status = match &status_line[b"HTTP/1.1 ".len()..] {
        b"400 Bad Request" => 400,
        b"414 URI Too Long" => 414,
        b"431 Request Header Fields Too Large" => 431,
        _ => return None,
    };
    Some((status, status_line, date_line))
}

/// The same refusal with its reason as a one-line plain-text body.
fn explained(status_line: &[u8], date_line: &[u8], reason: &str) -> Vec<u8> {
    let body_len = reason.len() + 1;
    let mut answer = Vec::with_capacity(256 + body_len);
    answer.extend_from_slice(status_line);
    answer.extend_from_slice(b"\r\n");
    http1::write_field(&mut answer, "content-type", b"text/plain; charset=utf-8");
    http1::write_field(&mut answer, "x-content-type-options", b"nosniff");
    http1::write_field(&mut answer, "connection", b"close");
    let mut length = itoa::Buffer::new();
    let length = length.format(body_len).as_bytes();
    http1::write_field(&mut answer, "content-length", length);
    // hyper's own date field, as it wrote it.
    answer.extend_from_slice(date_line);
    answer.extend_from_slice(b"\r\n");
    http1::end_head(&mut answer);
    answer.extend_from_slice(reason.as_bytes());
    answer.push(b'\n');
    answer
}

/// A connection's byte stream with its request heads tapped on the way in,
/// and hyper's bare refusals explained on the way out.
pub struct TappedStream<S> {
    inner: S,
    tap: HeadTap,
    /// An explained refusal hyper believes written, and how much of it is.
    explained: Option<(Vec<u8>, usize)>,
}

impl<S> TappedStream<S> {
    pub fn new(inner: S, tap: HeadTap) -> Self {
        Self {
            inner,
            tap,
            explained: None,
        }
    }

    /// Swaps `bytes` for an explained refusal when they are hyper's bare
    /// one. A bare refusal is told apart by its exact shape, and only
    /// while the tap has a head hyper did not take or stopped at one:
    /// a handler's answer always carries more fields, and a body written
    /// on its own would have to match byte for byte on a connection whose
    /// next request is already refused.
    fn explain(&mut self, bytes: &[u8]) -> bool {
        let Some((status, status_line, date_line)) = bare_refusal(bytes) else {
            return false;
        };
        let state = self.tap.lock();
        if !state.awaits_refusal() {
            return false;
        }
        let reason = state.explain(status);
        drop(state);
        self.explained = Some((explained(status_line, date_line, &reason), 0));
        true
    }
}

impl<S: AsyncWrite + Unpin> TappedStream<S> {
    /// Writes what is left of an explained refusal.
    fn poll_explained(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.explained {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            if *written == answer.len() {
                self.explained = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TappedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                let mut state = this.tap.lock();
                if state.mode != Mode::Off {
                    state.feed(new);
                }
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TappedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_explained(cx))?;
        if this.explain(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_explained(cx))?;
        // hyper writes a head as one slice; an answer with a body has more.
        if let [head, rest @ ..] = bufs {
            if rest.iter().all(|b| b.is_empty()) && this.explain(head) {
                return Poll::Ready(Ok(head.len()));
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_explained(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_explained(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap_all(chunks: &[&[u8]]) -> Vec<RawHead> {
        let tap = HeadTap::new(100, 65536);
        for chunk in chunks {
            tap.lock().feed(chunk);
        }
        std::iter::from_fn(|| tap.next_head()).collect()
    }

    #[test]
    fn keeps_case_order_and_duplicates_across_keep_alive_requests() {
        let wire: &[u8] = b"POST /b?x=1 HTTP/1.1\r\nX-Dup: 1\r\nHost: h\r\nx-dup: 2\r\nContent-Length: 5\r\n\r\nhello\
GET /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n0\r\nT: v\r\n\r\n\
PROPFIND /d HTTP/1.1\r\nA: \xff\r\n\r\n";
        // Every split point must give the same heads.
        for split in 0..wire.len() {
            let heads = tap_all(&[&wire[..split], &wire[split..]]);
            assert_eq!(heads.len(), 3, "split at {split}");
            assert_eq!(heads[0].target, "/b?x=1");
            let names: Vec<_> = heads[0].headers.iter().map(|h| h.name.as_str()).collect();
            assert_eq!(names, ["X-Dup", "Host", "x-dup", "Content-Length"]);
            assert_eq!(heads[1].method, "GET");
            assert_eq!(heads[2].method, "PROPFIND");
            assert_eq!(heads[2].headers[0].value, b"\xff");
        }
    }

    #[test]
    fn stops_at_an_upgrade() {
        let heads =
            tap_all(&[b"GET /live HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /x HTTP/1.1\r\n\r\n"]);
        assert_eq!(heads.len(), 1);
    }

    const BARE_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
        content-length: 0\r\ndate: Tue, 01 Dec 2026 22:29:22 GMT\r\n\r\n";

    #[test]
    fn knows_hyper_bare_refusals_from_any_other_answer() {
        let (status, line, date) = bare_refusal(BARE_400).expect("bare");
        assert_eq!(status, 400);
        assert_eq!(line, b"HTTP/1.1 400 Bad Request");
        assert_eq!(date, b"date: Tue, 01 Dec 2026 22:29:22 GMT");
        let with_body = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
            content-length: 3\r\ndate: Tue, 01 Dec 2026 22:29:22 GMT\r\n\r\nno\n";
        assert_eq!(bare_refusal(with_body), None);
        let handler = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\
            connection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(bare_refusal(handler), None);
        assert_eq!(bare_refusal(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    fn reason(head: &[u8]) -> String {
        diagnose(head).reason
    }

    #[test]
    fn names_what_is_wrong_with_a_head() {
        let target = "the request target has a byte that is not allowed in a URL";
        assert!(reason(b"GET /caf\xe9 HTTP/1.1\r\n\r\n").starts_with(target));
        assert!(reason(b"GET /caf\xe9 HTTP/1.1\r\n\r\n").ends_with("(%E9)"));
        assert!(reason(b"GET /a?q=a b HTTP/1.1\r\n\r\n").ends_with("(%20)"));
        assert!(reason(b"GET /a?q=\x01 HTTP/1.1\r\n\r\n").ends_with("(%01)"));
        // `"` is taken in a path, not in a query; raw UTF-8 is taken.
        assert!(reason("GET /\"é?q=\"<\x01 HTTP/1.1\r\n\r\n".as_bytes()).ends_with("(%22)"));
        for line in [
            &b"hello world\r\n\r\n"[..],
            b"GET /a HTTP/2.0\r\n\r\n",
            b"GET /a\r\n\r\n",
            b"G(T /a HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(reason(line), NOT_HTTP1, "{}", line.escape_ascii());
        }
        assert!(reason(b"\x16\x03\x01\x02\x00").contains("TLS"));
        let head = |field: &str| {
            reason(format!("GET / HTTP/1.1\r\nHost: x\r\n{field}\r\n\r\n").as_bytes())
        };
        assert!(head("Bad Name: v")
            .contains("field 2 has a byte that is not allowed in a header name (0x20)"));
        assert!(head("NoColon").contains("field 2 has no colon"));
        assert!(head(": v").contains("field 2 has no name"));
        assert!(head(" folded").contains("folded"));
        assert!(head("X: a\x01").contains("field 2 has a control byte (0x01)"));
        // hyper refuses as soon as it sees a bad byte, maybe mid-line.
        assert!(reason(b"GET / HTTP/1.1\r\nBad Nam")
            .contains("field 1 has a byte that is not allowed in a header name (0x20)"));
    }

    #[test]
    fn a_head_hyper_refuses_by_its_framing_is_explained_and_not_tapped() {
        for (head, says) in [
            (
                &b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
                "disagree",
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                "not a number",
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
                "not a number",
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.0",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                "does not end in chunked",
            ),
        ] {
            let tap = HeadTap::new(100, 65536);
            tap.lock().feed(head);
            let state = tap.lock();
            assert!(state.heads.is_empty());
            assert!(state.awaits_refusal());
            assert!(state.explain(400).contains(says), "{}", head.escape_ascii());
        }
    }

    #[test]
    fn a_refusal_hyper_did_not_make_explains_nothing_later() {
        // Say hyper took a Content-Length the tap could not read.
        let tap = HeadTap::new(100, 65536);
        tap.lock()
            .feed(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello");
        assert!(tap.lock().explain(400).contains("not a number"));
        // hyper served it after all: the service asked for its head.
        assert_eq!(tap.next_head(), None);
        assert_eq!(tap.lock().explain(400), NOT_HTTP1);
    }

    #[test]
    fn explains_too_many_fields_or_bytes_with_the_limit() {
        let tap = HeadTap::new(3, 8192);
        tap.lock()
            .feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
        assert!(tap
            .lock()
            .explain(431)
            .contains("more than 3 header fields"));
        let tap = HeadTap::new(100, 8192);
        tap.lock().feed(b"GET / HTTP/1.1\r\nX: ");
        assert!(tap.lock().awaits_refusal());
        tap.lock().feed(&[b'a'; 8192]);
        assert!(
            tap.lock().buf.is_empty(),
            "stops buffering at hyper's limit"
        );
        assert!(tap.lock().explain(431).contains("larger than 8192 bytes"));
    }

    #[test]
    fn a_parsed_head_hyper_did_not_take_is_explained_by_its_target() {
        let tap = HeadTap::new(100, 65536);
        tap.lock().feed(b"GET /a<b HTTP/1.1\r\n\r\n");
        assert!(tap.lock().awaits_refusal());
        assert!(tap.lock().explain(400).ends_with("(%3C)"));
        // Once hyper takes it, nothing is awaited.
        assert!(tap.next_head().is_some());
        assert!(!tap.lock().awaits_refusal());
    }

    #[tokio::test]
    async fn swaps_hyper_bare_refusal_for_an_explained_one_even_in_small_writes() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        // A 7-byte pipe makes every write partial.
        let (server, mut client) = tokio::io::duplex(7);
        let tap = HeadTap::new(100, 65536);
        tap.lock().feed(b"GET /caf\xe9 HTTP/1.1\r\n\r\n");
        let mut stream = TappedStream::new(server, tap);
        let reader = tokio::spawn(async move {
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.expect("read");
            answer
        });
        stream.write_all(BARE_400).await.expect("write");
        stream.shutdown().await.expect("shutdown");
        drop(stream);
        let answer = reader.await.expect("reader");
        let text = String::from_utf8(answer).expect("utf-8");
        assert!(text.starts_with(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
        ));
        assert!(text.contains("\r\nconnection: close\r\n"));
        assert!(text.contains("\r\ndate: Tue, 01 Dec 2026 22:29:22 GMT\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(
            body,
            "the request target has a byte that is not allowed in a URL: percent-encode it (%E9)\n"
        );
    }

    #[tokio::test]
    async fn leaves_a_bare_looking_answer_alone_when_no_head_is_refused() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (server, mut client) = tokio::io::duplex(1024);
        let mut stream = TappedStream::new(server, HeadTap::new(100, 65536));
        stream.write_all(BARE_400).await.expect("write");
        drop(stream);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("read");
        assert_eq!(answer, BARE_400);
    }
}
