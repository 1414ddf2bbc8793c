//! Waiting for a request from CI: `GET /token/{id}/requests/wait` (a long
//! poll for the first request matching a query after a cursor) and the
//! `hookscope wait` command built on it.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::relay::Relay;
use support::TestApp;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;
use uuid::Uuid;

/// How long anything that should happen at once may take.
const WAIT: Duration = Duration::from_secs(20);

/// Retries `check` until it holds or the deadline passes.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Until `n` waiters (or viewers) are joined to `bin`'s hub channel: from
/// then on a capture must wake them.
async fn waiting(app: &TestApp, bin: Uuid, n: usize) {
    until(&format!("{n} waiters are registered"), || {
        app.state.hub.viewers(bin) == n
    })
    .await;
}

fn wait_path(bin: Uuid, params: &str) -> String {
    format!("/token/{bin}/requests/wait?{params}")
}

/// `GET` the wait endpoint: status and JSON body.
async fn wait_for(app: &TestApp, bin: Uuid, params: &str) -> (u16, Value) {
    let response = tokio::time::timeout(WAIT, app.get(&wait_path(bin, params)))
        .await
        .expect("the wait answers in time");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

async fn send(app: &TestApp, bin: Uuid, method: &str, header: (&str, &str), body: &str) -> Uuid {
    let response = app
        .client
        .request(
            method.parse().expect("a method"),
            app.url(&format!("/{bin}/hook")),
        )
        .header(header.0, header.1)
        .body(body.to_owned())
        .send()
        .await
        .expect("capture");
    assert_eq!(response.status(), 200);
    TestApp::request_id(&response)
}

fn id_of(request: &Value) -> Uuid {
    Uuid::parse_str(request["uuid"].as_str().expect("a uuid")).expect("a request id")
}

both_backends!(a_stored_match_after_the_cursor_answers_at_once);
async fn a_stored_match_after_the_cursor_answers_at_once(app: TestApp) {
    let bin = app.new_bin().await;
    let first = send(&app, bin, "POST", ("x-event", "ping"), "first").await;
    let push = send(&app, bin, "POST", ("x-event", "push"), "push one").await;
    let later_push = send(&app, bin, "POST", ("x-event", "push"), "push two").await;

    // The first match after the cursor, in commit order, as the other
    // request endpoints give it.
    let query = "query=headers.x-event%3Apush";
    let (status, found) = wait_for(&app, bin, &format!("{query}&after={first}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(id_of(&found), push);
    assert_eq!(found["content"], "push one");
    let same = app.json(&format!("/token/{bin}/request/{push}")).await;
    for field in ["uuid", "method", "headers", "content", "url", "created_at"] {
        assert_eq!(found[field], same[field], "{field}");
    }
    let (_, next) = wait_for(&app, bin, &format!("{query}&after={push}")).await;
    assert_eq!(id_of(&next), later_push);
    // No query: any request after the cursor.
    let (_, any) = wait_for(&app, bin, &format!("after={first}")).await;
    assert_eq!(id_of(&any), push);
    // Nothing after the last one.
    let (status, _) = wait_for(&app, bin, &format!("{query}&after={later_push}&timeout=0")).await;
    assert_eq!(status, 408);
    app.stop().await;
}

both_backends!(a_match_arriving_later_wakes_the_waiter_and_others_are_ignored);
async fn a_match_arriving_later_wakes_the_waiter_and_others_are_ignored(app: TestApp) {
    let bin = app.new_bin().await;
    // Stored before the wait began: without `after`, it does not count.
    send(&app, bin, "PUT", ("x-event", "old"), "before").await;
    let waiter = {
        let client = app.client.clone();
        let url = app.url(&wait_path(bin, "query=method%3APUT&timeout=60"));
        tokio::spawn(async move { client.get(url).send().await.expect("wait") })
    };
    waiting(&app, bin, 1).await;
    send(&app, bin, "POST", ("x-event", "other"), "not this").await;
    send(&app, bin, "GET", ("x-event", "other"), "nor this").await;
    let wanted = send(&app, bin, "PUT", ("x-event", "new"), "this one").await;
    let response = tokio::time::timeout(WAIT, waiter)
        .await
        .expect("the capture wakes the waiter")
        .expect("task");
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.expect("JSON");
    assert_eq!(id_of(&found), wanted);
    assert_eq!(found["content"], "this one");
    // The waiter left the bin's channel.
    waiting(&app, bin, 0).await;
    app.stop().await;
}

both_backends!(no_match_within_the_timeout_is_408);
async fn no_match_within_the_timeout_is_408(app: TestApp) {
    let bin = app.new_bin().await;
    let started = Instant::now();
    let (status, error) = wait_for(&app, bin, "query=method%3ADELETE&timeout=1").await;
    assert_eq!(status, 408, "{error}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(error["error"], "request_timeout");
    assert_eq!(
        error["message"],
        "no request matched \"method:DELETE\" within 1 s"
    );
    let (status, error) = wait_for(&app, bin, "timeout=0").await;
    assert_eq!(status, 408);
    assert_eq!(error["message"], "no request arrived within 0 s");
    app.stop().await;
}

both_backends!(
    a_hundred_waiters_are_answered_by_one_capture,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn a_hundred_waiters_are_answered_by_one_capture(app: TestApp) {
    let bin = app.new_bin().await;
    let waiters: Vec<_> = (0..100)
        .map(|n| {
            let client = app.client.clone();
            // Half with a query, half without: both kinds wake.
            let params = if n % 2 == 0 {
                "query=hello&timeout=60"
            } else {
                "timeout=60"
            };
            let url = app.url(&wait_path(bin, params));
            tokio::spawn(async move { client.get(url).send().await.expect("wait") })
        })
        .collect();
    waiting(&app, bin, 100).await;
    let id = send(&app, bin, "POST", ("x-event", "once"), "hello").await;
    for waiter in waiters {
        let response = tokio::time::timeout(WAIT, waiter)
            .await
            .expect("answered in time")
            .expect("task");
        assert_eq!(response.status(), 200);
        let found: Value = response.json().await.expect("JSON");
        assert_eq!(id_of(&found), id);
    }
    app.stop().await;
}

both_backends!(bad_queries_timeouts_and_cursors_are_400);
async fn bad_queries_timeouts_and_cursors_are_400(app: TestApp) {
    let bin = app.new_bin().await;
    for (params, reason) in [
        ("query=%28method%3APOST", "query"),
        (
            "timeout=301",
            "timeout must be a whole number of seconds from 0 to 300",
        ),
        ("timeout=-1", "timeout must be"),
        ("timeout=soon", "timeout must be"),
        ("after=yesterday", "after must be a request id"),
    ] {
        let (status, error) = wait_for(&app, bin, params).await;
        assert_eq!(status, 400, "{params}: {error}");
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.to_lowercase().contains(reason) && !message.contains('\n'),
            "{params}: {message}"
        );
    }
    // An unknown bin is 404.
    let (status, _) = wait_for(&app, Uuid::new_v4(), "timeout=0").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_wait_asks_for_the_api_key_like_the_rest_of_the_token_api() {
    let app = TestApp::spawn_with(|c| c.api_key = Some("k".into())).await;
    let bin = app
        .client
        .post(app.url("/token"))
        .header("api-key", "k")
        .send()
        .await
        .expect("create");
    let bin: Value = bin.json().await.expect("bin");
    let bin = Uuid::parse_str(bin["uuid"].as_str().expect("uuid")).expect("id");
    let refused = app.get(&wait_path(bin, "timeout=0")).await;
    assert_eq!(refused.status(), 401);
    let allowed = app
        .client
        .get(app.url(&wait_path(bin, "timeout=0")))
        .header("api-key", "k")
        .send()
        .await
        .expect("wait");
    assert_eq!(allowed.status(), 408);
    app.stop().await;
}

/// `hookscope wait` on `bin` with `args`, its output piped.
fn cli(app: &TestApp, bin: Uuid, args: &[&str]) -> tokio::process::Command {
    cli_at(&app.url(&format!("/{bin}")), args)
}

/// `hookscope wait --url url` with `args`, its output piped.
fn cli_at(url: &str, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookscope"));
    command
        .args(["wait", "--url", url])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("HOOKSCOPE_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn finish(child: tokio::process::Child) -> Finished {
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("hookscope wait ends in time")
        .expect("its output");
    Finished {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_cli_prints_the_request_and_exits_0() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    send(
        &app,
        bin,
        "POST",
        ("x-github-event", "push"),
        "stored before",
    )
    .await;
    let child = cli(
        &app,
        bin,
        &[
            "--query",
            "method:POST headers.x-github-event:push",
            "--timeout",
            "30",
        ],
    )
    .spawn()
    .expect("start hookscope wait");
    waiting(&app, bin, 1).await;
    send(&app, bin, "POST", ("x-github-event", "issues"), "not this").await;
    let id = send(
        &app,
        bin,
        "POST",
        ("x-github-event", "push"),
        "{\"ref\":\"refs/heads/main\"}\u{1b}[2J",
    )
    .await;
    let done = finish(child).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout.starts_with(&format!("POST /{bin}/hook\n")),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains(&format!("request {id}")),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("x-github-event: push"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout
            .contains("{\"ref\":\"refs/heads/main\"}\\u{1b}[2J"),
        "the body, its escape shown, not sent to the terminal: {}",
        done.stdout
    );

    // `--json`: the API's request object.
    let child = cli(
        &app,
        bin,
        &[
            "--query",
            "method:POST",
            "--after",
            &id.to_string(),
            "--json",
        ],
    )
    .spawn()
    .expect("start hookscope wait --json");
    waiting(&app, bin, 1).await;
    let next = send(&app, bin, "POST", ("x-github-event", "push"), "next").await;
    let done = finish(child).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let json: Value = serde_json::from_str(&done.stdout).expect("one JSON object");
    assert_eq!(id_of(&json), next);
    assert_eq!(json["content"], "next");
    app.stop().await;
}

#[tokio::test]
async fn the_cli_exits_1_on_timeout_and_2_on_errors() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let child = cli(&app, bin, &["--query", "method:PATCH", "--timeout", "1"])
        .spawn()
        .expect("start");
    let done = finish(child).await;
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(done.stdout.is_empty(), "{}", done.stdout);
    assert!(
        done.stderr
            .trim_end()
            .ends_with("hookscope wait: no request matched \"method:PATCH\" within 1 s"),
        "{}",
        done.stderr
    );

    let child = cli(&app, bin, &["--query", "(method:POST", "--timeout", "5"])
        .spawn()
        .expect("start");
    let done = finish(child).await;
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("the server refused (status 400)"),
        "{}",
        done.stderr
    );

    let child = cli(&app, Uuid::new_v4(), &["--timeout", "5"])
        .spawn()
        .expect("start");
    let done = finish(child).await;
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(done.stderr.contains("status 404"), "{}", done.stderr);

    // A request matched, but no verifier vouches for it.
    let stored = send(&app, bin, "POST", ("x-event", "x"), "unsigned").await;
    let before = Uuid::nil().to_string();
    let child = cli(&app, bin, &["--after", &before, "--expect-signature"])
        .spawn()
        .expect("start");
    let done = finish(child).await;
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stdout.contains(&format!("request {stored}")),
        "{}",
        done.stdout
    );
    assert!(
        done.stderr
            .contains("no signature verifier is configured for this bin"),
        "{}",
        done.stderr
    );
    app.stop().await;
}

/// The cursor a `hookscope wait` without `--after` says it resumes from.
async fn announced_cursor(child: &mut tokio::process::Child) -> Uuid {
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if let Some((_, rest)) = line.split_once("--after ") {
                return rest.get(..36).and_then(|id| Uuid::parse_str(id).ok());
            }
        }
        None
    })
    .await
    .expect("the cursor is announced in time");
    found.expect("a line naming the cursor")
}

both_backends!(a_killed_cli_resumes_with_after_and_loses_nothing);
async fn a_killed_cli_resumes_with_after_and_loses_nothing(app: TestApp) {
    let bin = app.new_bin().await;
    let old = send(&app, bin, "POST", ("x-event", "push"), "old").await;
    let mut first = cli(&app, bin, &["--query", "headers.x-event:push"])
        .spawn()
        .expect("start");
    let cursor = announced_cursor(&mut first).await;
    assert_eq!(cursor, old, "the cursor is the newest request at the start");
    waiting(&app, bin, 1).await;
    first.kill().await.expect("kill the first wait");
    waiting(&app, bin, 0).await;

    // It arrives while no one waits.
    let missed = send(&app, bin, "POST", ("x-event", "push"), "while away").await;
    let cursor = cursor.to_string();
    let again = cli(
        &app,
        bin,
        &[
            "--query",
            "headers.x-event:push",
            "--after",
            &cursor,
            "--json",
        ],
    )
    .spawn()
    .expect("start again");
    let done = finish(again).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let json: Value = serde_json::from_str(&done.stdout).expect("JSON");
    assert_eq!(id_of(&json), missed);
    app.stop().await;
}

#[tokio::test]
async fn the_cli_rides_out_a_dropped_connection() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let relay = Relay::start(app.addr).await;
    let url = format!("http://{}/{bin}", relay.addr);
    let child = cli_at(&url, &["--json", "--timeout", "60"])
        .spawn()
        .expect("start");
    waiting(&app, bin, 1).await;
    relay.cut();
    // The server sees the poll end with its connection.
    waiting(&app, bin, 0).await;
    let sent = send(&app, bin, "POST", ("x-event", "x"), "during the cut").await;
    relay.restore();
    let done = finish(child).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let json: Value = serde_json::from_str(&done.stdout).expect("JSON");
    assert_eq!(id_of(&json), sent);
    assert!(done.stderr.contains("asking again"), "{}", done.stderr);
}

