//! The PostgreSQL store against a real cluster (Debian's `postgresql`:
//! `initdb` and `pg_ctl`, run as the `postgres` user, on a temporary
//! directory and a free port; stopped when the test ends). Without
//! PostgreSQL installed these tests fail: they never skip.
//!
//! Store-level stories: capture → list → search → delete; the same search
//! answers as SQLite on the same requests; two instances committing at
//! once and a reader that never misses a row; limits that hold across
//! instances; a lost database that comes back.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookscope::model::{Bin, BinSettings, CapturedRequest, Header, SentResponse, Timestamp};
use hookscope::store::{
    Page, RequestFilter, SearchQuery, Store, StoreConfig, StoreError, Unobserved,
};
use uuid::Uuid;

/// A private PostgreSQL cluster, stopped (immediately) on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser runs (PostgreSQL tests need the postgresql package)");
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let uid = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .expect("id");
        let uid: u32 = String::from_utf8_lossy(&uid.stdout)
            .trim()
            .parse()
            .expect("the postgres user exists");
        std::os::unix::fs::chown(dir.path(), Some(uid), None).expect("chown");
        let data = dir.path().join("data");
        as_postgres(&[
            "initdb",
            "-D",
            data.to_str().expect("utf-8 path"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self { dir, port };
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        as_postgres(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-o",
            &options,
            "-l",
            &log,
            "-w",
            "start",
        ]);
    }

    fn stop(&self) {
        as_postgres(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", "pg_ctl", "-D", &self.data()])
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn open(url: &str, adjust: impl FnOnce(&mut StoreConfig)) -> Store {
    let mut config = StoreConfig::new(url);
    adjust(&mut config);
    Store::open(&config, [7; 32], &Unobserved).expect("open the store")
}

fn capture(bin: Uuid, path: &str, headers: Vec<Header>, body: &[u8]) -> CapturedRequest {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (path, None),
    };
    CapturedRequest {
        id: Uuid::nil(),
        bin,
        received_at: Timestamp::now(),
        method: "POST".into(),
        path: format!("/{bin}{path}"),
        query,
        version: "HTTP/1.1".into(),
        remote_addr: "10.1.2.3:4567".into(),
        headers,
        body: Bytes::copy_from_slice(body),
        signature: None,
    }
}

fn filter(query: &str) -> RequestFilter {
    RequestFilter {
        query: SearchQuery::parse(query).expect("query parses"),
        oldest_first: true,
        ..RequestFilter::default()
    }
}

const ALL: Page = Page {
    offset: 0,
    limit: 1000,
};

#[tokio::test]
async fn capture_list_search_and_delete_round_trip() {
    let cluster = Cluster::start();
    let store = open(&cluster.url(), |_| {});
    let mut bin = Bin::new();
    bin.settings.alias = Some("Stripe-Hooks".into());
    bin.settings.request_limit = Some(50);
    store.create_bin(bin.clone()).await.expect("create");
    assert_eq!(
        store
            .bin_by_alias("stripe-hooks")
            .await
            .expect("alias")
            .map(|b| b.id),
        Some(bin.id)
    );
    let taken = store
        .create_bin(Bin::with_settings(BinSettings {
            alias: Some("STRIPE-hooks".into()),
            ..BinSettings::default()
        }))
        .await;
    assert!(matches!(taken, Err(StoreError::AliasTaken(_))), "{taken:?}");

    let binary = b"\xff\x00\x01 not utf-8";
    let headers = vec![
        Header::new("X-Dup", b"one".to_vec()),
        Header::new("x-dup", b"\xfe two".to_vec()),
        Header::new("Content-Type", "application/json"),
    ];
    let first = store
        .insert_request(capture(bin.id, "/raw", headers.clone(), binary))
        .await
        .expect("insert");
    let second = store
        .insert_request(capture(
            bin.id,
            "/orders/42?page=2",
            vec![Header::new("Content-Type", "text/plain")],
            "Café invoice paid".as_bytes(),
        ))
        .await
        .expect("insert");
    let stored = store
        .request(bin.id, first.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(&stored.body[..], binary);
    assert_eq!(stored.headers, headers);
    assert_eq!(stored.query, None);

    let list = store.list_requests(bin.id, ALL).await.expect("list");
    let ids: Vec<Uuid> = list.iter().map(|r| r.id).collect();
    assert_eq!(ids, [second.id, first.id], "newest first");
    assert_eq!(list[1].content_type.as_deref(), Some("application/json"));
    assert_eq!(store.count_requests(bin.id).await.expect("count"), 2);

    let after: Vec<Uuid> = store
        .requests_after(bin.id, Some(first.id), 10)
        .await
        .expect("after")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(after, [second.id]);

    for (query, expected) in [
        ("cafe", vec![second.id]),
        ("CAFÉ invoice", vec![second.id]),
        ("\"invoice paid\"", vec![second.id]),
        ("\"paid invoice\"", vec![]),
        ("inv*", vec![second.id]),
        ("path:orders query.page:2", vec![second.id]),
        ("headers.x-dup:two", vec![first.id]),
        (
            "headers.content-type:json OR content:paid",
            vec![first.id, second.id],
        ),
        ("NOT cafe", vec![first.id]),
        ("ip:10.1*", vec![first.id, second.id]),
        ("ip:1.2.3", vec![]),
        ("size:>17", vec![second.id]),
    ] {
        let found: Vec<Uuid> = store
            .find_summaries(bin.id, filter(query), ALL)
            .await
            .expect("search")
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(found, expected, "{query}");
    }
    let count = store
        .count_matching(bin.id, filter("ip:10"), 1)
        .await
        .expect("count");
    assert_eq!((count.n, count.exact), (1, false));

    let sent = SentResponse {
        from_app: true,
        status: 202,
        headers: vec![Header::new("X-App", "yes")],
        body: Bytes::from_static(b"accepted"),
    };
    store
        .record_response(bin.id, second.id, sent.clone())
        .await
        .expect("record");
    assert_eq!(
        store.sent_response(bin.id, second.id).await.expect("read"),
        Some(sent)
    );

    assert_eq!(
        store
            .delete_matching(bin.id, filter("cafe"))
            .await
            .expect("delete"),
        1
    );
    assert!(store
        .delete_request(bin.id, first.id)
        .await
        .expect("delete"));
    assert_eq!(store.count_requests(bin.id).await.expect("count"), 0);
    assert!(store.delete_bin(bin.id).await.expect("delete bin"));
    assert!(store.bin(bin.id).await.expect("read").is_none());
    store.close().await;

    // A second start applies nothing again and keeps the first secret.
    let again =
        Store::open(&StoreConfig::new(cluster.url()), [9; 32], &Unobserved).expect("reopen");
    assert_eq!(again.cookie_secret(), [7; 32]);
    again.close().await;
}

/// One table of queries, run on SQLite and PostgreSQL over the same
/// requests: both find the same ones, in the same order.
#[tokio::test]
async fn search_finds_what_sqlite_finds() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = open(dir.path().join("s.db").to_str().expect("utf-8"), |_| {});
    let postgres = open(&cluster.url(), |_| {});
    let form = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello Wörld\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n\
                Content-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n";
    let requests: Vec<(&str, &str, Vec<Header>, &[u8])> = vec![
        ("GET", "/a?page=2&debug", vec![], b""),
        (
            "POST",
            "/orders/42",
            vec![
                Header::new("Content-Type", "application/json"),
                Header::new("X-Event", "payment.succeeded"),
            ],
            r#"{"invoice":"in_1","amount":4200,"note":"Crème brûlée"}"#.as_bytes(),
        ),
        (
            "PUT",
            "/orders/43?page=3",
            vec![Header::new("X-Event", "refund")],
            b"refund for order 43, not an invoice",
        ),
        (
            "POST",
            "/upload",
            vec![Header::new(
                "Content-Type",
                "multipart/form-data; boundary=XyZ",
            )],
            form.as_bytes(),
        ),
        ("DELETE", "/orders/42", vec![], b"\xff\xfe binary"),
        (
            "M-SEARCH",
            "/",
            vec![Header::new("User-Agent", "curl/8.5")],
            b"shop pay paypal",
        ),
    ];
    let mut by_path = Vec::new();
    for (n, (method, path, headers, body)) in requests.into_iter().enumerate() {
        let path = format!("{path}{}", if path.contains('?') { "&" } else { "?" });
        // `n=…` tells the requests apart in both stores' answers.
        let path = format!("{path}n={n}");
        by_path.push((method, path, headers, body.to_vec()));
    }
    let mut bins = Vec::new();
    for store in [&sqlite, &postgres] {
        let bin = Bin::new();
        store.create_bin(bin.clone()).await.expect("create");
        for (n, (method, path, headers, body)) in by_path.iter().enumerate() {
            let mut req = capture(bin.id, path, headers.clone(), body);
            req.method = (*method).into();
            req.remote_addr = format!("10.1.{n}.3:4567");
            store.insert_request(req).await.expect("insert");
        }
        bins.push(bin.id);
    }
    let queries = [
        "invoice",
        "INVOICE -refund",
        "creme",
        "brûlée",
        "\"not an invoice\"",
        "\"an not\"",
        "pay*",
        "payment.succeeded",
        "method:POST",
        "method:post OR method:PUT",
        "method:P*",
        "method:*E*",
        "method:M-SEARCH",
        "path:orders",
        "path:/orders/42",
        "url:page",
        "query.page:3",
        "query.debug:*",
        "headers.x-event:*",
        "headers.x-event:pay*",
        "headers.content-type:json",
        "hostname:example",
        "user_agent:curl",
        "request.note:world",
        "files.avatar:png",
        "files.avatar:*",
        "content:paypal",
        "ip:10.1.2.3",
        "ip:10.1*",
        "ip:2.3",
        "size:>20",
        "size:[1 TO 40]",
        "NOT (method:GET OR size:>40)",
        "(invoice OR refund) method:PUT",
        "created_at:>now-1h",
        "created_at:<2020-01-01",
        "type:web",
        "*",
        "42 43",
    ];
    let mut found_some = 0;
    for query in queries {
        let mut answers = Vec::new();
        for (store, bin) in [(&sqlite, bins[0]), (&postgres, bins[1])] {
            let found: Vec<String> = store
                .find_summaries(bin, filter(query), ALL)
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"))
                .into_iter()
                .map(|r| r.query.unwrap_or_default())
                .collect();
            let count = store
                .count_matching(bin, filter(query), 3)
                .await
                .expect("count");
            answers.push((found, count));
        }
        assert_eq!(answers[0], answers[1], "{query}: SQLite, then PostgreSQL");
        if !answers[0].0.is_empty() && answers[0].0.len() < by_path.len() {
            found_some += 1;
        }
        if query == "invoice" {
            assert_eq!(answers[0].0, ["n=1", "page=3&n=2"]);
        }
    }
    // The table tells requests apart: most queries find some, not all.
    assert!(found_some >= 28, "only {found_some} queries found some");
    sqlite.close().await;
    postgres.close().await;
}

/// Two instances capture into one bin at once while a reader follows with
/// `requests_after`: the reader ends with every acknowledged request,
/// each once, though the two commit interleaved.
#[tokio::test]
async fn a_reader_misses_nothing_that_two_instances_commit_at_once() {
    let cluster = Cluster::start();
    let a = open(&cluster.url(), |_| {});
    let b = open(&cluster.url(), |_| {});
    let bin = Bin::new();
    a.create_bin(bin.clone()).await.expect("create");
    const PER_WRITER: usize = 200;
    let mut writers = tokio::task::JoinSet::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        writers.spawn(async move {
            let mut ids = Vec::new();
            for n in 0..PER_WRITER {
                let body = format!("capture {n}");
                let stored = store
                    .insert_request(capture(bin.id, "/", vec![], body.as_bytes()))
                    .await
                    .expect("insert");
                ids.push(stored.id);
            }
            ids
        });
    }
    let reader = {
        let store = b.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = None;
            let deadline = Instant::now() + Duration::from_secs(60);
            while seen.len() < 4 * PER_WRITER && Instant::now() < deadline {
                let page = store
                    .requests_after(bin.id, cursor, 37)
                    .await
                    .expect("read");
                if let Some(last) = page.last() {
                    cursor = Some(last.id);
                }
                seen.extend(page.iter().map(|r| r.id));
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let mut acknowledged = HashSet::new();
    while let Some(ids) = writers.join_next().await {
        acknowledged.extend(ids.expect("writer"));
    }
    let seen = reader.await.expect("reader");
    let unique: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a request was read twice");
    assert_eq!(unique, acknowledged, "the reader missed a request");
    assert_eq!(
        a.count_requests(bin.id).await.expect("count"),
        (4 * PER_WRITER) as u64
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn limits_hold_across_instances() {
    let cluster = Cluster::start();
    let a = open(&cluster.url(), |c| c.max_bins = 5);
    let b = open(&cluster.url(), |c| c.max_bins = 5);
    let mut creating = tokio::task::JoinSet::new();
    for n in 0..12 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        creating.spawn(async move { store.create_bin(Bin::new()).await });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(result) = creating.join_next().await {
        match result.expect("task") {
            Ok(()) => created += 1,
            Err(StoreError::TooManyBins(5)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((created, refused), (5, 7));
    assert_eq!(a.count_bins().await.expect("count"), 5);

    // A bin's request limit (7) holds though two instances, with
    // different caps, prune it at once.
    let c = open(&cluster.url(), |c| c.request_cap = 20);
    let d = open(&cluster.url(), |_| {});
    let mut bin = Bin::new();
    bin.settings.request_limit = Some(7);
    d.create_bin(bin.clone()).await.expect("no bin limit on d");
    let mut writers = tokio::task::JoinSet::new();
    for store in [c.clone(), d.clone()] {
        writers.spawn(async move {
            for n in 0..30 {
                let body = format!("n{n}");
                store
                    .insert_request(capture(bin.id, "/", vec![], body.as_bytes()))
                    .await
                    .expect("insert");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    let kept = c.list_requests(bin.id, ALL).await.expect("list");
    assert_eq!(kept.len(), 7);
    assert_eq!(c.count_requests(bin.id).await.expect("count"), 7);
    for store in [a, b, c, d] {
        store.close().await;
    }
}

/// The database goes away: calls fail as unavailable (no panic, no
/// acknowledgement); once it is back, the same store works again.
#[tokio::test]
async fn a_lost_database_fails_calls_and_is_reconnected() {
    let cluster = Cluster::start();
    let store = open(&cluster.url(), |_| {});
    let bin = Bin::new();
    store.create_bin(bin.clone()).await.expect("create");
    store
        .insert_request(capture(bin.id, "/", vec![], b"before"))
        .await
        .expect("insert");
    cluster.stop();
    let lost = store
        .insert_request(capture(bin.id, "/", vec![], b"while down"))
        .await;
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
    assert!(store.ping().await.is_err());
    assert!(matches!(
        store.list_requests(bin.id, ALL).await,
        Err(StoreError::Unavailable(_))
    ));
    cluster.pg_ctl_start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store
            .insert_request(capture(bin.id, "/", vec![], b"after"))
            .await
        {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "not back: {e}"),
        }
    }
    store.ping().await.expect("ping");
    let bodies: Vec<Bytes> = store
        .requests_after(bin.id, None, 10)
        .await
        .expect("read")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, [&b"before"[..], b"after"]);
    store.close().await;
}

/// Each committed batch tells listeners on `hookscope_requests` which bin
/// got requests and its highest commit-order number: ids, never bodies.
#[tokio::test]
async fn a_committed_capture_is_announced_with_its_bin_and_order() {
    use futures_util::StreamExt;

    let cluster = Cluster::start();
    let store = open(&cluster.url(), |_| {});
    let bin = Bin::new();
    store.create_bin(bin.clone()).await.expect("create");
    let (listener, mut connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (notices, mut heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = notices.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener
        .batch_execute("LISTEN hookscope_requests")
        .await
        .expect("listen");
    let mut seqs = Vec::new();
    for body in ["secret one", "secret two"] {
        store
            .insert_request(capture(bin.id, "/", vec![], body.as_bytes()))
            .await
            .expect("insert");
        let (channel, payload) = tokio::time::timeout(Duration::from_secs(10), heard.recv())
            .await
            .expect("a notification in time")
            .expect("the listener runs");
        assert_eq!(channel, "hookscope_requests");
        assert!(!payload.contains("secret"), "{payload}");
        let parts: Vec<&str> = payload.split(' ').collect();
        let [named, seq, instance] = parts[..] else {
            panic!("'<bin> <seq> <instance>': {payload}");
        };
        assert_eq!(named, bin.id.to_string());
        assert!(!instance.is_empty());
        seqs.push(seq.parse::<i64>().expect("a number"));
    }
    assert!(seqs[0] < seqs[1], "{seqs:?}");
    store.close().await;
}

/// Expired bins are swept once though two instances sweep at once; a
/// cursor at a request pruned since still reads on from where it was.
#[tokio::test]
async fn sweeps_run_once_and_a_pruned_cursor_reads_on() {
    let cluster = Cluster::start();
    let a = open(&cluster.url(), |_| {});
    let b = open(&cluster.url(), |_| {});
    let mut expired = HashSet::new();
    for _ in 0..6 {
        let mut bin = Bin::new();
        bin.settings.expiry = Some(1);
        bin.created_at = Timestamp(bin.created_at.0 - 5_000_000);
        a.create_bin(bin.clone()).await.expect("create");
        expired.insert(bin.id);
    }
    let kept = Bin::new();
    a.create_bin(kept.clone()).await.expect("create");
    let now = Timestamp::now();
    let (by_a, by_b) = tokio::join!(a.delete_expired_bins(now), b.delete_expired_bins(now));
    let (by_a, by_b) = (by_a.expect("sweep"), by_b.expect("sweep"));
    let swept: HashSet<Uuid> = by_a.iter().chain(&by_b).copied().collect();
    assert_eq!(by_a.len() + by_b.len(), swept.len(), "a bin swept twice");
    assert_eq!(swept, expired);
    assert_eq!(a.count_bins().await.expect("count"), 1);

    let mut bin = Bin::new();
    bin.settings.request_limit = Some(2);
    a.create_bin(bin.clone()).await.expect("create");
    let mut ids = Vec::new();
    for body in ["one", "two", "three"] {
        let stored = b
            .insert_request(capture(bin.id, "/", vec![], body.as_bytes()))
            .await
            .expect("insert");
        ids.push(stored.id);
    }
    assert!(
        a.request(bin.id, ids[0]).await.expect("read").is_none(),
        "pruned"
    );
    let after: Vec<Uuid> = a
        .requests_after(bin.id, Some(ids[0]), 10)
        .await
        .expect("read")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(after, ids[1..]);
    a.close().await;
    b.close().await;
}

/// Instances started together on an empty database: one applies the
/// schema, the others wait for it, and all keep the same cookie secret.
#[test]
fn instances_starting_together_apply_the_schema_once() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let secrets: Vec<[u8; 32]> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..4u8)
            .map(|n| {
                let url = &url;
                scope.spawn(move || {
                    let store = Store::open(&StoreConfig::new(url.as_str()), [n; 32], &Unobserved)
                        .expect("open");
                    store.cookie_secret()
                })
            })
            .collect();
        starting
            .into_iter()
            .map(|s| s.join().expect("started"))
            .collect()
    });
    assert!(secrets.iter().all(|s| *s == secrets[0]), "{secrets:?}");
    let applied = Command::new("psql")
        .args([&url, "-Atc", "SELECT count(*) FROM hookscope_migrations"])
        .output()
        .expect("psql");
    let applied = String::from_utf8_lossy(&applied.stdout).trim().to_owned();
    let migrations = std::fs::read_dir("migrations/postgres")
        .expect("the migrations folder")
        .count();
    assert_eq!(
        applied,
        migrations.to_string(),
        "each migration applied once"
    );
}

/// A capture PostgreSQL refuses (text with a NUL byte, which SQLite
/// stores) fails by itself: the captures queued with it are stored.
#[tokio::test]
async fn a_capture_the_database_refuses_fails_alone() {
    let cluster = Cluster::start();
    let store = open(&cluster.url(), |_| {});
    let bin = Bin::new();
    store.create_bin(bin.clone()).await.expect("create");
    let mut refused = capture(bin.id, "/a", vec![], b"refused");
    refused.path.push('\0');
    let (refused, stored) = tokio::join!(
        store.insert_request(refused),
        store.insert_request(capture(bin.id, "/b", vec![], b"stored")),
    );
    assert!(
        matches!(refused, Err(StoreError::Postgres(_))),
        "{refused:?}"
    );
    let stored = stored.expect("the other capture is stored");
    let listed: Vec<Uuid> = store
        .list_requests(bin.id, ALL)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [stored.id]);
    assert_eq!(store.count_requests(bin.id).await.expect("count"), 1);
    store.close().await;
}

/// Retention deletes requests received before the cutoff, then bins idle
/// since, keeping what came later.
#[tokio::test]
async fn retention_deletes_old_requests_then_idle_bins() {
    let cluster = Cluster::start();
    let store = open(&cluster.url(), |_| {});
    let (busy, idle) = (Bin::new(), Bin::new());
    let mut last_old = Uuid::nil();
    for bin in [&busy, &idle] {
        store.create_bin(bin.clone()).await.expect("create");
        last_old = store
            .insert_request(capture(bin.id, "/", vec![], b"old"))
            .await
            .expect("insert")
            .id;
    }
    // UUID v7 ids tell time to the millisecond: the cutoff is the first
    // millisecond after the old requests' ids.
    let (secs, nanos) = last_old.get_timestamp().expect("a v7 id").to_unix();
    let old_millis = i64::try_from(secs * 1000 + u64::from(nanos / 1_000_000)).expect("millis");
    let cutoff = loop {
        let now = Timestamp::now();
        if now.as_millis() > old_millis {
            break now;
        }
        tokio::task::yield_now().await;
    };
    let kept = store
        .insert_request(capture(busy.id, "/", vec![], b"new"))
        .await
        .expect("insert");
    let deleted = store.delete_before(cutoff).await.expect("retention");
    assert_eq!((deleted.requests, deleted.bins), (2, 1));
    assert!(store.bin(idle.id).await.expect("read").is_none());
    let left: Vec<Uuid> = store
        .list_requests(busy.id, ALL)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, [kept.id]);
    assert_eq!(store.count_requests(busy.id).await.expect("count"), 1);
    store.close().await;
}
