//! One HTTP/1.1 exchange with another server, bytes exactly as given:
//! the request is written field by field on a fresh connection (TCP, or
//! TLS for https) so its header fields keep their order, case and
//! duplicates (an HTTP library would regroup them), and the answer is read
//! by the same framing rules as the server's head tap ([`crate::http1`]).
//! `hookscope forward` relays captures with it, `resend` sends them again.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::http1::{self, BodyReader, Framing, FramingError};
use crate::model::Header;

/// Largest answer body [`exchange`] reads; more is an error.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Most header fields read in the target's answer.
const MAX_ANSWER_HEADERS: usize = 256;
/// Largest answer head read from the target.
const MAX_ANSWER_HEAD_BYTES: usize = 64 * 1024;

/// Where to connect: `host:port`, and the server name to verify for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: String,
    /// `Some(host)` for https.
    pub tls: Option<String>,
}

impl Endpoint {
    /// The endpoint of `scheme://authority` (`https` means TLS).
    pub fn new(https: bool, host: &str, port: Option<u16>) -> Self {
        let port = port.unwrap_or(if https { 443 } else { 80 });
        // A bracketed IPv6 literal stays bracketed in `addr`, bare for TLS.
        Self {
            addr: format!("{host}:{port}"),
            tls: https.then(|| {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            }),
        }
    }
}

/// An HTTP answer: status, header fields in order, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// Why an exchange failed. Only [`ExchangeError::Connect`] means the
/// request did not reach the target, so only it is retried.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("TLS with {host} failed: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid answer: {0}")]
    Invalid(String),
}

impl ExchangeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

/// What becomes of an answer body longer than a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// The exchange fails: a relayed answer goes whole or not at all.
    Refuse(usize),
    /// The first bytes are kept and the rest is not read: a stored copy
    /// of the answer only needs its start.
    Truncate(usize),
}

/// An answer, and whether its body was cut at a [`BodyLimit::Truncate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub answer: Answer,
    pub truncated: bool,
}

/// Sends `wire` (a complete HTTP/1.1 request) to `endpoint` and reads the
/// answer. `head` tells that the request was a HEAD (its answer has no body).
pub async fn exchange(
    endpoint: &Endpoint,
    wire: &[u8],
    head: bool,
    timeout: Duration,
) -> Result<Answer, ExchangeError> {
    let addr = endpoint.addr.as_str();
    let stream = connect_within(TcpStream::connect(addr), addr, timeout).await?;
    let limit = BodyLimit::Refuse(MAX_ANSWER_BYTES);
    let received = exchange_on(stream, endpoint.tls.as_deref(), wire, head, timeout, limit).await?;
    Ok(received.answer)
}

/// Connects to exactly `addr`: the caller resolved and checked it, and no
/// name is looked up again here.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ExchangeError> {
    connect_within(TcpStream::connect(addr), &addr.to_string(), timeout).await
}

async fn connect_within(
    connecting: impl std::future::Future<Output = std::io::Result<TcpStream>>,
    addr: &str,
    timeout: Duration,
) -> Result<TcpStream, ExchangeError> {
    let source = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            return Ok(stream);
        }
        Ok(Err(source)) => source,
        Err(_) => std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
    };
    Err(ExchangeError::Connect {
        addr: addr.to_owned(),
        source,
    })
}

/// Sends `wire` on a connected `stream` (through TLS, verifying the server
/// name `tls`, when given) and reads the answer within `timeout`.
pub async fn exchange_on(
    mut stream: TcpStream,
    tls: Option<&str>,
    wire: &[u8],
    head: bool,
    timeout: Duration,
    limit: BodyLimit,
) -> Result<Received, ExchangeError> {
    let work = async {
        match tls {
            None => talk(&mut stream, wire, head, limit).await,
            Some(host) => {
                let tls_error = |source| ExchangeError::Tls {
                    host: host.to_owned(),
                    source,
                };
                let name = ServerName::try_from(host.to_owned()).map_err(|e| {
                    tls_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                })?;
                let mut tls = tls_connector()
                    .connect(name, stream)
                    .await
                    .map_err(tls_error)?;
                talk(&mut tls, wire, head, limit).await
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ExchangeError::Timeout(timeout))?
}

/// TLS client settings: the Mozilla root certificates (webpki-roots).
fn tls_connector() -> TlsConnector {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    });
    TlsConnector::from(config.clone())
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    wire: &[u8],
    head: bool,
    limit: BodyLimit,
) -> Result<Received, ExchangeError> {
    stream.write_all(wire).await?;
    stream.flush().await?;
    read_answer(stream, head, limit).await
}

