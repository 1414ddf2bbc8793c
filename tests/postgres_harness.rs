//! The PostgreSQL the tests run on (tests/support/pg.rs) is real, gives
//! each test its own database, can be stopped and crashed, and leaves
//! nothing behind, not even when the test process panics.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::pg::Cluster;
use support::{Backend, TestApp};

const WAIT: Duration = Duration::from_secs(30);

/// Whether something accepts connections on `port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Retries `check` until it holds or the deadline passes.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn each_database_is_its_own() {
    let cluster = Cluster::shared();
    let (one, two) = (
        cluster.create_database().await,
        cluster.create_database().await,
    );
    assert_ne!(one.name, two.name);
    assert!(one.url.starts_with("postgres://"), "{}", one.url);
    one.psql("CREATE TABLE marks (n int); INSERT INTO marks VALUES (7)")
        .await;
    assert_eq!(one.psql("SELECT n FROM marks").await.trim(), "7");
    assert_eq!(
        two.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'marks'")
            .await
            .trim(),
        "0"
    );
}

#[tokio::test]
async fn a_cluster_of_its_own_keeps_commits_across_a_crash_and_is_deleted_when_dropped() {
    let cluster = Cluster::start();
    let (dir, port) = (cluster.dir().to_owned(), cluster.port());
    let database = cluster.create_database().await;
    database
        .psql("CREATE TABLE marks (n int); INSERT INTO marks VALUES (1)")
        .await;

    cluster.kill();
    assert!(!listening(port), "down after a crash");
    cluster.restart();
    assert_eq!(database.psql("SELECT n FROM marks").await.trim(), "1");

    cluster.stop();
    assert!(!listening(port), "down after a clean stop");
    cluster.restart();
    assert!(listening(port));

    drop(cluster);
    assert!(!dir.exists(), "{} is deleted", dir.display());
    assert!(!listening(port), "no server is left");
}

#[tokio::test]
async fn two_instances_on_one_database_see_the_same_bins_and_requests() {
    let (a, b) = TestApp::spawn_pair(|_| {}).await;
    assert_eq!(
        (a.backend, b.backend),
        (Backend::Postgres, Backend::Postgres)
    );
    assert_ne!(a.addr, b.addr);
    let bin = a.new_bin().await;
    let captured = b.post_to_bin(bin, "/on-b", "sent to b").await;
    assert_eq!(captured.status(), 200);
    let id = TestApp::request_id(&captured);
    let on_a = a.json(&format!("/token/{bin}/request/{id}")).await;
    assert_eq!(on_a["content"], "sent to b");

    let c = a.spawn_sharing(|_| {}).await;
    let page = c.json(&format!("/token/{bin}/requests")).await;
    assert_eq!(support::contents(&page), ["sent to b"]);
    let others = "SELECT count(*) FROM pg_stat_activity \
        WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let rows = a.pg.as_ref().expect("a PostgreSQL app").psql(others).await;
    assert!(
        rows.trim().parse::<u32>().expect("a count") >= 3,
        "each instance has its own connections: {rows}"
    );
    for app in [a, b, c] {
        app.stop().await;
    }
}

/// Run by the tests below in a process of their own: starts the shared
/// cluster, says where it is, then fails or waits to be killed.
async fn start_the_shared_cluster_in_a_child(then_panic: bool) {
    let cluster = Cluster::shared();
    cluster.create_database().await;
    println!("cluster {} {}", cluster.port(), cluster.dir().display());
    if then_panic {
        panic!("a test that fails with PostgreSQL running");
    }
    std::future::pending::<()>().await;
}

#[tokio::test]
#[ignore = "run by a_test_process_that_panics_leaves_no_postgres_behind"]
async fn child_that_panics() {
    start_the_shared_cluster_in_a_child(true).await;
}

#[tokio::test]
#[ignore = "run by a_test_process_killed_with_sigkill_leaves_no_postgres_behind"]
async fn child_that_waits_to_be_killed() {
    start_the_shared_cluster_in_a_child(false).await;
}

/// Runs the ignored test `name` of this binary in a child process.
fn child(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command.args(["--exact", name, "--ignored", "--nocapture"]);
    command
}

/// The port and directory of the cluster a child's output names.
fn cluster_of(line: &str) -> Option<(u16, PathBuf)> {
    let (port, dir) = line.strip_prefix("cluster ")?.split_once(' ')?;
    Some((port.parse().ok()?, PathBuf::from(dir)))
}

async fn gone(port: u16, dir: &Path) {
    until("the cluster's server is gone", || !listening(port)).await;
    until("the cluster's directory is gone", || !dir.exists()).await;
}

#[tokio::test]
async fn a_test_process_that_panics_leaves_no_postgres_behind() {
    let output = child("child_that_panics")
        .output()
        .expect("run the test binary again");
    assert!(!output.status.success(), "the child test panicked");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (port, dir) = stdout
        .lines()
        .find_map(cluster_of)
        .unwrap_or_else(|| panic!("the child said where its cluster was: {stdout}"));
    gone(port, &dir).await;
}

#[tokio::test]
async fn a_test_process_killed_with_sigkill_leaves_no_postgres_behind() {
    let mut process = child("child_that_waits_to_be_killed")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the test binary again");
    let stdout = BufReader::new(process.stdout.take().expect("piped"));
    let (port, dir) = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| cluster_of(&line))
        .expect("the child says where its cluster is");
    assert!(listening(port), "the child's cluster runs");
    process.kill().expect("SIGKILL");
    process.wait().expect("reap");
    gone(port, &dir).await;
}
