//! Operations: Prometheus metrics after a capture, and health that fails
//! when the database does not answer.

mod support;

use support::{pg, TestApp};

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing in:\n{text}"))
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain; version=0.0.4"));
    response.text().await.expect("text")
}

both_backends!(metrics_count_captures_bytes_batches_commits_viewers_and_bins);
async fn metrics_count_captures_bytes_batches_commits_viewers_and_bins(app: TestApp) {
    let bin = app.new_bin().await;
    // Metrics are process-wide; other tests in this binary may add to them.
    let before = scrape(&app).await;
    let url = format!("ws://{}/live/{bin}", app.addr);
    let (viewer, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("viewer");
    assert_eq!(app.post_to_bin(bin, "", "12345").await.status(), 200);
    assert_eq!(
        app.post_to_bin(uuid::Uuid::new_v4(), "", "x")
            .await
            .status(),
        404
    );
    let after = scrape(&app).await;

    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    assert!(delta("hookscope_captures_total{class=\"2xx\"}") >= 1.0);
    assert!(delta("hookscope_captures_total{class=\"4xx\"}") >= 1.0);
    assert!(delta("hookscope_captured_bytes_total") >= 5.0);
    assert!(delta("hookscope_writer_batch_size_count") >= 1.0);
    assert!(delta("hookscope_writer_commit_seconds_count") >= 1.0);
    assert!(metric(&after, "hookscope_writer_batch_size_bucket{le=\"+Inf\"}") >= 1.0);
    assert!(metric(&after, "hookscope_live_viewers") >= 1.0);
    assert_eq!(metric(&after, "hookscope_bins"), 1.0);
    drop(viewer);
}

// SQLite only: it overwrites the database file. On PostgreSQL, see
// healthz_fails_while_postgres_is_down_and_recovers.
#[tokio::test]
async fn healthz_fails_when_the_database_does_not_answer() {
    let app = TestApp::spawn().await;
    let ok = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(ok.status(), 200);

    // Replace the database with something that is not SQLite: the next
    // read connection cannot read it.
    let db = app.db.clone();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::write(&db, vec![0x42u8; 8192]).expect("overwrite db");
    app.state.store.drop_idle_readers();

    let failing = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(failing.status(), 503);
}

// SQLite only: the WAL file is SQLite's.
#[tokio::test]
async fn the_wal_file_is_truncated_once_captures_pause_and_nothing_is_lost() {
    let app = TestApp::spawn().await;
    let bin = app.new_bin().await;
    let body = "x".repeat(4096);
    for _ in 0..100 {
        assert_eq!(app.post_to_bin(bin, "", body.clone()).await.status(), 200);
    }

    // Each checkpoint period without a commit ends in a truncation; give
    // it a few periods.
    let wal = format!("{}-wal", app.db.display());
    let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while wal_len() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL still holds {} bytes",
            wal_len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let page = app.json(&format!("/token/{bin}/requests?per_page=1")).await;
    assert_eq!(page["total"], 100);
}

// PostgreSQL only: a server of the test's own, stopped and started again
// under a running instance.
#[tokio::test]
async fn healthz_fails_while_postgres_is_down_and_recovers() {
    let cluster = pg::Cluster::start();
    let database = cluster.create_database().await;
    let app = TestApp::spawn_on_database(&database, |_| {}).await;
    assert_eq!(app.get("/healthz").await.status(), 200);

    cluster.stop();
    healthz_becomes(&app, 503).await;
    cluster.restart();
    healthz_becomes(&app, 200).await;
    app.stop().await;
}

/// Asks `/healthz` until it answers `status`.
async fn healthz_becomes(app: &TestApp, status: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let answer = app.get("/healthz").await.status();
        if answer == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/healthz still answers {answer}, not {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