async fn read_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: bool,
    limit: BodyLimit,
) -> Result<Received, ExchangeError> {
    let mut buf = Vec::with_capacity(8 * 1024);
    let answer = loop {
        let parsed = http1::parse_answer_head(&buf, MAX_ANSWER_HEADERS)
            .map_err(|e| ExchangeError::Invalid(e.to_string()))?;
        let Some((used, answer)) = parsed else {
            if buf.len() > MAX_ANSWER_HEAD_BYTES {
                return Err(ExchangeError::Invalid("answer head too large".into()));
            }
            if read_more(stream, &mut buf).await? == 0 {
                return Err(ExchangeError::Invalid(
                    "the connection closed before an answer".into(),
                ));
            }
            continue;
        };
        buf.drain(..used);
        // Interim answers (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&answer.status) && answer.status != 101 {
            continue;
        }
        break answer;
    };
    let status = answer.status;
    let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
    let framing = if no_body {
        Some(Framing::Length(0))
    } else {
        match http1::framing(&answer.headers) {
            Ok(framing) => framing,
            // An answer whose last transfer coding is not chunked runs
            // until the connection closes (RFC 9112 §6.3).
            Err(FramingError::NotChunked) => None,
            Err(e) => return Err(ExchangeError::Invalid(e.to_string())),
        }
    };
    let mut body = Body::new(limit);
    match framing {
        Some(Framing::Length(length)) if body.refuses(length) => return Err(body.too_large()),
        Some(framing) => read_framed(stream, buf, framing, &mut body).await?,
        None => read_to_close(stream, buf, &mut body).await?,
    }
    Ok(Received {
        truncated: body.truncated,
        answer: Answer {
            status,
            headers: answer.headers,
            body: body.bytes,
        },
    })
}

/// An answer body as it is read, within its [`BodyLimit`].
struct Body {
    bytes: Vec<u8>,
    limit: BodyLimit,
    /// More came than a `Truncate` limit keeps: reading stops.
    truncated: bool,
}

