//! A team's story: two hookscope instances behind one load balancer, on one
//! PostgreSQL. Whichever instance a sender, a viewer or a reconnecting
//! client lands on, every request reaches every viewer once, in order.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use support::feed::{next_message, open_feed, Socket};
use support::TestApp;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

/// The id of the next request the feed delivers ("lagged" notes skipped:
/// what they announce follows).
async fn next_request(socket: &mut Socket) -> Uuid {
    loop {
        let value = next_message(socket, WAIT).await;
        if value["type"] == "request" {
            return Uuid::try_parse(value["request"]["uuid"].as_str().expect("uuid"))
                .expect("uuid");
        }
    }
}

/// Sends `each` captures to `bin` through each instance at once; every
/// one must get its 2xx.
fn send_to_both(
    a: &TestApp,
    b: &TestApp,
    bin: Uuid,
    each: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    [a, b]
        .into_iter()
        .map(|app| {
            let (client, url) = (app.client.clone(), app.url(&format!("/{bin}/load")));
            tokio::spawn(async move {
                for i in 0..each {
                    let sent = client.post(&url).body(format!("{i}")).send().await;
                    assert_eq!(sent.expect("POST").status(), 200);
                }
            })
        })
        .collect()
}

/// The ids of the bin's first 300 stored requests, oldest first, as the
/// API lists them.
async fn stored_ids(app: &TestApp, bin: Uuid) -> Vec<Uuid> {
    let mut stored = Vec::new();
    for page in 1..=3 {
        let data = app
            .json(&format!("/token/{bin}/requests?per_page=100&page={page}"))
            .await["data"]
            .clone();
        for request in data.as_array().expect("data") {
            stored.push(Uuid::try_parse(request["uuid"].as_str().expect("uuid")).expect("uuid"));
        }
    }
    stored
}

