//! A developer's story: `hookscope forward` relays what a bin captures to
//! a local app, exactly, and survives a server that goes away.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hookscope::forward::{self, ForwardArgs, ForwardError, Outcome};
use hookscope::model::Timestamp;
use support::process::{free_addr, ServerProcess};
use support::recorder::{body_of, Recorder};
use support::{status_of, Backend, FreshDb, TestApp};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

fn args(url: String, target: String) -> ForwardArgs {
    ForwardArgs {
        url,
        target,
        quiet: false,
        json: false,
        retries: 3,
        replay: Vec::new(),
        since: None,
        api_key: None,
        bin_password: None,
        timeout: 10,
        relay_answers: false,
    }
}

/// A forwarder running in this process.
struct Forwarder {
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ForwardError>>,
}

impl Forwarder {
    fn start(args: ForwardArgs) -> Self {
        let (report, outcomes) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(forward::forward(args, shutdown.clone(), move |o| {
            let _ = report.send(o);
        }));
        Self {
            outcomes,
            shutdown,
            task,
        }
    }

    async fn next(&mut self) -> Outcome {
        tokio::time::timeout(WAIT, self.outcomes.recv())
            .await
            .expect("an outcome in time")
            .expect("forwarder running")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the forwarder stops")
            .expect("forwarder task");
        result.expect("the forwarder ended cleanly");
    }
}

/// Retries `check` until it holds or the deadline passes.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn watched_by_forwarder(app: &TestApp, bin: Uuid) {
    until("the forwarder is connected", || {
        app.state.hub.viewers(bin) > 0
    })
    .await;
}

