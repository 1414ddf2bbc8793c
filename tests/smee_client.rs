//! The npm `smee-client`, unmodified, relays a hookscope bin to a local
//! app. Needs node and npm (`.ci/run` installs them when missing); the test
//! installs the package into `target/smee` on its first run. Set
//! `SMEE_CLIENT` to another `bin/smee.js` to use that one instead.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::recorder::{body_of, Recorder};
use support::{Backend, TestApp};

/// The client's script: `SMEE_CLIENT`, or the package under `target/smee`,
/// installed from the npm registry when it is not there yet.
async fn smee_js() -> PathBuf {
    if let Some(path) = std::env::var_os("SMEE_CLIENT") {
        return PathBuf::from(path);
    }
    support::npm::script("smee", "smee-client@5", "smee-client/bin/smee.js").await
}

both_backends!(the_npm_smee_client_relays_a_bin_to_a_local_app);
async fn the_npm_smee_client_relays_a_bin_to_a_local_app(backend: Backend) {
    let smee = smee_js().await;
    let app = TestApp::spawn_on_backend(backend).await;
    let bin = app.new_bin().await;
    let mut target = Recorder::start().await;
    let _client = tokio::process::Command::new("node")
        .arg(&smee)
        .arg("--url")
        .arg(app.url(&format!("/{bin}")))
        .arg("--target")
        .arg(target.target("/hook"))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.state.hub.viewers(bin) == 0 {
        assert!(Instant::now() < deadline, "smee-client did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let response = app
        .client
        .post(app.url(&format!("/{bin}?source=test")))
        .header("content-type", "application/json")
        .header("X-GitHub-Event", "issues")
        .header("X-Hub-Signature-256", "sha256=abc")
        .body(r#"{"action":"opened","issue":{"number":7}}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);

    let received = target.next().await;
    let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
    assert!(
        head.starts_with("post /hook?source=test http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-github-event: issues\r\n"), "{head}");
    assert!(
        head.contains("\r\nx-hub-signature-256: sha256=abc\r\n"),
        "{head}"
    );
    assert_eq!(
        body_of(&received),
        br#"{"action":"opened","issue":{"number":7}}"#
    );
    app.stop().await;
}