impl Body {
    fn new(limit: BodyLimit) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            truncated: false,
        }
    }

    /// Whether a body of `length` bytes fails at once.
    fn refuses(&self, length: u64) -> bool {
        matches!(self.limit, BodyLimit::Refuse(max) if length > max as u64)
    }

    fn too_large(&self) -> ExchangeError {
        let (BodyLimit::Refuse(max) | BodyLimit::Truncate(max)) = self.limit;
        ExchangeError::Invalid(format!("answer larger than {max} bytes"))
    }

    fn take(&mut self, data: &[u8]) -> Result<(), ExchangeError> {
        match self.limit {
            BodyLimit::Refuse(max) if self.bytes.len() + data.len() > max => {
                return Err(self.too_large())
            }
            BodyLimit::Refuse(_) => self.bytes.extend_from_slice(data),
            BodyLimit::Truncate(max) => {
                let room = max.saturating_sub(self.bytes.len());
                self.truncated |= data.len() > room;
                self.bytes.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok(())
    }
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, ExchangeError> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Reads a body framed by its length or in chunks; `read` is what came
/// after the head so far. Trailers are not waited for: the connection is
/// not used again.
async fn read_framed<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut read: Vec<u8>,
    framing: Framing,
    body: &mut Body,
) -> Result<(), ExchangeError> {
    let mut reader = BodyReader::new(framing);
    loop {
        let mut overflow = None;
        reader
            .read(&read, |bytes| {
                if let Err(e) = body.take(bytes) {
                    overflow = Some(e);
                }
            })
            .map_err(|e| ExchangeError::Invalid(e.to_string()))?;
        if let Some(e) = overflow {
            return Err(e);
        }
        if reader.has_all_data() || body.truncated {
            return Ok(());
        }
        read.clear();
        if read_more(stream, &mut read).await? == 0 {
            return Err(ExchangeError::Invalid(
                "the answer body was cut short".into(),
            ));
        }
    }
}

async fn read_to_close<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
    body: &mut Body,
) -> Result<(), ExchangeError> {
    loop {
        body.take(&buf)?;
        buf.clear();
        if body.truncated || read_more(stream, &mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Header fields that describe one connection, not the request; they are
/// not sent on (RFC 9110 §7.6.1).
pub fn is_hop_by_hop(lower_name: &str) -> bool {
    matches!(
        lower_name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || lower_name.starts_with("proxy-")
}

/// A stored request as written to another server: exact method, header
/// fields in order with their case and duplicates, exact body. Hop-by-hop
/// fields (and those `Connection` names) are dropped, `Host` becomes
/// `authority`, and `Content-Length` is the body's (added when the body is
/// not empty or was chunked).
pub fn request_wire(
    method: &str,
    path_and_query: &str,
    authority: &str,
    headers: &[Header],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    if !http1::is_token(method.as_bytes()) {
        return Err(format!("refusing to send method {method:?}"));
    }
    if !path_and_query.bytes().all(|b| b > b' ' && b != 0x7f) {
        return Err("refusing to send a path with spaces or control characters".into());
    }
    // Fields named in `Connection` are hop-by-hop too.
    let named_in_connection: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(&h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();

    let mut fields: Vec<(&str, Vec<u8>)> = Vec::with_capacity(headers.len() + 2);
    let mut has_host = false;
    let mut has_length = false;
    let mut was_chunked = false;
    for Header { name, value } in headers {
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
                fields.push((name, authority.as_bytes().to_vec()));
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
        fields.insert(0, ("Host", authority.as_bytes().to_vec()));
    }
    if !has_length && (!body.is_empty() || was_chunked) {
        fields.push(("Content-Length", body.len().to_string().into_bytes()));
    }

    let mut wire = Vec::with_capacity(256 + body.len());
    http1::write_request_line(&mut wire, method, path_and_query);
    for (name, value) in fields {
        http1::write_field(&mut wire, name, &value);
    }
    http1::end_head(&mut wire);
    wire.extend_from_slice(body);
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer_to(wire: &'static [u8], head: bool) -> Result<Answer, ExchangeError> {
        use tokio::io::AsyncWriteExt as _;
        // A 5-byte pipe splits the answer across many reads.
        let (mut app, mut client) = tokio::io::duplex(5);
        let app = tokio::spawn(async move {
            let _ = app.write_all(wire).await;
        });
        let answer = read_answer(&mut client, head, BodyLimit::Refuse(1024)).await;
        drop(client);
        app.await.expect("the app task");
        answer.map(|received| received.answer)
    }

    #[tokio::test]
    async fn answers_are_read_by_their_framing() {
        let chunked = answer_to(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nX-A: 1\r\n\
              Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n",
            false,
        )
        .await
        .expect("a chunked answer");
        assert_eq!(chunked.status, 202);
        assert_eq!(chunked.headers[0], Header::new("X-A", "1"));
        assert_eq!(chunked.body, b"abcd");
        let sized = answer_to(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiXX", false)
            .await
            .expect("a sized answer");
        assert_eq!(sized.body, b"hi");
        let to_close = answer_to(b"HTTP/1.0 200 OK\r\n\r\nall of it", false)
            .await
            .expect("an answer to the close");
        assert_eq!(to_close.body, b"all of it");
        let head = answer_to(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .await
            .expect("an answer to HEAD");
        assert!(head.body.is_empty());
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ] {
            assert!(matches!(
                answer_to(bad, false).await,
                Err(ExchangeError::Invalid(_))
            ));
        }
    }

    #[tokio::test]
    async fn a_truncating_limit_keeps_the_start_and_says_so() {
        use tokio::io::AsyncWriteExt as _;
        for wire in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n0123456789",
        ] {
            let (mut app, mut client) = tokio::io::duplex(3);
            let app = tokio::spawn(async move {
                let _ = app.write_all(wire).await;
            });
            let received = read_answer(&mut client, false, BodyLimit::Truncate(4))
                .await
                .expect("a truncated answer");
            drop(client);
            app.await.expect("the app task");
            assert_eq!(received.answer.body, b"0123");
            assert!(received.truncated);
        }
        let (mut app, mut client) = tokio::io::duplex(64);
        app.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n0123")
            .await
            .expect("write");
        let whole = read_answer(&mut client, false, BodyLimit::Truncate(4))
            .await
            .expect("an answer that fits");
        assert!(!whole.truncated);
        let (mut app, mut client) = tokio::io::duplex(64);
        app.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n01234")
            .await
            .expect("write");
        assert!(matches!(
            read_answer(&mut client, false, BodyLimit::Refuse(4)).await,
            Err(ExchangeError::Invalid(_))
        ));
    }
}
