//! Database side of the benchmark.
//!
//! `db count DB BIN`        prints the number of requests stored in BIN.
//! `db large DB N`          seeds one bin with N requests straight through
//!                          SQLite, then serves that database in-process
//!                          and times listing the newest 50 (the store call
//!                          and the whole dashboard page over HTTP).

use std::time::{Duration, Instant};

use hookscope::store::{Page, RequestFilter, SearchQuery, Store};
use hookscope::{AppState, Config};
use rusqlite::{params, Connection};
use uuid::Uuid;

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["count", db, bin] => {
            let conn = Connection::open(db)?;
            let bin = Uuid::try_parse(bin)?;
            let rows: i64 = conn.query_row(
                "SELECT count(*) FROM requests WHERE bin_id = ?1",
                [bin],
                |r| r.get(0),
            )?;
            println!("{rows}");
            Ok(())
        }
        ["large", db, n] => large(db, n.parse()?).await,
        _ => Err("usage: db count DB BIN | db large DB N".into()),
    }
}

/// The headers blob format of `store::codec`: u32 LE length then bytes,
/// name then value, per field.
fn headers_blob(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        for part in [name.as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

async fn large(db: &str, n: u64) -> Result<(), Error> {
    let bin = Uuid::new_v4();
    let started = Instant::now();
    {
        let mut conn = Connection::open(db)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")?;
        hookscope::store::migrations().to_latest(&mut conn)?;
        let now = hookscope::model::Timestamp::now().as_micros();
        conn.execute(
            "INSERT INTO bins (id, created_at) VALUES (?1, ?2)",
            params![bin, now],
        )?;
        let headers = headers_blob(&[
            ("Host", "127.0.0.1:8080"),
            ("User-Agent", "bench/1.0"),
            ("Content-Type", "application/json"),
        ]);
        let mut done = 0;
        while done < n {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO requests (id, bin_id, received_at, method, path, query,
                                           version, remote_addr, headers, body, size, seq)
                     VALUES (?1, ?2, ?3, 'POST', ?4, 'source=bench', 'HTTP/1.1',
                             '127.0.0.1:40000', ?5, ?6, ?7, ?8)",
                )?;
                for i in done..(done + 100_000).min(n) {
                    let body = format!(
                        r#"{{"event":"invoice.paid","sequence":{i},"customer":"cus_{i:08}","amount":{}}}"#,
                        i % 10_000
                    );
                    insert.execute(params![
                        Uuid::now_v7(),
                        bin,
                        now,
                        format!("/{bin}/hooks/{}", i % 7),
                        headers,
                        body.as_bytes(),
                        body.len() as i64,
                        i as i64 + 1,
                    ])?;
                }
            }
            tx.commit()?;
            done = (done + 100_000).min(n);
        }
        conn.execute(
            "UPDATE bins SET request_count = ?2 WHERE id = ?1",
            params![bin, n as i64],
        )?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    println!(
        "seeded {n} requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let state = AppState::open(Config::with_db(db))?;
    let store: Store = state.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hookscope::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let rounds = 500;
    let mut list = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let rows = store
            .list_requests(
                bin,
                Page {
                    offset: 0,
                    limit: 50,
                },
            )
            .await?;
        list.push(t.elapsed());
        assert_eq!(rows.len(), 50);
    }
    report("store: newest 50 of the bin", &mut list);

    let mut count = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let total = store.count_requests(bin).await?;
        count.push(t.elapsed());
        assert_eq!(total, n);
    }
    report("store: count of the bin's requests", &mut count);

    let client = reqwest::Client::new();
    let url = format!("http://{addr}/view/{bin}");
    let mut page = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let response = client.get(&url).send().await?;
        assert_eq!(response.status(), 200);
        response.bytes().await?;
        page.push(t.elapsed());
    }
    report("http: GET /view/{bin} (dashboard, newest 50)", &mut page);

    // The search index is filled off the capture path; the first search
    // (or a pause in captures) builds it. Time that once, then searches.
    let t = Instant::now();
    let indexed = store.index_pending().await?;
    println!(
        "search index: built for {indexed} requests in {:.1} s (once, off the capture path)",
        t.elapsed().as_secs_f64()
    );
    // The language's shapes (README "Search"): the index drives every
    // query with a word or field term; `size`/`created_at` alone walk the
    // bin's rows newest first, fast while matches are common, a full walk
    // when nothing matches (measured last, with fewer rounds).
    for (what, query, rounds) in [
        ("a rare word", "cus_00424242", 100),
        ("method:POST AND a word", "method:POST invoice", 100),
        ("a field term", "method:POST", 100),
        ("a header term", "header.user-agent:bench", 100),
        (
            "a word inside a header value",
            "headers.content-type:json",
            100,
        ),
        ("a query parameter", "query.source:bench", 100),
        ("a prefix wildcard", "cus_0042424*", 100),
        ("OR, NOT and parentheses", "(hooks OR orders) -refund", 100),
        ("a word and a size range", "invoice size:[60 TO 2000]", 100),
        ("a size range alone (rows walk)", "size:[60 TO 2000]", 100),
        (
            "a created_at range alone (rows walk)",
            "created_at:[2020-01-01 TO now]",
            100,
        ),
        (
            "a size range matching nothing (full walk)",
            "size:>100000",
            10,
        ),
    ] {
        let filter = RequestFilter {
            query: SearchQuery::parse(query)?,
            ..RequestFilter::default()
        };
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            let rows = store
                .find_summaries(
                    bin,
                    filter.clone(),
                    Page {
                        offset: 0,
                        limit: 50,
                    },
                )
                .await?;
            samples.push(t.elapsed());
            assert!(
                rows.is_empty() == query.starts_with("size:>"),
                "{query} finds what it should"
            );
        }
        report(
            &format!("store: search {what} ({query}), newest 50"),
            &mut samples,
        );
    }

    // The API answers with the total too, counted up to 10 000 past the
    // page (then "at least"): a common term costs no more than a rare one.
    for (what, query) in [
        ("a rare word", "cus_00424242"),
        ("a word inside a header value", "headers.content-type:json"),
        ("a prefix wildcard", "cus_0042424*"),
        ("a field term", "method:POST"),
    ] {
        let url = reqwest::Url::parse_with_params(
            &format!("http://{addr}/token/{bin}/requests"),
            &[("query", query), ("sorting", "newest")],
        )?;
        let mut samples = Vec::with_capacity(100);
        for _ in 0..100 {
            let t = Instant::now();
            let response = client.get(url.clone()).send().await?;
            assert_eq!(response.status(), 200);
            response.bytes().await?;
            samples.push(t.elapsed());
        }
        report(
            &format!(
                "http: GET /token/{{bin}}/requests?query={query} ({what}, newest 50 and the total)"
            ),
            &mut samples,
        );
    }

    let _ = stop.send(());
    server.await??;
    Ok(())
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{what}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
}
