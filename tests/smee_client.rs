//! The npm `smee-client`, unmodified, relays a hookscope bin to a local
//! app. Needs node and the package: `.ci/run` installs it into
//! `target/smee` and runs this test with `--ignored`; set `SMEE_CLIENT` to
//! another `bin/smee.js` to run it elsewhere.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::recorder::{body_of, Recorder};
use common::TestApp;

fn smee_js() -> PathBuf {
    std::env::var_os("SMEE_CLIENT").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/smee/node_modules/smee-client/bin/smee.js")
        },
        PathBuf::from,
    )
}

#[tokio::test]
#[ignore = "needs node and the npm smee-client; .ci/run installs and runs it"]
async fn the_npm_smee_client_relays_a_bin_to_a_local_app() {
    let smee = smee_js();
    assert!(
        smee.exists(),
        "{} is missing: run `npm install --prefix target/smee smee-client@5`",
        smee.display()
    );
    let app = TestApp::spawn().await;
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
