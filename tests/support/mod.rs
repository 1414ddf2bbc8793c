//! Test helpers, one module for every test crate (`mod support;`): start
//! the real server on 127.0.0.1:0 and talk to it; a real browser
//! ([`browser`]), a local app that records what it is sent ([`recorder`]),
//! and a relay a test can cut ([`relay`]).
#![allow(
    dead_code,
    reason = "each test crate uses a different subset, here and in the submodules"
)]

pub mod browser;
pub mod recorder;
pub mod relay;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hookscope::{AppState, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub client: reqwest::Client,
    pub db: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// A server on a fresh database in a temporary directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on a fresh database, with settings adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("hookscope.db");
        let mut app = Self::spawn_on(&db, adjust).await;
        app._dir = Some(dir);
        app
    }

    /// A server on the database file `db` (kept after the app stops).
    pub async fn spawn_on(db: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_at(db, "127.0.0.1:0".parse().expect("addr"), adjust).await
    }

    /// A server on the database file `db` listening on `addr` (to restart
    /// a stopped app where its clients expect it).
    pub async fn spawn_at(db: &Path, addr: SocketAddr, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::with_db(db);
        adjust(&mut config);
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState::open(config).expect("open store");
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(hookscope::serve(listener, state.clone(), async {
            let _ = stop.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            addr,
            state,
            client,
            db: db.to_owned(),
            shutdown: Some(shutdown),
            server: Some(server),
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` on this server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// The JSON answer of `GET path`, whatever its status.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.expect("a JSON answer")
    }

    /// The HTML of the page at `path`, whatever its status.
    pub async fn html(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("html")
    }

    /// The dashboard's download of a request's exact body.
    pub async fn download_body(&self, bin: Uuid, id: Uuid) -> reqwest::Response {
        let response = self.get(&format!("/view/{bin}/{id}/body")).await;
        assert_eq!(response.status(), 200);
        response
    }

    /// Gets a bin the way a visitor does: `GET /` and follow the 303.
    pub async fn new_bin(&self) -> Uuid {
        let response = self.client.get(self.url("/")).send().await.expect("GET /");
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().expect("ascii");
        let id = location.strip_prefix("/view/").expect("dashboard location");
        Uuid::parse_str(id).expect("bin uuid")
    }

    /// `POST /token` with `settings` (webhook.site's call): the new bin
    /// object.
    pub async fn create_token(&self, settings: serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(self.url("/token"))
            .json(&settings)
            .send()
            .await
            .expect("POST /token");
        assert_eq!(response.status(), 201, "POST /token {settings}");
        response.json().await.expect("the bin as JSON")
    }

    /// A new bin with `settings`, by the API: its id.
    pub async fn bin_with(&self, settings: serde_json::Value) -> Uuid {
        let bin = self.create_token(settings).await;
        Uuid::parse_str(bin["uuid"].as_str().expect("uuid")).expect("a bin uuid")
    }

    pub async fn post_to_bin(
        &self,
        bin: Uuid,
        sub_path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/{bin}{sub_path}")))
            .body(body)
            .send()
            .await
            .expect("POST to bin")
    }

    /// The request id a capture answer names.
    pub fn request_id(response: &reqwest::Response) -> Uuid {
        let id = response.headers()["x-request-id"].to_str().expect("ascii");
        Uuid::parse_str(id).expect("request uuid")
    }

    /// Writes `bytes` on a new connection and returns everything the
    /// server sends back until it closes (send `Connection: close`).
    pub async fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(bytes).await.expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        answer
    }

    /// Shuts the server down gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        self.stop_in_place().await;
    }

    async fn stop_in_place(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

/// The status code of a raw HTTP/1 answer.
pub fn status_of(answer: &[u8]) -> u16 {
    let line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

/// A header value of a raw HTTP/1 answer.
pub fn header_of(answer: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The `content` (body) of each request in a page of the token API's
/// request list, in the page's order.
pub fn contents(page: &serde_json::Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["content"].as_str().expect("content").to_owned())
        .collect()
}
