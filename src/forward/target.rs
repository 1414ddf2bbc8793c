//! The local app a forwarder relays to, and a minimal HTTP/1.1 exchange
//! with it. The request is written field by field on a fresh connection
//! (TCP, or TLS for https) so the header fields keep their order, case and
//! duplicates exactly (an HTTP library would regroup them); the answer is
//! read by the same framing rules as the server's head tap
//! ([`crate::http1`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::Uri;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::ForwardError;
use crate::http1::{self, BodyReader, Framing, FramingError};
use crate::model::Header;

/// Largest answer body read from the target; more is an error.
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

/// Where requests go: `http(s)://host:port/base/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint: Endpoint,
    /// The `Host` header value: the authority as written in the URL.
    pub authority: String,
    /// The base path without a trailing slash (`` for the root).
    path: String,
    query: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, ForwardError> {
        let bad = |why: &str| ForwardError::BadUrl(format!("--target {url}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        Ok(Self {
            endpoint: Endpoint::new(https, authority.host(), authority.port_u16()),
            authority: authority.as_str().to_owned(),
            path: uri.path().trim_end_matches('/').to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }

    /// The request target for a capture's sub-path and raw query: the
    /// sub-path is appended to the target's path, the queries are joined.
    pub fn path_and_query(&self, sub_path: &str, query: Option<&str>) -> String {
        let mut out = format!("{}{sub_path}", self.path);
        if out.is_empty() {
            out.push('/');
        }
        match (self.query.as_deref(), query) {
            (Some(a), Some(b)) => out.extend(["?", a, "&", b]),
            (Some(q), None) | (None, Some(q)) => out.extend(["?", q]),
            (None, None) => {}
        }
        out
    }

    /// The full URL a request is sent to, for reports.
    pub fn url_for(&self, path_and_query: &str) -> String {
        let scheme = if self.endpoint.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path_and_query}", self.authority)
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

/// Sends `wire` (a complete HTTP/1.1 request) to `endpoint` and reads the
/// answer. `head` tells that the request was a HEAD (its answer has no body).
pub async fn exchange(
    endpoint: &Endpoint,
    wire: &[u8],
    head: bool,
    timeout: Duration,
) -> Result<Answer, ExchangeError> {
    let addr = endpoint.addr.as_str();
    let connect = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
    let mut stream = match connect {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => {
            return Err(ExchangeError::Connect {
                addr: addr.to_owned(),
                source,
            })
        }
        Err(_) => {
            let source = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
            return Err(ExchangeError::Connect {
                addr: addr.to_owned(),
                source,
            });
        }
    };
    let _ = stream.set_nodelay(true);
    let work = async {
        match &endpoint.tls {
            None => talk(&mut stream, wire, head).await,
            Some(host) => {
                let tls_error = |source| ExchangeError::Tls {
                    host: host.clone(),
                    source,
                };
                let name = ServerName::try_from(host.clone()).map_err(|e| {
                    tls_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                })?;
                let mut tls = tls_connector()
                    .connect(name, stream)
                    .await
                    .map_err(tls_error)?;
                talk(&mut tls, wire, head).await
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
) -> Result<Answer, ExchangeError> {
    stream.write_all(wire).await?;
    stream.flush().await?;
    read_answer(stream, head).await
}

async fn read_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: bool,
) -> Result<Answer, ExchangeError> {
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
    let body = match framing {
        Some(Framing::Length(length)) if length > MAX_ANSWER_BYTES as u64 => {
            return Err(too_large());
        }
        Some(framing) => read_framed(stream, buf, framing).await?,
        None => read_to_close(stream, buf).await?,
    };
    Ok(Answer {
        status,
        headers: answer.headers,
        body,
    })
}

fn too_large() -> ExchangeError {
    ExchangeError::Invalid(format!("answer larger than {MAX_ANSWER_BYTES} bytes"))
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, ExchangeError> {
    if buf.len() > MAX_ANSWER_BYTES {
        return Err(too_large());
    }
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
) -> Result<Vec<u8>, ExchangeError> {
    let mut reader = BodyReader::new(framing);
    let mut body = Vec::new();
    loop {
        reader
            .read(&read, |bytes| body.extend_from_slice(bytes))
            .map_err(|e| ExchangeError::Invalid(e.to_string()))?;
        if reader.has_all_data() {
            return Ok(body);
        }
        if body.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
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
) -> Result<Vec<u8>, ExchangeError> {
    while read_more(stream, &mut buf).await? > 0 {}
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_append_to_the_target_path_and_queries_join() {
        let t = Target::parse("http://localhost:3000/hooks").expect("target");
        assert_eq!(t.endpoint.addr, "localhost:3000");
        assert_eq!(t.endpoint.tls, None);
        assert_eq!(t.path_and_query("", None), "/hooks");
        assert_eq!(t.path_and_query("/a/b", Some("x=1")), "/hooks/a/b?x=1");
        let root = Target::parse("http://127.0.0.1:8/").expect("target");
        assert_eq!(root.path_and_query("", None), "/");
        assert_eq!(root.path_and_query("/a", None), "/a");
        let q = Target::parse("http://h/p/?k=v").expect("target");
        assert_eq!(q.endpoint.addr, "h:80");
        assert_eq!(q.path_and_query("/s", Some("x=1")), "/p/s?k=v&x=1");
        let tls = Target::parse("https://app.example/").expect("https target");
        assert_eq!(tls.endpoint.addr, "app.example:443");
        assert_eq!(tls.endpoint.tls.as_deref(), Some("app.example"));
        assert_eq!(tls.url_for("/x"), "https://app.example/x");
        assert!(Target::parse("ftp://h/").is_err());
    }

    async fn answer_to(wire: &'static [u8], head: bool) -> Result<Answer, ExchangeError> {
        use tokio::io::AsyncWriteExt as _;
        // A 5-byte pipe splits the answer across many reads.
        let (mut app, mut client) = tokio::io::duplex(5);
        let app = tokio::spawn(async move {
            let _ = app.write_all(wire).await;
        });
        let answer = read_answer(&mut client, head).await;
        drop(client);
        app.await.expect("the app task");
        answer
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
}
