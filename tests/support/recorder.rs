//! A local app for forwarding tests: records every request it receives.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(15);

/// A local app that records every request it receives, byte for byte.
pub struct Recorder {
    pub addr: SocketAddr,
    received: mpsc::UnboundedReceiver<Vec<u8>>,
    _server: JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), Duration::ZERO).await
    }

    /// Listens on `addr`; answers each request 200 "ok" after `slowness`.
    pub async fn start_on(addr: SocketAddr, slowness: Duration) -> Self {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        Self::start_answering(addr, slowness, ok).await
    }

    /// Listens on `addr`; answers each request with the raw `answer`.
    pub async fn start_answering(
        addr: SocketAddr,
        slowness: Duration,
        answer: &'static [u8],
    ) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind recorder");
        let addr = listener.local_addr().expect("addr");
        let (record, received) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    if let Some(request) = read_request(stream, slowness, answer).await {
                        let _ = record.send(request);
                    }
                });
            }
        });
        Self {
            addr,
            received,
            _server: server,
        }
    }

    pub fn target(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn next(&mut self) -> Vec<u8> {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("the target received a request in time")
            .expect("recorder running")
    }
}

/// Reads one request (head and `Content-Length` body), writes `answer`.
async fn read_request(mut stream: TcpStream, slowness: Duration, answer: &[u8]) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("content-length"));
    while request.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    tokio::time::sleep(slowness).await;
    stream.write_all(answer).await.ok()?;
    Some(request)
}

pub fn body_of(request: &[u8]) -> &[u8] {
    let at = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a request head");
    &request[at + 4..]
}
