//! webhook.site's official CLI (`whcli` from the npm package
//! `@webhooksite/cli`), unmodified, pointed at hookscope with its `WH_API`
//! (token API) and `WH_WS_HOST` (live channel) settings.
//!
//! `whcli forward` has two modes. With `--query` it reads the bin through
//! the token API (GET the token, PUT it back whole with `listen` set, then
//! page through `GET /token/{id}/requests?query=…`) and relays each match.
//! Without it, it waits for new requests on the live channel (Laravel Echo
//! over socket.io 2: `api::echo`), relays each, and hands the local app's
//! answer back to the waiting sender. `whcli exec` runs a command for each
//! new request, through the same channel.
//!
//! Needs node and npm (`.ci/run` installs them when missing); the test
//! installs the package into `target/whcli` on its first run. Set `WHCLI`
//! to another `index.js` of the package to use that one instead.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::recorder::{body_of, Recorder};
use support::TestApp;

/// The version the test was written against: its API calls are read from
/// its source (`commands/lib/api.js`).
const PACKAGE: &str = "@webhooksite/cli@0.2.7";

/// How long the CLI may take to read the bin and relay what it found.
const WAIT: Duration = Duration::from_secs(60);

/// The CLI's script: `WHCLI`, or the package under `target/whcli`,
/// installed from the npm registry when it is not there yet.
async fn whcli_js() -> PathBuf {
    if let Some(path) = std::env::var_os("WHCLI") {
        return PathBuf::from(path);
    }
    support::npm::script("whcli", PACKAGE, "@webhooksite/cli/index.js").await
}

#[tokio::test]
async fn whcli_forward_relays_the_requests_a_query_finds_to_a_local_app() {
    let whcli = whcli_js().await;
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let mut target = Recorder::start().await;

    let body = r#"{"event":"order.paid","note":"zebrafish, \"quoted\""}"#;
    let response = app
        .client
        .post(app.url(&format!("/{bin}/hooks/orders?source=shop")))
        .header("content-type", "application/json")
        .header("X-Shop-Event", "order.paid")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    // A request the query does not find: it must not be relayed.
    let other = app.post_to_bin(bin, "/other", "a cat").await;
    assert_eq!(other.status(), 200);

    let run = tokio::process::Command::new("node")
        .arg(&whcli)
        .arg("forward")
        .arg(format!("--token={bin}"))
        .arg(format!("--target={}", target.target("/app")))
        .arg("--query=zebrafish")
        .env("WH_API", app.url(""))
        .env("WH_LOG_LEVEL", "info")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(WAIT, run)
        .await
        .expect("whcli forward --query finished")
        .expect("start node");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        log.matches("Forwarded request").count() == 1 && !log.contains("\"level\":50"),
        "whcli did not forward exactly the one request its query finds ({}):\n{log}",
        output.status
    );

    let received = target.next().await;
    let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
    assert!(
        head.starts_with("post /app/hooks/orders?source=shop http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-shop-event: order.paid\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    assert_eq!(body_of(&received), body.as_bytes());

    // The CLI set `listen` through a PUT of the GET'd token: the token
    // still reads back whole.
    let token = app.json(&format!("/token/{bin}")).await;
    assert_eq!(token["uuid"], bin.to_string());
    app.stop().await;
}

/// The local app's answer in the live test.
const APP_ANSWER: &[u8] =
    b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nmade by app!";

#[tokio::test]
async fn whcli_forward_relays_new_requests_live_and_the_sender_gets_the_apps_answer() {
    let whcli = whcli_js().await;
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let mut target = Recorder::start_answering(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::ZERO,
        APP_ANSWER,
    )
    .await;
    let logs = tempfile::tempdir().expect("temp dir");
    let log_path = logs.path().join("whcli.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let _client = tokio::process::Command::new("node")
        .arg(&whcli)
        .arg("forward")
        .arg(format!("--token={bin}"))
        .arg(format!("--target={}", target.target("/app")))
        .env("WH_API", app.url(""))
        .env("WH_WS_HOST", app.url(""))
        .stdout(Stdio::from(log_file.try_clone().expect("log file")))
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // It has subscribed once the bin has a live viewer.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.state.hub.viewers(bin) == 0 {
        assert!(
            Instant::now() < deadline,
            "whcli did not subscribe:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = app.json(&format!("/token/{bin}")).await;
    assert_eq!(token["listen"], 5, "whcli sets listen before it subscribes");

    let body = "{\"event\":\"order.paid\",\"total\":\"12,50 €\"}";
    let answer = app
        .client
        .post(app.url(&format!("/{bin}/hooks/orders?source=shop")))
        .header("content-type", "application/json")
        .header("X-Shop-Event", "order.paid")
        .body(body)
        .send()
        .await
        .expect("POST");

    let received = target.next().await;
    let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
    assert!(
        head.starts_with("post /app/hooks/orders?source=shop http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-shop-event: order.paid\r\n"), "{head}");
    assert_eq!(body_of(&received), body.as_bytes());

    // Listen mode: the sender got the local app's answer through whcli.
    assert_eq!(answer.status(), 201, "whcli's log:\n{}", log());
    assert_eq!(answer.text().await.expect("answer body"), "made by app!");
    app.stop().await;
}

#[tokio::test]
async fn whcli_exec_runs_its_command_for_each_new_request() {
    let whcli = whcli_js().await;
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ran = dir.path().join("ran");
    let _client = tokio::process::Command::new("node")
        .arg(&whcli)
        .arg("exec")
        .arg(format!("--token={bin}"))
        .arg(format!("--command=touch '{}'", ran.display()))
        .env("WH_WS_HOST", app.url(""))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.state.hub.viewers(bin) == 0 {
        assert!(Instant::now() < deadline, "whcli exec did not subscribe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!ran.exists(), "nothing ran before a request came");

    let sent = app.post_to_bin(bin, "", "run it").await;
    assert_eq!(sent.status(), 200, "no listen mode: the bin's own answer");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ran.exists() {
        assert!(
            Instant::now() < deadline,
            "whcli exec did not run its command"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}
