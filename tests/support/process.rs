//! A hookscope server as a child process (the real binary), for tests
//! that kill it with SIGKILL as a crash would.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// `hookscope serve --listen addr --db db`, once `/healthz` answers.
    pub async fn start(db: &Path, addr: SocketAddr) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_hookscope"))
            .args(["serve", "--listen", &addr.to_string(), "--db"])
            .arg(db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start hookscope");
        let client = reqwest::Client::new();
        let healthz = format!("http://{addr}/healthz");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = client.get(&healthz).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "hookscope did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, addr }
    }

    /// SIGKILL: no graceful shutdown, nothing flushed.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address on 127.0.0.1 that nothing listens on right now, for a
/// server that must come back where its clients expect it.
pub fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("addr")
}