both_backends!(a_waiting_cli_rides_out_a_server_restart);
async fn a_waiting_cli_rides_out_a_server_restart(backend: support::Backend) {
    // A long grace: a wait that held the shutdown up would show.
    let app = TestApp::spawn_with_backend(backend, |c| c.shutdown_grace_secs = 120).await;
    let bin = app.new_bin().await;
    let child = cli(&app, bin, &["--json", "--timeout", "120"])
        .spawn()
        .expect("start");
    waiting(&app, bin, 1).await;
    let restarting = Instant::now();
    let app = app.restart(|c| c.shutdown_grace_secs = 120).await;
    assert!(
        restarting.elapsed() < Duration::from_secs(60),
        "the waiting poll held the shutdown up for {:?}",
        restarting.elapsed()
    );
    let sent = send(&app, bin, "POST", ("x-event", "x"), "after the restart").await;
    let done = finish(child).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let json: Value = serde_json::from_str(&done.stdout).expect("JSON");
    assert_eq!(id_of(&json), sent);
    app.stop().await;
}

/// Several instances on one PostgreSQL: a capture on one wakes the
/// waiters of another.
#[tokio::test]
async fn a_capture_on_another_instance_wakes_the_waiter() {
    let (a, b) = TestApp::spawn_pair(|_| {}).await;
    let bin = a.new_bin().await;
    let waiter = {
        let client = a.client.clone();
        let url = a.url(&wait_path(bin, "query=elsewhere&timeout=60"));
        tokio::spawn(async move { client.get(url).send().await.expect("wait") })
    };
    waiting(&a, bin, 1).await;
    send(&b, bin, "POST", ("x-event", "x"), "not this one").await;
    let sent = send(&b, bin, "POST", ("x-event", "x"), "sent elsewhere").await;
    let response = tokio::time::timeout(WAIT, waiter)
        .await
        .expect("the other instance's capture wakes the waiter")
        .expect("task");
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.expect("JSON");
    assert_eq!(id_of(&found), sent);
    a.stop().await;
    b.stop().await;
}
