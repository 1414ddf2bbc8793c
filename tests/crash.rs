//! Nothing acknowledged is lost: the real binary is killed (SIGKILL) or
//! stopped (SIGTERM) while several senders keep posting, restarted on the
//! same database, and every request that got a 2xx is read back byte-exact.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Backend, FreshDb};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Acknowledged captures before the process is stopped.
const ACKED_BEFORE_STOP: usize = 300;
const SENDERS: usize = 8;

/// A running `hookscope` process and the address it listens on.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the binary on `db` with port 0 and reads the real address
    /// from its "listening on" log line.
    fn start(db: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookscope"))
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hookscope");
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            // Keep draining after the address so the child never blocks.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    if let Some(found) = found.take() {
                        let _ = found.send(addr.to_owned());
                    }
                }
            }
        });
        let addr = address
            .recv_timeout(Duration::from_secs(30))
            .expect("hookscope logs its address");
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn new_bin(client: &reqwest::Client, base: &str) -> Uuid {
    let response = client.get(format!("{base}/")).send().await.expect("GET /");
    let location = response.headers()["location"].to_str().expect("ascii");
    Uuid::parse_str(location.trim_start_matches("/view/")).expect("bin id")
}

/// xorshift64*: random bodies without another dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0 to 16 KiB of arbitrary bytes (NUL, 0xFF, invalid UTF-8 included).
    fn body(&mut self) -> Vec<u8> {
        let len = (self.next() % (16 * 1024 + 1)) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What the senders saw: bodies acknowledged with a 2xx, by request id, and
/// answers that were neither a 2xx nor "no answer".
#[derive(Default)]
struct Outcome {
    acked: Mutex<Vec<(Uuid, Vec<u8>)>>,
    acked_count: AtomicUsize,
    refused: Mutex<Vec<u16>>,
}

/// Senders that post until the server stops answering.
fn start_senders(base: &str, bin: Uuid, outcome: &Arc<Outcome>) -> mpsc::Receiver<()> {
    let (finished, done) = mpsc::channel(SENDERS);
    for sender in 0..SENDERS {
        let url = format!("{base}/{bin}/crash/{sender}");
        let outcome = Arc::clone(outcome);
        let finished = finished.clone();
        tokio::spawn(async move {
            let client = client();
            let mut random = Random(Uuid::new_v4().as_u64_pair().0 | 1);
            loop {
                let body = random.body();
                let sent = client.post(&url).body(body.clone()).send().await;
                let Ok(response) = sent else { break };
                if response.status().is_success() {
                    let id = response.headers()["x-request-id"].to_str().expect("ascii");
                    let id = Uuid::parse_str(id).expect("request id");
                    outcome.acked.lock().expect("lock").push((id, body));
                    outcome.acked_count.fetch_add(1, Ordering::SeqCst);
                } else {
                    outcome
                        .refused
                        .lock()
                        .expect("lock")
                        .push(response.status().as_u16());
                }
            }
            drop(finished);
        });
    }
    done
}

async fn wait_for_acks(outcome: &Outcome, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcome.acked_count.load(Ordering::SeqCst) < count {
        assert!(
            Instant::now() < deadline,
            "senders never got {count} answers"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Restarts on `db` and checks every acknowledged body is stored exactly.
async fn assert_all_acked_stored(db: &Path, bin: Uuid, outcome: &Outcome) {
    let server = Server::start(db);
    let client = client();
    let acked = outcome.acked.lock().expect("lock").clone();
    assert!(acked.len() >= ACKED_BEFORE_STOP);
    for (id, body) in &acked {
        let url = format!("{}/view/{bin}/{id}/body", server.base);
        let response = client.get(&url).send().await.expect("GET body");
        assert_eq!(response.status(), 200, "acknowledged request {id} is lost");
        let stored = response.bytes().await.expect("body");
        assert!(
            stored == body[..],
            "request {id} is stored with other bytes"
        );
    }
}

/// A server on a fresh database with senders posting into one of its bins,
/// once some of their requests have been acknowledged.
struct Loaded {
    db: FreshDb,
    server: Server,
    bin: Uuid,
    outcome: Arc<Outcome>,
    /// Closes once every sender has stopped.
    done: mpsc::Receiver<()>,
}

async fn under_load(backend: Backend) -> Loaded {
    let db = FreshDb::new(backend).await;
    let server = Server::start(&db.location);
    let bin = new_bin(&client(), &server.base).await;
    let outcome = Arc::new(Outcome::default());
    let done = start_senders(&server.base, bin, &outcome);
    wait_for_acks(&outcome, ACKED_BEFORE_STOP).await;
    Loaded {
        db,
        server,
        bin,
        outcome,
        done,
    }
}

both_backends!(
    every_acknowledged_request_survives_sigkill,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn every_acknowledged_request_survives_sigkill(backend: Backend) {
    let Loaded {
        db,
        mut server,
        bin,
        outcome,
        mut done,
    } = under_load(backend).await;

    // `Child::kill` sends SIGKILL on Unix: no flush, no shutdown code runs.
    server.child.kill().expect("SIGKILL");
    let status = server.child.wait().expect("wait");
    assert!(!status.success(), "a killed process does not exit cleanly");
    assert_eq!(done.recv().await, None, "senders stop once nothing answers");

    assert!(outcome.refused.lock().expect("lock").is_empty());
    assert_all_acked_stored(&db.location, bin, &outcome).await;
}

both_backends!(
    sigterm_under_load_exits_cleanly_and_keeps_every_answered_request,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn sigterm_under_load_exits_cleanly_and_keeps_every_answered_request(backend: Backend) {
    let Loaded {
        db,
        mut server,
        bin,
        outcome,
        mut done,
    } = under_load(backend).await;

    let killed = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = server.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "graceful shutdown exits with 0");
    assert_eq!(done.recv().await, None, "senders stop once nothing answers");

    // Every capture either got a 2xx (and is stored) or got no answer.
    assert_eq!(*outcome.refused.lock().expect("lock"), Vec::<u16>::new());
    assert_all_acked_stored(&db.location, bin, &outcome).await;
}
