//! Request heads exactly as they came over the wire.
//!
//! hyper hands handlers a `HeaderMap`, which lower-cases names and groups
//! repeated fields, so the original case and interleaving are gone. To store
//! headers as received, each HTTP/1 connection's bytes pass through a
//! [`TappedStream`] that parses the heads itself (with `httparse`, which
//! keeps case and order) and skips bodies by their framing. The server hands
//! each request the next tapped head; the capture handler uses it only when
//! it agrees with what hyper parsed, else it falls back to the `HeaderMap`.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::Header;

/// A head longer than this is left to hyper to refuse; the tap stops.
const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// A chunk-size or trailer line longer than this stops the tap.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One request head: request line and header fields as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHead {
    pub method: String,
    pub target: String,
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading a request head.
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk-size line of a chunked body.
    ChunkSize,
    /// Skipping this many chunk-data bytes.
    ChunkData(u64),
    /// Reading the CRLF after chunk data.
    ChunkEnd,
    /// Reading trailer lines until an empty one.
    Trailer,
    /// Not HTTP/1 any more (upgrade, HTTP/2) or not understood: stop.
    Off,
}

struct TapState {
    mode: Mode,
    buf: Vec<u8>,
    heads: VecDeque<RawHead>,
    max_headers: usize,
}

/// The parsed heads of one connection, shared between its stream and its
/// request handler.
#[derive(Clone)]
pub struct HeadTap {
    state: Arc<Mutex<TapState>>,
}

impl HeadTap {
    pub fn new(max_headers: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(TapState {
                mode: Mode::Head,
                buf: Vec::new(),
                heads: VecDeque::new(),
                max_headers,
            })),
        }
    }

    /// The head of the next request on this connection, in order.
    pub fn next_head(&self) -> Option<RawHead> {
        self.lock().heads.pop_front()
    }

    fn lock(&self) -> MutexGuard<'_, TapState> {
        // Feeding never panics midway; a poisoned state is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TapState {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.mode {
                Mode::Off => return,
                Mode::Head => data = self.feed_head(data),
                Mode::Body(left) | Mode::ChunkData(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    data = &data[n..];
                    let left = left - n as u64;
                    self.mode = match (self.mode, left) {
                        (Mode::Body(_), 0) => Mode::Head,
                        (Mode::Body(_), _) => Mode::Body(left),
                        (_, 0) => Mode::ChunkEnd,
                        (_, _) => Mode::ChunkData(left),
                    };
                }
                Mode::ChunkSize | Mode::ChunkEnd | Mode::Trailer => {
                    let Some((line, rest)) = self.take_line(data) else {
                        return;
                    };
                    data = rest;
                    self.mode = match self.mode {
                        Mode::ChunkSize => chunk_size(&line).map_or(Mode::Off, |size| match size {
                            0 => Mode::Trailer,
                            n => Mode::ChunkData(n),
                        }),
                        Mode::ChunkEnd if line.is_empty() => Mode::ChunkSize,
                        Mode::Trailer if line.is_empty() => Mode::Head,
                        Mode::Trailer => Mode::Trailer,
                        _ => Mode::Off,
                    };
                }
            }
        }
    }

    /// Gathers bytes up to the end of a line; `None` when more are needed.
    fn take_line<'a>(&mut self, data: &'a [u8]) -> Option<(Vec<u8>, &'a [u8])> {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.buf.extend_from_slice(&data[..i]);
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some((line, &data[i + 1..]))
            }
            None => {
                self.buf.extend_from_slice(data);
                if self.buf.len() > MAX_LINE_BYTES {
                    self.mode = Mode::Off;
                }
                None
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
            if self.buf.len() > MAX_HEAD_BYTES {
                self.mode = Mode::Off;
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
        self.mode = match parse_head(bytes, self.max_headers) {
            Some((raw, next)) => {
                self.heads.push_back(raw);
                next
            }
            None => Mode::Off,
        };
    }
}

/// Where the head in `bytes` ends (just past its empty line), if it does.
fn head_end(bytes: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes, b"\r\n\r\n").map(|i| i + 4)
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&b| b == b';').next()?;
    let digits = std::str::from_utf8(digits).ok()?.trim();
    u64::from_str_radix(digits, 16).ok()
}

/// Heads with at most this many lines are parsed without allocating.
const FEW_HEADERS: usize = 32;

/// Parses a complete head; returns it and how the body that follows is
/// framed.
fn parse_head(bytes: &[u8], max_headers: usize) -> Option<(RawHead, Mode)> {
    // Each field takes a line, so the line count bounds the fields: most
    // heads fit on the stack instead of a `max_headers` array per request.
    let lines = memchr::memchr_iter(b'\n', bytes).count();
    let wanted = lines.min(max_headers);
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    let mut many = Vec::new();
    let fields = if wanted <= FEW_HEADERS {
        &mut few[..wanted]
    } else {
        many.resize(wanted, httparse::EMPTY_HEADER);
        &mut many[..]
    };
    let mut req = httparse::Request::new(fields);
    if !matches!(req.parse(bytes), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let headers: Vec<Header> = req
        .headers
        .iter()
        .map(|h| Header::new(h.name, h.value))
        .collect();
    let method = req.method?.to_owned();
    let target = req.path?.to_owned();
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    };

    let mut next = Mode::Head;
    if method == "CONNECT" || named("upgrade").next().is_some() {
        next = Mode::Off;
    } else if let Some(te) = named("transfer-encoding").next_back() {
        let chunked = te
            .value
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        next = if chunked { Mode::ChunkSize } else { Mode::Off };
    } else {
        let mut lengths = named("content-length").map(|h| {
            std::str::from_utf8(&h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        if let Some(first) = lengths.next() {
            next = match first {
                Some(n) if lengths.all(|other| other == Some(n)) => {
                    if n == 0 {
                        Mode::Head
                    } else {
                        Mode::Body(n)
                    }
                }
                _ => Mode::Off,
            };
        }
    }
    Some((
        RawHead {
            method,
            target,
            headers,
        },
        next,
    ))
}

/// A connection's byte stream with its request heads tapped on the way in.
pub struct TappedStream<S> {
    inner: S,
    tap: HeadTap,
}

impl<S> TappedStream<S> {
    pub fn new(inner: S, tap: HeadTap) -> Self {
        Self { inner, tap }
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
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap_all(chunks: &[&[u8]]) -> Vec<RawHead> {
        let tap = HeadTap::new(100);
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
}
