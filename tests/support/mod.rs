//! Test helpers, one module for every test crate (`mod support;`): start
//! the real server on 127.0.0.1:0 and talk to it, on SQLite or on a real
//! PostgreSQL ([`pg`], [`both_backends!`]); a real browser ([`browser`]), a
//! local app that records what it is sent ([`recorder`]), a relay a test
//! can cut ([`relay`]), and the server as a child process to kill
//! ([`process`]).
#![allow(
    dead_code,
    reason = "each test crate uses a different subset, here and in the submodules"
)]

pub mod browser;
pub mod feed;
pub mod npm;
pub mod pg;
pub mod process;
pub mod recorder;
pub mod relay;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hookscope::{AppState, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Runs a test body once on each store: `both_backends!(name);` above
/// `async fn name(app: TestApp) { … }` (an app on a fresh database) or
/// `async fn name(backend: Backend) { … }` (the body starts its own apps,
/// e.g. with [`TestApp::spawn_with_backend`]) makes the tests
/// `name::sqlite` and `name::postgres`. Tokio test arguments follow the
/// name: `both_backends!(name, flavor = "multi_thread", worker_threads = 2);`.
///
/// The body stays a plain function outside the macro so rustfmt and
/// clippy keep reading it, and a body no macro names is dead code, which
/// the build refuses.
#[macro_export]
macro_rules! both_backends {
    ($test:ident $(, $($tokio:tt)+)?) => {
        mod $test {
            #[tokio::test $(($($tokio)+))?]
            async fn sqlite() {
                $crate::support::run_on($crate::support::Backend::Sqlite, super::$test).await
            }

            #[tokio::test $(($($tokio)+))?]
            async fn postgres() {
                $crate::support::run_on($crate::support::Backend::Postgres, super::$test).await
            }
        }
    };
}

/// The store a test app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A database file in a temporary directory (the default).
    Sqlite,
    /// A fresh database on the test binary's PostgreSQL ([`pg::Cluster::shared`]).
    Postgres,
}

/// A fresh database of one backend: what `--db` takes.
pub struct FreshDb {
    /// A SQLite file in a temporary directory kept as long as this, or a
    /// `postgres://` URL.
    pub location: PathBuf,
    pub pg: Option<pg::Database>,
    dir: Option<tempfile::TempDir>,
}

impl FreshDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self {
                    location: dir.path().join("hookscope.db"),
                    pg: None,
                    dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let database = pg::Cluster::shared().create_database().await;
                Self {
                    location: PathBuf::from(&database.url),
                    pg: Some(database),
                    dir: None,
                }
            }
        }
    }
}

/// What a [`both_backends!`] body is given: the backend itself, or an app
/// already started on it.
pub trait StartOn: Sized {
    fn start_on(backend: Backend) -> impl Future<Output = Self>;
}

impl StartOn for Backend {
    async fn start_on(backend: Backend) -> Self {
        backend
    }
}

impl StartOn for TestApp {
    async fn start_on(backend: Backend) -> Self {
        TestApp::spawn_on_backend(backend).await
    }
}

/// Runs `test` with what it asks for on `backend` (see [`both_backends!`]).
pub async fn run_on<A: StartOn, F: Future<Output = ()>>(
    backend: Backend,
    test: impl FnOnce(A) -> F,
) {
    test(A::start_on(backend).await).await;
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub client: reqwest::Client,
    /// What the server was given as `--db`: a SQLite file or a
    /// `postgres://` URL.
    pub db: PathBuf,
    pub backend: Backend,
    /// The PostgreSQL database, to look into with SQL or to start more
    /// instances on.
    pub pg: Option<pg::Database>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// A server on a fresh SQLite database in a temporary directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on a fresh SQLite database, with settings adjusted by
    /// `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_backend(Backend::Sqlite, adjust).await
    }

    /// A server on a fresh database of `backend`.
    pub async fn spawn_on_backend(backend: Backend) -> Self {
        Self::spawn_with_backend(backend, |_| {}).await
    }

    /// A server on a fresh database of `backend`, with settings adjusted
    /// by `adjust`.
    pub async fn spawn_with_backend(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = FreshDb::new(backend).await;
        let mut app = Self::spawn_on(&db.location, adjust).await;
        app._dir = db.dir;
        app.pg = db.pg;
        app
    }

    /// A server on the PostgreSQL database `database`, which other
    /// instances may share.
    pub async fn spawn_on_database(
        database: &pg::Database,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let mut app = Self::spawn_on(Path::new(&database.url), adjust).await;
        app.pg = Some(database.clone());
        app
    }

    /// Two instances on one fresh PostgreSQL database, as behind a load
    /// balancer; `adjust` sets up both.
    pub async fn spawn_pair(adjust: impl Fn(&mut Config)) -> (Self, Self) {
        let database = pg::Cluster::shared().create_database().await;
        let a = Self::spawn_on_database(&database, &adjust).await;
        let b = Self::spawn_on_database(&database, &adjust).await;
        (a, b)
    }

    /// Another instance on this app's PostgreSQL database.
    pub async fn spawn_sharing(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let database = self
            .pg
            .as_ref()
            .expect("instances share a PostgreSQL database; SQLite is one instance's");
        Self::spawn_on_database(database, adjust).await
    }

    /// Stops this server gracefully and starts it again on the same
    /// database and address, with settings adjusted by `adjust`.
    pub async fn restart(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        self.stop_in_place().await;
        let mut app = Self::spawn_at(&self.db, self.addr, adjust).await;
        app._dir = self._dir.take();
        app.pg = self.pg.take();
        app
    }

    /// A server on the database `db` (a SQLite file, kept after the app
    /// stops, or a `postgres://` URL).
    pub async fn spawn_on(db: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_at(db, "127.0.0.1:0".parse().expect("addr"), adjust).await
    }

    /// A server on the database `db` listening on `addr` (to restart a
    /// stopped app where its clients expect it).
    pub async fn spawn_at(db: &Path, addr: SocketAddr, adjust: impl FnOnce(&mut Config)) -> Self {
        let backend = if db.to_str().is_some_and(pg::is_url) {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
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
            backend,
            pg: None,
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