both_backends!(binary_multipart_duplicate_header_and_odd_method_requests_arrive_byte_exact);
async fn binary_multipart_duplicate_header_and_odd_method_requests_arrive_byte_exact(app: TestApp) {
    let bin = app.new_bin().await;
    let mut target = Recorder::start().await;
    let mut forwarder =
        Forwarder::start(args(app.url(&format!("/{bin}")), target.target("/hooks")));
    watched_by_forwarder(&app, bin).await;
    let host = target.addr.to_string();

    // Binary body, duplicate headers in mixed case, a non-UTF-8 header value.
    let body: Vec<u8> = (0..=255u8).chain([0, 0xff, 0, 0xfe]).collect();
    let head = |first: &str, rest: &str| {
        let mut wire = format!("{first}\r\n{rest}").into_bytes();
        let at = wire.windows(4).position(|w| w == b"caf?");
        if let Some(at) = at {
            wire[at + 3] = 0xe9;
        }
        wire
    };
    let mut sent = head(
        &format!("POST /{bin}/deep/path?x=1&x=2&e=%20 HTTP/1.1"),
        &format!(
            "Host: example.test\r\nX-Dup: one\r\nContent-Type: application/octet-stream\r\n\
             x-dup: two\r\nX-Bytes: caf?\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
    );
    sent.extend_from_slice(&body);
    let mut expected = head(
        "POST /hooks/deep/path?x=1&x=2&e=%20 HTTP/1.1",
        &format!(
            "Host: {host}\r\nX-Dup: one\r\nContent-Type: application/octet-stream\r\n\
             x-dup: two\r\nX-Bytes: caf?\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
    );
    expected.extend_from_slice(&body);
    assert_eq!(status_of(&app.raw(&sent).await), 200);
    assert_eq!(target.next().await, expected);

    // Multipart with a binary file part.
    let multipart: &[u8] =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\x00\x01\xff\xfe\r\n--XyZ\r\n\
        Content-Disposition: form-data; name=\"t\"\r\n\r\nhello\r\n--XyZ--\r\n";
    let mut sent = format!(
        "POST /{bin}/upload HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        multipart.len()
    )
    .into_bytes();
    sent.extend_from_slice(multipart);
    let mut expected = format!(
        "POST /hooks/upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: {}\r\n\r\n",
        multipart.len()
    )
    .into_bytes();
    expected.extend_from_slice(multipart);
    assert_eq!(status_of(&app.raw(&sent).await), 200);
    assert_eq!(target.next().await, expected);

    // An extension method without a body.
    let sent =
        format!("PROPFIND /{bin}/dav HTTP/1.1\r\nHost: h\r\nDepth: 1\r\nConnection: close\r\n\r\n");
    assert_eq!(status_of(&app.raw(sent.as_bytes()).await), 200);
    let expected = format!("PROPFIND /hooks/dav HTTP/1.1\r\nHost: {host}\r\nDepth: 1\r\n\r\n");
    assert_eq!(
        String::from_utf8(target.next().await).expect("utf-8"),
        expected
    );

    // A chunked body arrives whole, with its length (chunking is per hop).
    let sent = format!(
        "PATCH /{bin} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\
         Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    assert_eq!(status_of(&app.raw(sent.as_bytes()).await), 200);
    let expected = format!(
        "PATCH /hooks HTTP/1.1\r\nHost: {host}\r\nX-A: 1\r\nContent-Length: 11\r\n\r\nhello world"
    );
    assert_eq!(
        String::from_utf8(target.next().await).expect("utf-8"),
        expected
    );

    let methods: Vec<(String, Option<u16>)> = [
        forwarder.next().await,
        forwarder.next().await,
        forwarder.next().await,
        forwarder.next().await,
    ]
    .into_iter()
    .map(|o| (o.method, o.status))
    .collect();
    assert_eq!(
        methods,
        [
            ("POST", 200),
            ("POST", 200),
            ("PROPFIND", 200),
            ("PATCH", 200)
        ]
        .map(|(m, s)| (m.to_owned(), Some(s)))
    );
    forwarder.stop().await;
    app.stop().await;
}

/// Sends `count` POSTs from 4 concurrent tasks; returns the bodies that got a 2xx.
async fn send_burst(client: &reqwest::Client, url: &str, label: &str, count: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for task in 0..4 {
        let (client, url, label) = (client.clone(), url.to_owned(), label.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (task..count).step_by(4) {
                let body = format!("{label}-{i}");
                if let Ok(r) = client.post(&url).body(body.clone()).send().await {
                    if r.status().is_success() {
                        acked.push(body);
                    }
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.expect("sender task"));
    }
    acked
}

both_backends!(a_server_killed_and_restarted_mid_stream_loses_and_duplicates_nothing);
async fn a_server_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(backend: Backend) {
    let db = FreshDb::new(backend).await;
    let addr = free_addr();
    let server = ServerProcess::start(&db.location, addr).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let home = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("GET /");
    let location = home.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let bin = location
        .strip_prefix("/view/")
        .expect("bin location")
        .to_owned();
    let capture_url = format!("http://{addr}/{bin}");

    // A slowish local app, so the forwarder is behind when the server dies.
    let mut target = Recorder::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_millis(20),
    )
    .await;
    let mut forward_args = args(capture_url.clone(), target.target("/"));
    forward_args.since = Some(Timestamp::now());
    let forwarder = Forwarder::start(forward_args);

    let mut acked = send_burst(&client, &capture_url, "before", 40).await;
    // Wait until forwarding is under way, then kill the server mid-stream.
    let first = target.next().await;
    let mut arrived = vec![String::from_utf8(body_of(&first).to_vec()).expect("utf-8")];
    server.kill();
    let down = send_burst(&client, &capture_url, "down", 4).await;
    assert!(
        down.is_empty(),
        "nothing is acknowledged while the server is down"
    );

    let server = ServerProcess::start(&db.location, addr).await;
    acked.extend(send_burst(&client, &capture_url, "after", 40).await);
    let marker = client
        .post(&capture_url)
        .body("marker")
        .send()
        .await
        .expect("marker");
    assert_eq!(marker.status(), 200);

    // Forwarding is in id order: once the marker arrives, all came before it.
    loop {
        let body = String::from_utf8(body_of(&target.next().await).to_vec()).expect("utf-8");
        let done = body == "marker";
        arrived.push(body);
        if done {
            break;
        }
    }
    let mut seen = HashMap::<&str, usize>::new();
    for body in &arrived {
        *seen.entry(body.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let arrived: HashSet<&str> = arrived.iter().map(String::as_str).collect();
    let lost: Vec<_> = acked
        .iter()
        .filter(|b| !arrived.contains(b.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but never forwarded: {lost:?}"
    );
    assert_eq!(
        acked.len(),
        80,
        "every capture was acknowledged while the server was up"
    );

    forwarder.stop().await;
    drop(server);
}

both_backends!(a_target_that_is_down_gets_retries_then_a_reported_failure_and_forwarding_goes_on);
async fn a_target_that_is_down_gets_retries_then_a_reported_failure_and_forwarding_goes_on(
    app: TestApp,
) {
    let bin = app.new_bin().await;
    let dead = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
        probe.local_addr().expect("addr")
    };
    let mut forward_args = args(app.url(&format!("/{bin}")), format!("http://{dead}/hooks"));
    forward_args.retries = 2;
    let mut forwarder = Forwarder::start(forward_args);
    watched_by_forwarder(&app, bin).await;

    let started = Instant::now();
    assert_eq!(app.post_to_bin(bin, "/a", "lost").await.status(), 200);
    let failed = forwarder.next().await;
    assert_eq!(failed.status, None);
    assert_eq!(failed.attempts, 3, "one attempt and two retries");
    assert!(
        started.elapsed() >= Duration::from_millis(250 + 500),
        "retries back off"
    );
    let error = failed.error.as_deref().expect("an error");
    assert!(error.contains("cannot connect"), "{error}");
    assert!(
        failed.line().contains("-> failed after 3 attempts"),
        "{}",
        failed.line()
    );

    // The app comes up: forwarding goes on with the next request.
    let mut target = Recorder::start_on(dead, Duration::ZERO).await;
    assert_eq!(app.post_to_bin(bin, "/b", "kept").await.status(), 200);
    let delivered = forwarder.next().await;
    assert_eq!(delivered.status, Some(200));
    assert_eq!(delivered.target, format!("http://{dead}/hooks/b"));
    assert_eq!(body_of(&target.next().await), b"kept");
    forwarder.stop().await;
    app.stop().await;
}

both_backends!(the_cli_prints_one_json_line_per_request);
async fn the_cli_prints_one_json_line_per_request(app: TestApp) {
    let bin = app.new_bin().await;
    let mut target = Recorder::start().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookscope"))
        .args(["forward", "--json", "--url"])
        .arg(app.url(&format!("/{bin}")))
        .arg("--target")
        .arg(target.target("/hooks"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start hookscope forward");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    watched_by_forwarder(&app, bin).await;

    let response = app.post_to_bin(bin, "/x?y=1", "hello").await;
    let id = TestApp::request_id(&response);
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("a line in time")
        .expect("read stdout")
        .expect("a line");
    let json: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(json["id"], id.to_string());
    assert_eq!(json["method"], "POST");
    assert_eq!(json["status"], 200);
    assert_eq!(json["target"], target.target("/hooks/x?y=1"));
    assert_eq!(json["attempts"], 1);
    assert!(json["latency_ms"].is_u64() && json["error"].is_null());
    assert_eq!(body_of(&target.next().await), b"hello");
    child.kill().await.expect("stop forwarder");
    app.stop().await;
}

both_backends!(an_unknown_bin_is_a_clear_error);
async fn an_unknown_bin_is_a_clear_error(app: TestApp) {
    let bin = Uuid::new_v4();
    let forwarder = Forwarder::start(args(
        app.url(&format!("/{bin}")),
        "http://127.0.0.1:9/".into(),
    ));
    let result = tokio::time::timeout(WAIT, forwarder.task)
        .await
        .expect("ends")
        .expect("task");
    assert!(
        matches!(&result, Err(ForwardError::UnknownBin(b)) if *b == bin.to_string()),
        "{result:?}"
    );
    app.stop().await;
}

both_backends!(replay_resends_stored_requests_by_id_and_since_resends_recent_ones);
async fn replay_resends_stored_requests_by_id_and_since_resends_recent_ones(app: TestApp) {
    let bin = app.new_bin().await;
    let mut ids = Vec::new();
    for body in ["zero", "one", "two"] {
        ids.push(TestApp::request_id(&app.post_to_bin(bin, "", body).await));
    }
    let mut target = Recorder::start().await;

    let mut replay = args(app.url(&format!("/{bin}")), target.target("/"));
    replay.replay = vec![ids[2], ids[0]];
    let mut forwarder = Forwarder::start(replay);
    assert_eq!(body_of(&target.next().await), b"zero");
    assert_eq!(body_of(&target.next().await), b"two");
    assert_eq!(forwarder.next().await.id, ids[0]);
    assert_eq!(forwarder.next().await.id, ids[2]);
    let ended = tokio::time::timeout(WAIT, forwarder.task)
        .await
        .expect("replay ends");
    ended.expect("task").expect("replay succeeded");

    let unknown = Uuid::now_v7();
    let mut replay = args(app.url(&format!("/{bin}")), target.target("/"));
    replay.replay = vec![unknown];
    let forwarder = Forwarder::start(replay);
    let ended = tokio::time::timeout(WAIT, forwarder.task)
        .await
        .expect("replay ends");
    let error = ended.expect("task").expect_err("an unknown id is an error");
    assert!(
        matches!(&error, ForwardError::MissingRequests(m) if m == &[unknown]),
        "{error}"
    );

    // --since: what arrived since then, then the live ones.
    let since = Timestamp::now();
    app.post_to_bin(bin, "", "three").await;
    let mut follow = args(app.url(&format!("/{bin}")), target.target("/"));
    follow.since = Some(since);
    let forwarder = Forwarder::start(follow);
    assert_eq!(body_of(&target.next().await), b"three");
    watched_by_forwarder(&app, bin).await;
    app.post_to_bin(bin, "", "four").await;
    assert_eq!(body_of(&target.next().await), b"four");
    forwarder.stop().await;
    app.stop().await;
}

both_backends!(listen_mode_gives_the_sender_the_local_apps_answer_and_falls_back_on_timeout);
async fn listen_mode_gives_the_sender_the_local_apps_answer_and_falls_back_on_timeout(
    backend: Backend,
) {
    let app = TestApp::spawn_with_backend(backend, |config| config.answer_wait_secs = 10).await;
    let bin = app.new_bin().await;
    let answer: &[u8] = b"HTTP/1.1 201 Created\r\nX-App: local\r\nSet-Cookie: a=1\r\n\
        Set-Cookie: b=2\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\
        Connection: close\r\n\r\n{\"paid\":true}";
    let mut target =
        Recorder::start_answering("127.0.0.1:0".parse().expect("addr"), Duration::ZERO, answer)
            .await;
    let mut listen = args(app.url(&format!("/{bin}")), target.target("/pay"));
    listen.relay_answers = true;
    let forwarder = Forwarder::start(listen);
    until("the forwarder listens", || {
        app.state.pending.has_answerer(bin)
    })
    .await;

    let response = app.post_to_bin(bin, "", "charge").await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-app"], "local");
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        &response.bytes().await.expect("body")[..],
        b"{\"paid\":true}"
    );
    assert_eq!(body_of(&target.next().await), b"charge");
    // The stored record notes the answer that was sent: in the API…
    let latest = app.json(&format!("/token/{bin}/request/latest")).await;
    let id = latest["uuid"].as_str().expect("uuid").to_owned();
    let noted = app.json(&format!("/token/{bin}/request/{id}")).await;
    assert_eq!(noted["response"]["from"], "app");
    assert_eq!(noted["response"]["status"], 201);
    assert_eq!(noted["response"]["content"], "{\"paid\":true}");
    // …and on the dashboard.
    let page = app.html(&format!("/view/{bin}?r={id}")).await;
    assert!(page.contains("Answer sent (listen mode)"), "{page}");
    assert!(page.contains("Your local app's answer"), "{page}");
    forwarder.stop().await;

    // Without a listening forwarder nobody waits: the default answer at once.
    until("the forwarder left", || {
        !app.state.pending.has_answerer(bin)
    })
    .await;
    let response = app.post_to_bin(bin, "", "plain").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "OK\n");
    app.stop().await;

    // A local app that does not answer in time: the default answer.
    let app = TestApp::spawn_with_backend(backend, |config| config.answer_wait_secs = 1).await;
    let bin = app.new_bin().await;
    let dead = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
        probe.local_addr().expect("addr")
    };
    let mut listen = args(app.url(&format!("/{bin}")), format!("http://{dead}/"));
    listen.relay_answers = true;
    listen.retries = 0;
    let mut forwarder = Forwarder::start(listen);
    until("the forwarder listens", || {
        app.state.pending.has_answerer(bin)
    })
    .await;
    let started = Instant::now();
    let response = app.post_to_bin(bin, "", "late").await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the capture waited"
    );
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(forwarder.next().await.status, None);
    let stored = app.state.store.count_requests(bin).await.expect("count");
    assert_eq!(stored, 1, "stored either way");
    let id = TestApp::request_id(&response);
    let noted = app.json(&format!("/token/{bin}/request/{id}")).await;
    assert_eq!(noted["response"]["from"], "default");
    assert_eq!(noted["response"]["status"], 200);
    forwarder.stop().await;
    app.stop().await;
}

both_backends!(an_https_target_is_spoken_to_over_tls);
async fn an_https_target_is_spoken_to_over_tls(app: TestApp) {
    let bin = app.new_bin().await;
    // A plain-HTTP app behind an https:// target: the TLS handshake fails.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = plain.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut stream, _)) = plain.accept().await {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let mut forwarder = Forwarder::start(args(
        app.url(&format!("/{bin}")),
        format!("https://{addr}/hooks"),
    ));
    watched_by_forwarder(&app, bin).await;
    app.post_to_bin(bin, "", "secret").await;
    let outcome = forwarder.next().await;
    assert_eq!(outcome.target, format!("https://{addr}/hooks"));
    assert_eq!(outcome.status, None);
    assert_eq!(outcome.attempts, 1, "a failed handshake is not retried");
    let error = outcome.error.expect("an error");
    assert!(error.starts_with("TLS with 127.0.0.1 failed"), "{error}");
    forwarder.stop().await;
    app.stop().await;
}

both_backends!(listen_mode_through_an_alias_url_answers_the_sender);
async fn listen_mode_through_an_alias_url_answers_the_sender(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| config.answer_wait_secs = 10).await;
    let created = app
        .client
        .post(app.url("/token"))
        .body(r#"{"alias": "pay-hook"}"#)
        .send()
        .await
        .expect("POST /token");
    assert_eq!(created.status(), 201);
    let bin: Uuid = created.json::<serde_json::Value>().await.expect("JSON")["uuid"]
        .as_str()
        .expect("uuid")
        .parse()
        .expect("uuid");
    let answer: &[u8] = b"HTTP/1.1 202 Accepted\r\nX-App: local\r\nContent-Length: 2\r\n\
        Connection: close\r\n\r\nok";
    let mut target =
        Recorder::start_answering("127.0.0.1:0".parse().expect("addr"), Duration::ZERO, answer)
            .await;
    // The forwarder knows the bin only by its alias; its answer still
    // reaches the token API, which takes the id.
    let mut listen = args(app.url("/pay-hook"), target.target("/pay"));
    listen.relay_answers = true;
    let forwarder = Forwarder::start(listen);
    until("the forwarder listens", || {
        app.state.pending.has_answerer(bin)
    })
    .await;
    let response = app
        .client
        .post(app.url("/pay-hook/charge"))
        .body("charge")
        .send()
        .await
        .expect("POST through the alias");
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-app"], "local");
    assert_eq!(body_of(&target.next().await), b"charge");
    forwarder.stop().await;
    app.stop().await;
}

/// Two instances on one PostgreSQL: captures go to A while the forwarder
/// follows B, and B is killed and started again mid-stream. The local app
/// gets every acknowledged capture once, in the order the bin lists them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forwarder_on_one_instance_relays_what_the_other_captures_across_its_restart() {
    let db = FreshDb::new(Backend::Postgres).await;
    let a =
        TestApp::spawn_on_database(db.pg.as_ref().expect("a PostgreSQL database"), |_| {}).await;
    let b_addr = free_addr();
    let b = ServerProcess::start(&db.location, b_addr).await;
    let bin = a.new_bin().await;
    let capture_url = a.url(&format!("/{bin}"));

    let mut target = Recorder::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_millis(20),
    )
    .await;
    let mut forward_args = args(format!("http://{b_addr}/{bin}"), target.target("/"));
    forward_args.since = Some(Timestamp::now());
    let forwarder = Forwarder::start(forward_args);

    let mut acked = send_burst(&a.client, &capture_url, "before", 40).await;
    let first = target.next().await;
    let mut arrived = vec![String::from_utf8(body_of(&first).to_vec()).expect("utf-8")];
    b.kill();
    acked.extend(send_burst(&a.client, &capture_url, "while-b-is-down", 20).await);
    let b = ServerProcess::start(&db.location, b_addr).await;
    acked.extend(send_burst(&a.client, &capture_url, "after", 40).await);
    let marker = a.client.post(&capture_url).body("marker").send().await;
    assert_eq!(marker.expect("marker").status(), 200);
    loop {
        let body = String::from_utf8(body_of(&target.next().await).to_vec()).expect("utf-8");
        let done = body == "marker";
        arrived.push(body);
        if done {
            break;
        }
    }
    assert_eq!(acked.len(), 100, "A acknowledged everything throughout");
    let unique: HashSet<&str> = arrived.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), arrived.len(), "nothing forwarded twice");
    let lost: Vec<_> = acked
        .iter()
        .filter(|b| !unique.contains(b.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but never forwarded: {lost:?}"
    );
    // In the bin's order (the order of commit).
    let mut listed = Vec::new();
    for page in 1..=2 {
        let data = a
            .json(&format!(
                "/token/{bin}/requests?per_page=100&page={page}&sorting=oldest"
            ))
            .await["data"]
            .clone();
        for request in data.as_array().expect("data") {
            listed.push(request["content"].as_str().expect("content").to_owned());
        }
    }
    assert_eq!(listed, arrived, "forwarded in the order the bin lists them");

    forwarder.stop().await;
    drop(b);
    a.stop().await;
}