#[tokio::test]
async fn a_viewer_on_one_instance_sees_what_the_other_captures() {
    let (a, b) = TestApp::spawn_pair(|_| {}).await;
    let bin = a.new_bin().await;
    let mut viewer = open_feed(&b, bin, "").await;
    let sent = TestApp::request_id(&a.post_to_bin(bin, "/from-a", "hello").await);
    assert_eq!(next_request(&mut viewer).await, sent);
    // And its own captures as before, once each.
    let local = TestApp::request_id(&b.post_to_bin(bin, "/from-b", "hi").await);
    assert_eq!(next_request(&mut viewer).await, local);
    let again = TestApp::request_id(&a.post_to_bin(bin, "/from-a", "again").await);
    assert_eq!(next_request(&mut viewer).await, again);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_smee_client_on_one_instance_hears_the_other() {
    let (a, b) = TestApp::spawn_pair(|_| {}).await;
    let bin = a.new_bin().await;
    let response = b
        .client
        .get(b.url(&format!("/{bin}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("event stream");
    assert_eq!(response.status(), 200);
    let mut chunks = response.bytes_stream();
    let mut text = String::new();
    // The stream says it is ready before anything is sent.
    while !text.contains("ready") {
        let chunk = tokio::time::timeout(WAIT, chunks.next())
            .await
            .expect("ready in time")
            .expect("open")
            .expect("chunk");
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
    let sent = TestApp::request_id(&a.post_to_bin(bin, "/smee", "payload").await);
    while !text.contains(&format!("id: {sent}")) {
        let chunk = tokio::time::timeout(WAIT, chunks.next())
            .await
            .expect("the capture in time")
            .expect("open")
            .expect("chunk");
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
    a.stop().await;
    b.stop().await;
}

/// Captures land on both instances at once while a viewer watches from
/// one, drops halfway and reconnects to the other with `?after=`: it ends
/// with every stored request exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_viewer_that_reconnects_elsewhere_under_load_misses_nothing_and_repeats_nothing() {
    const EACH: usize = 150;
    let (a, b) = TestApp::spawn_pair(|c| c.max_requests_per_bin = 10_000).await;
    let bin = a.new_bin().await;
    let mut viewer = open_feed(&b, bin, "").await;

    let senders = send_to_both(&a, &b, bin, EACH);

    let mut seen = Vec::new();
    while seen.len() < EACH {
        seen.push(next_request(&mut viewer).await);
    }
    drop(viewer);
    let cursor = *seen.last().expect("some seen");
    let mut viewer = open_feed(&a, bin, &format!("?after={cursor}")).await;
    for sender in senders {
        sender.await.expect("sender");
    }
    while seen.len() < 2 * EACH {
        seen.push(next_request(&mut viewer).await);
    }

    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no request came twice");
    let listed: HashSet<_> = stored_ids(&a, bin).await.into_iter().collect();
    assert_eq!(listed.len(), 2 * EACH);
    assert_eq!(
        unique,
        listed.iter().collect(),
        "every stored request, once"
    );
    // Nothing more is owed: the next capture is the next message.
    let next = TestApp::request_id(&b.post_to_bin(bin, "/last", "last").await);
    assert_eq!(next_request(&mut viewer).await, next);
    a.stop().await;
    b.stop().await;
}

/// Viewers of one bin on one instance, at different cursors (from now, after
/// a request, the whole history), while both instances capture into it:
/// they share what the instance reads, yet each gets every request after
/// its own cursor exactly once, in the store's one commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn viewers_at_different_cursors_each_get_every_request_once_in_commit_order() {
    const EACH: usize = 100;
    let (a, b) = TestApp::spawn_pair(|c| c.max_requests_per_bin = 10_000).await;
    let bin = a.new_bin().await;
    let mut early = Vec::new();
    for i in 0..3 {
        let sent = a.post_to_bin(bin, "/early", format!("{i}")).await;
        early.push(TestApp::request_id(&sent));
    }
    let mut viewers = vec![
        (open_feed(&b, bin, "").await, 3),
        (open_feed(&b, bin, &format!("?after={}", early[0])).await, 1),
        (
            open_feed(&b, bin, &format!("?after={}", Uuid::nil())).await,
            0,
        ),
    ];
    let senders = send_to_both(&a, &b, bin, EACH);
    for sender in senders {
        sender.await.expect("sender");
    }

    let stored = stored_ids(&a, bin).await;
    assert_eq!(stored.len(), 3 + 2 * EACH);
    assert_eq!(stored[..3], early[..], "oldest first, in commit order");
    for (viewer, skipped) in &mut viewers {
        let mut seen = Vec::new();
        while seen.len() < stored.len() - *skipped {
            seen.push(next_request(viewer).await);
        }
        assert_eq!(
            seen,
            stored[*skipped..],
            "every request after the cursor, once, in commit order"
        );
    }
    // Nothing more is owed to anyone: the next capture is the next message.
    let next = TestApp::request_id(&a.post_to_bin(bin, "/last", "last").await);
    for (viewer, _) in &mut viewers {
        assert_eq!(next_request(viewer).await, next);
    }
    a.stop().await;
    b.stop().await;
}

/// Listen mode across instances: the capture waits on the instance that
/// took it, the forwarder watches another, and its answer, sent to that
/// other instance, is what the original sender gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forwarders_answer_given_to_one_instance_reaches_a_capture_waiting_on_the_other() {
    let (a, b) = TestApp::spawn_pair(|c| c.answer_wait_secs = 20).await;
    let bin = a.new_bin().await;
    let mut forwarder = open_feed(&b, bin, "?listen=true").await;
    // The forwarder's presence reaches the other instance through the
    // database.
    let deadline = std::time::Instant::now() + WAIT;
    while !a.state.store.answerer_elsewhere(bin).await.expect("store") {
        assert!(
            std::time::Instant::now() < deadline,
            "presence never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (client, url) = (a.client.clone(), a.url(&format!("/{bin}/hook")));
    let sender = tokio::spawn(async move { client.post(url).body("ping").send().await });
    let id = next_request(&mut forwarder).await;
    use base64::Engine as _;
    let put = b
        .client
        .put(b.url(&format!("/token/{bin}/request/{id}/response")))
        .json(&serde_json::json!({
            "status": 201,
            "content": base64::engine::general_purpose::STANDARD.encode("from the app"),
            "headers": {"x-app": "yes"},
        }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 200);
    let answer = sender.await.expect("sender").expect("answer");
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.headers()["x-app"], "yes");
    assert_eq!(answer.text().await.expect("body"), "from the app");

    // An answer for a request that does not exist is refused on any
    // instance.
    let missing = b
        .client
        .put(b.url(&format!("/token/{bin}/request/{}/response", Uuid::now_v7())))
        .json(&serde_json::json!({"status": 200}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(missing.status(), 404);
    drop(forwarder);
    a.stop().await;
    b.stop().await;
}

/// PostgreSQL restarts while captures pour in: meanwhile senders get a
/// clear 503 (never a 500, never a hang), afterwards 200 again without a
/// restart of hookscope, and every request that got its 2xx is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarting_mid_load_means_clear_503s_then_recovery_and_nothing_acknowledged_lost()
{
    use std::sync::{Arc, Mutex};
    let cluster = support::pg::Cluster::start();
    let database = cluster.create_database().await;
    let app = TestApp::spawn_on_database(&database, |_| {}).await;
    let bin = app.new_bin().await;

    #[derive(Default)]
    struct Seen {
        acknowledged: Vec<Uuid>,
        refusals: Vec<(u16, String)>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url(&format!("/{bin}/load")));
            let (seen, stop) = (seen.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(response) = client.post(&url).body("x").send().await else {
                        continue;
                    };
                    let status = response.status().as_u16();
                    if status == 200 {
                        let id = TestApp::request_id(&response);
                        seen.lock().expect("seen").acknowledged.push(id);
                    } else {
                        let text = response.text().await.unwrap_or_default();
                        seen.lock().expect("seen").refusals.push((status, text));
                    }
                }
            })
        })
        .collect();
    let count = |f: fn(&Seen) -> usize| f(&seen.lock().expect("seen"));
    let wait_for = |what: &'static str, f: fn(&Seen) -> usize, n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        async move {
            while count(f) < n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "timed out waiting for {what}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for("captures before the restart", |s| s.acknowledged.len(), 20).await;
    cluster.stop();
    wait_for(
        "refusals while the database is down",
        |s| s.refusals.len(),
        5,
    )
    .await;
    let before = count(|s| s.acknowledged.len());
    cluster.restart();
    wait_for(
        "captures after the restart",
        |s| s.acknowledged.len(),
        before + 20,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("sender");
    }

    let (acknowledged, refusals) = {
        let seen = seen.lock().expect("seen");
        (seen.acknowledged.clone(), seen.refusals.clone())
    };
    for (status, text) in &refusals {
        assert_eq!(
            *status, 503,
            "a refusal while the database was down: {text}"
        );
        assert_eq!(text.trim().lines().count(), 1, "one line of reason: {text}");
    }
    for id in &acknowledged {
        let stored = app.get(&format!("/token/{bin}/request/{id}")).await;
        assert_eq!(stored.status(), 200, "acknowledged {id} is stored");
    }
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    app.stop().await;
}
