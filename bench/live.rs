//! Live delivery latency: with V viewers on a bin's websocket, the time
//! from a capture's 2xx answer to each viewer receiving its message.
//!
//! `live http://127.0.0.1:9090 [viewers] [captures] [viewers' base URL]`
//!
//! With a fourth argument the viewers connect to another instance (one on
//! the same PostgreSQL database) than the one the captures are sent to, so
//! each delivery crosses the database's LISTEN/NOTIFY.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .ok_or("usage: live BASE_URL [viewers] [captures] [VIEWERS_BASE_URL]")?;
    let viewers: usize = args.next().map_or(Ok(100), |v| v.parse())?;
    let captures: usize = args.next().map_or(Ok(1000), |v| v.parse())?;
    let viewers_base = args.next().unwrap_or_else(|| base.clone());

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let home = client.get(format!("{base}/")).send().await?;
    let location = home
        .headers()
        .get("location")
        .ok_or("GET / did not redirect")?
        .to_str()?;
    let bin = location.trim_start_matches("/view/").to_owned();

    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    let ws_base = viewers_base.replacen("http", "ws", 1);
    for viewer in 0..viewers {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("{ws_base}/live/{bin}")).await?;
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let at = Instant::now();
                if let Message::Text(text) = message {
                    let value: serde_json::Value = serde_json::from_str(&text)?;
                    if let Some(id) = value["request"]["uuid"].as_str() {
                        let _ = arrivals.send((viewer, id.to_owned(), at));
                    }
                }
            }
            Ok::<_, Error>(())
        });
    }
    drop(arrivals);

    // A viewer subscribes just after its upgrade: warm up until every
    // viewer has received a capture, so none misses a measured one.
    let url = format!("{base}/{bin}/live-bench");
    let mut ready = vec![false; viewers];
    let warm_until = Instant::now() + Duration::from_secs(20);
    while ready.iter().any(|r| !r) {
        if Instant::now() > warm_until {
            return Err("viewers never all received a warm-up capture".into());
        }
        client.post(&url).body("warm-up").send().await?;
        let window = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Some((viewer, _, _))) = tokio::time::timeout_at(window, arrived.recv()).await {
            ready[viewer] = true;
        }
    }

    let mut answered = HashMap::with_capacity(captures);
    for i in 0..captures {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(format!(r#"{{"sequence":{i}}}"#))
            .send()
            .await?;
        let at = Instant::now();
        if !response.status().is_success() {
            return Err(format!("capture answered {}", response.status()).into());
        }
        let id = response
            .headers()
            .get("x-request-id")
            .ok_or("no X-Request-Id")?
            .to_str()?
            .to_owned();
        answered.insert(id, at);
        // A sender pace of ~200 captures/s, so each delivery is measured
        // on its own rather than queued behind the previous one.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let expected = viewers * captures;
    let mut delays = Vec::with_capacity(expected);
    let mut early = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while delays.len() < expected {
        let Ok(Some((_, id, at))) = tokio::time::timeout_at(deadline, arrived.recv()).await else {
            break;
        };
        let Some(answer) = answered.get(&id) else {
            continue;
        };
        // The hub publishes right after commit, before the answer is sent:
        // a viewer may see the message before the sender sees its 2xx.
        match at.checked_duration_since(*answer) {
            Some(d) => delays.push(d),
            None => {
                early += 1;
                delays.push(Duration::ZERO);
            }
        }
    }
    delays.sort();
    let at = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    println!(
        "live: viewers={viewers} on {viewers_base} captures={captures} to {base} \
         deliveries={}/{expected} \
         before_2xx={early} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        delays.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        delays.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    Ok(())
}
