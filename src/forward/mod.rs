//! `hookscope forward`: a client that relays every request a bin captures
//! to a local app, e.g. `http://localhost:3000/hooks`.
//!
//! It follows the bin's live feed (`GET /live/{bin}` websocket) and re-sends
//! each request to the target: same method, the sub-path below the bin
//! appended to the target's path, the raw query, the header fields in order
//! with their case and duplicates (hop-by-hop fields dropped, `Host` set to
//! the target's), and the exact body bytes. When the server goes away it
//! reconnects with backoff and resumes from its [`Cursor`], so nothing is
//! skipped or sent twice; a target that is down gets `--retries` attempts
//! with backoff, then the failure is reported and forwarding goes on.

mod cursor;
mod feed;
mod target;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, Uri};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::exchange::{self, is_hop_by_hop, Answer, Endpoint, ExchangeError};
use crate::http1;
use crate::model::{alias_problem, sub_path_of, Header, Timestamp};
pub use cursor::{Cursor, REORDER_WINDOW};
use feed::{build_request, FeedMessage, FeedRequest};
pub use target::Target;

/// Settings of `hookscope forward`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForwardArgs {
    /// The bin's capture URL, e.g. `https://hooks.example.com/{bin}`.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Where each request is re-sent, e.g. `http://localhost:3000/hooks`;
    /// the path below the bin is appended to this path.
    #[arg(long, value_name = "URL")]
    pub target: String,

    /// Print only failures.
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,

    /// Print one JSON object per request instead of a line of text.
    #[arg(long)]
    pub json: bool,

    /// Extra attempts when the target cannot be reached (with backoff).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Re-send these stored requests (by id), then exit. Each outcome is
    /// also recorded on the server, in the request's resends.
    #[arg(long, value_name = "ID", num_args = 1.., conflicts_with = "since")]
    pub replay: Vec<Uuid>,

    /// Also re-send the stored requests received since TIME (RFC 3339, e.g.
    /// `2026-11-23T13:00:00Z`, or an age such as `30s`, `15m`, `2h`, `1d`),
    /// then keep forwarding new ones.
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<Timestamp>,

    /// API key for servers that require one (sent as `Api-Key`).
    #[arg(long, env = "HOOKSCOPE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// The bin's password, if it has one (sent as `X-Bin-Password`).
    #[arg(long, env = "HOOKSCOPE_BIN_PASSWORD", hide_env_values = true)]
    pub bin_password: Option<String>,

    /// Seconds to wait for the target's answer to one request.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,

    /// Send the target's answer back to the server, so the original sender
    /// receives the local app's status, headers and body (when the server
    /// waits for it; see its `--listen-wait-secs`). webhook.site's CLI
    /// calls this listening, hence the flag's name.
    #[arg(long = "listen", conflicts_with = "replay")]
    pub relay_answers: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{0}")]
    BadUrl(String),
    #[error("the server has no bin {0}")]
    UnknownBin(String),
    #[error("the server refused the API key (status {0}); pass --api-key or HOOKSCOPE_API_KEY")]
    Unauthorized(u16),
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("no stored request with id {}", join(.0))]
    MissingRequests(Vec<Uuid>),
}

fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What happened to one request; printed as a line or as JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Outcome {
    /// The captured request's id.
    pub id: Uuid,
    /// When hookscope received it (RFC 3339, UTC).
    pub received_at: String,
    pub method: String,
    /// The URL it was sent to.
    pub target: String,
    /// The target's status; `None` when it could not be delivered.
    pub status: Option<u16>,
    /// Time of the last attempt, in milliseconds.
    pub latency_ms: u64,
    pub attempts: u32,
    pub error: Option<String>,
}

impl Outcome {
    /// The line printed in text mode.
    pub fn line(&self) -> String {
        let path = self
            .target
            .splitn(4, '/')
            .nth(3)
            .map_or_else(|| "/".to_owned(), |p| format!("/{p}"));
        match (self.status, &self.error) {
            (Some(status), _) => format!(
                "{} {} {path} -> {status} ({} ms)",
                self.received_at, self.method, self.latency_ms
            ),
            (None, error) => format!(
                "{} {} {path} -> failed after {} attempt{}: {}",
                self.received_at,
                self.method,
                self.attempts,
                if self.attempts == 1 { "" } else { "s" },
                error.as_deref().unwrap_or("unknown error")
            ),
        }
    }
}

/// `hookscope forward`: prints each outcome and runs until Ctrl-C (or,
/// with `--replay`, until the listed requests are sent).
pub async fn run(args: ForwardArgs) -> Result<(), ForwardError> {
    let shutdown = CancellationToken::new();
    let on_ctrl_c = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let (quiet, json) = (args.quiet, args.json);
    forward(args, shutdown, move |outcome: Outcome| {
        if json {
            println!(
                "{}",
                serde_json::to_string(&outcome).expect("an outcome always serializes")
            );
        } else if !quiet || outcome.status.is_none() {
            println!("{}", outcome.line());
        }
    })
    .await
}

/// Runs a forwarder until `shutdown` is cancelled (or, with `--replay`, the
/// requests are sent), handing each [`Outcome`] to `report`. Fails only on
/// problems retrying cannot fix: a bad URL, an unknown bin, a refused key.
pub async fn forward(
    args: ForwardArgs,
    shutdown: CancellationToken,
    report: impl FnMut(Outcome) + Send,
) -> Result<(), ForwardError> {
    let forwarder = Forwarder {
        server: BinUrl::parse(&args.url)?,
        target: Target::parse(&args.target)?,
        timeout: Duration::from_secs(args.timeout.max(1)),
        args,
        shutdown,
        report,
    };
    if forwarder.args.replay.is_empty() {
        forwarder.follow().await
    } else {
        forwarder.replay().await
    }
}

/// First delay between reconnects and between attempts on the target.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest delay between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The server pings every 30 s; silence for longer means it is gone.
const IDLE_LIMIT: Duration = Duration::from_secs(75);
/// How long `--replay` waits for a stored request to come back.
const REPLAY_WAIT: Duration = Duration::from_secs(5);
/// Most answer body bytes a replay reports to the server (it keeps no more).
const REPLAY_KEPT_BYTES: usize = 64 * 1024;
/// How long the websocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Forwarder<R> {
    args: ForwardArgs,
    server: BinUrl,
    target: Target,
    timeout: Duration,
    shutdown: CancellationToken,
    report: R,
}

/// Why a connection attempt failed: worth retrying or not.
enum ConnectError {
    Fatal(ForwardError),
    Retry(String),
}

impl<R: FnMut(Outcome) + Send> Forwarder<R> {
    /// Follows the live feed for good, reconnecting whenever it drops.
    async fn follow(mut self) -> Result<(), ForwardError> {
        let since = self.args.since;
        let mut cursor = Cursor::new(
            since.map(|t| cursor::before_millis(start_millis(t))),
            since.map(Timestamp::as_micros),
        );
        let mut backoff = FIRST_BACKOFF;
        let mut connected_once = false;
        loop {
            let (mut socket, server_millis) = match self.connect(cursor.after()).await {
                Ok(connected) => connected,
                Err(ConnectError::Fatal(e)) => return Err(e),
                Err(ConnectError::Retry(why)) => {
                    tracing::warn!(
                        "cannot reach {}: {why}; retrying in {backoff:?}",
                        self.server
                    );
                    if self.pause(backoff).await {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = FIRST_BACKOFF;
            cursor.start_at(server_millis);
            if connected_once {
                tracing::info!("reconnected to {}", self.server);
            } else {
                tracing::info!("forwarding {} to {}", self.server, self.args.target);
                connected_once = true;
            }
            if self.pump(&mut socket, &mut cursor).await {
                let _ = socket.close(None).await;
                return Ok(());
            }
            tracing::warn!("lost the connection to {}; reconnecting", self.server);
        }
    }

    /// Forwards what arrives on one connection until it ends; `true` when
    /// the forwarder is shutting down.
    async fn pump(&mut self, socket: &mut Socket, cursor: &mut Cursor) -> bool {
        loop {
            let next = tokio::select! {
                () = self.shutdown.cancelled() => return true,
                next = tokio::time::timeout(IDLE_LIMIT, socket.next()) => next,
            };
            let text = match next {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => return false,
                Ok(Some(Ok(_))) => continue,
            };
            match serde_json::from_str::<FeedMessage>(&text) {
                Ok(FeedMessage::Request { request: req }) => {
                    if !cursor.wants(req.uuid, req.sorting) {
                        continue;
                    }
                    let (outcome, answer) = tokio::select! {
                        () = self.shutdown.cancelled() => return true,
                        delivered = self.deliver(&req) => delivered,
                    };
                    cursor.handled(req.uuid);
                    (self.report)(outcome);
                    if let (true, Some(answer)) = (self.args.relay_answers, answer) {
                        self.send_answer(&req, &answer).await;
                    }
                }
                // Messages were dropped for us: resume from the cursor.
                Ok(FeedMessage::Lagged) => return false,
                Ok(FeedMessage::Other) => {}
                Err(e) => tracing::warn!(error = %e, "ignoring a message the server sent"),
            }
        }
    }

    /// Re-sends the `--replay` requests, in id order.
    async fn replay(mut self) -> Result<(), ForwardError> {
        let mut ids = self.args.replay.clone();
        ids.sort_unstable();
        ids.dedup();
        let mut missing = Vec::new();
        for id in ids {
            let mut socket = self.connect_for_replay(id).await?;
            let found = tokio::time::timeout(REPLAY_WAIT, first_request(&mut socket)).await;
            let _ = socket.close(None).await;
            match found {
                Ok(Some(req)) if req.uuid == id => {
                    let (outcome, answer) = self.deliver(&req).await;
                    self.record_replay(&req, &outcome, answer.as_ref()).await;
                    (self.report)(outcome);
                }
                _ => missing.push(id),
            }
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ForwardError::MissingRequests(missing))
        }
    }

    async fn connect_for_replay(&self, id: Uuid) -> Result<Socket, ForwardError> {
        let mut backoff = FIRST_BACKOFF;
        for _ in 0..=self.args.retries {
            match self.connect(Some(cursor::just_before(id))).await {
                Ok((socket, _)) => return Ok(socket),
                Err(ConnectError::Fatal(e)) => return Err(e),
                Err(ConnectError::Retry(why)) => {
                    tracing::warn!("cannot reach {}: {why}", self.server);
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        Err(ForwardError::Unreachable(self.server.to_string()))
    }

    /// The headers that prove the API key and the bin's password.
    fn credentials(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("api-key", &self.args.api_key),
            ("x-bin-password", &self.args.bin_password),
        ]
        .into_iter()
        .filter_map(|(name, secret)| Some((name, secret.as_deref()?)))
    }

    /// Opens the live feed after `after`; also returns the server's clock
    /// (from its `Date` header) in milliseconds since the epoch.
    async fn connect(&self, after: Option<Uuid>) -> Result<(Socket, u64), ConnectError> {
        let url = self.server.live_url(after, self.args.relay_answers);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Fatal(ForwardError::BadUrl(format!("{url}: {e}"))))?;
        for (name, secret) in self.credentials() {
            let value = HeaderValue::from_str(secret).map_err(|_| {
                ConnectError::Fatal(ForwardError::BadUrl(format!(
                    "the {name} value is not a valid header"
                )))
            })?;
            request.headers_mut().insert(name, value);
        }
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
        match connected {
            Ok(Ok((socket, response))) => {
                let server_millis = response
                    .headers()
                    .get("date")
                    .and_then(|d| d.to_str().ok())
                    .and_then(|d| httpdate::parse_http_date(d).ok())
                    .unwrap_or_else(SystemTime::now);
                Ok((socket, unix_millis(server_millis)))
            }
            Ok(Err(tungstenite::Error::Http(response))) => match response.status().as_u16() {
                404 => Err(ConnectError::Fatal(ForwardError::UnknownBin(
                    self.server.bin.clone(),
                ))),
                status @ (401 | 403) => {
                    Err(ConnectError::Fatal(ForwardError::Unauthorized(status)))
                }
                status => Err(ConnectError::Retry(format!("status {status}"))),
            },
            Ok(Err(tungstenite::Error::Url(e))) => Err(ConnectError::Fatal(ForwardError::BadUrl(
                format!("{url}: {e}"),
            ))),
            Ok(Err(e)) => Err(ConnectError::Retry(e.to_string())),
            Err(_) => Err(ConnectError::Retry("the handshake timed out".into())),
        }
    }

    /// Sleeps `delay` unless shutting down; `true` when shutting down.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => true,
            () = tokio::time::sleep(delay) => false,
        }
    }

    /// Listen mode: hands the target's answer to the capture waiting for it
    /// (`PUT /token/{bin}/request/{id}/response`).
    async fn send_answer(&self, req: &FeedRequest, answer: &Answer) {
        let id = req.uuid;
        let Some(bin) = req
            .token_id
            .or_else(|| Uuid::try_parse(&self.server.bin).ok())
        else {
            tracing::warn!("the server did not say which bin {id} is in; its answer is not sent");
            return;
        };
        let mut headers = serde_json::Map::new();
        for Header { name, value } in &answer.headers {
            let lower = name.to_ascii_lowercase();
            if is_hop_by_hop(&lower) || lower == "content-length" {
                continue;
            }
            let value = serde_json::Value::String(String::from_utf8_lossy(value).into_owned());
            match headers.get_mut(name) {
                None => {
                    headers.insert(name.clone(), value);
                }
                Some(serde_json::Value::Array(values)) => values.push(value),
                Some(first) => *first = serde_json::Value::Array(vec![first.take(), value]),
            }
        }
        let body = serde_json::json!({
            "status": answer.status,
            "content": base64::engine::general_purpose::STANDARD.encode(&answer.body),
            "headers": headers,
        })
        .to_string();
        let path = format!("{}/token/{bin}/request/{id}/response", self.server.prefix);
        match self.send_json("PUT", &path, &body).await {
            Ok(done) if done.status == 200 => {}
            // The capture stopped waiting (timed out), or it never waited
            // (a request caught up after a reconnect).
            Ok(done) if done.status == 404 => {
                tracing::debug!("no capture waits for the answer to {id}");
            }
            Ok(done) => tracing::warn!(
                "the server did not take the answer for {id}: status {}",
                done.status
            ),
            Err(e) => tracing::warn!("cannot send the answer for {id}: {e}"),
        }
    }

    /// Sends a JSON body to the server's token API, with the credentials.
    async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<Answer, ExchangeError> {
        let mut wire = Vec::with_capacity(256 + body.len());
        http1::write_request_line(&mut wire, method, path);
        http1::write_field(&mut wire, "Host", self.server.authority.as_bytes());
        http1::write_field(&mut wire, "Content-Type", b"application/json");
        http1::write_field(
            &mut wire,
            "Content-Length",
            body.len().to_string().as_bytes(),
        );
        http1::write_field(&mut wire, "Connection", b"close");
        for (name, secret) in self.credentials() {
            http1::write_field(&mut wire, name, secret.as_bytes());
        }
        http1::end_head(&mut wire);
        wire.extend_from_slice(body.as_bytes());
        exchange::exchange(&self.server.endpoint(), &wire, false, self.timeout).await
    }

    /// `--replay`: records what the target answered as one of the request's
    /// resends on the server (`POST /token/{bin}/request/{id}/resends`), so
    /// the dashboard and the API list it.
    async fn record_replay(&self, req: &FeedRequest, outcome: &Outcome, answer: Option<&Answer>) {
        let id = req.uuid;
        let Some(bin) = req
            .token_id
            .or_else(|| Uuid::try_parse(&self.server.bin).ok())
        else {
            tracing::warn!(
                "the server did not say which bin {id} is in; the replay is not recorded"
            );
            return;
        };
        let (headers, kept, truncated) = match answer {
            Some(answer) => {
                let kept = answer.body.len().min(REPLAY_KEPT_BYTES);
                (
                    Header::pairs_lossy(&answer.headers),
                    &answer.body[..kept],
                    kept < answer.body.len(),
                )
            }
            None => (Vec::new(), &[][..], false),
        };
        let body = serde_json::json!({
            "target": outcome.target,
            "status": outcome.status,
            "headers": headers,
            "content": base64::engine::general_purpose::STANDARD.encode(kept),
            "truncated": truncated,
            "duration_ms": outcome.latency_ms,
            "error": outcome.error,
        })
        .to_string();
        let path = format!("{}/token/{bin}/request/{id}/resends", self.server.prefix);
        match self.send_json("POST", &path, &body).await {
            Ok(done) if done.status == 201 => {}
            Ok(done) => tracing::warn!(
                "the server did not record the replay of {id}: status {}",
                done.status
            ),
            Err(e) => tracing::warn!("cannot record the replay of {id}: {e}"),
        }
    }

    /// Sends one request to the target, retrying while it cannot be reached;
    /// returns the outcome and the target's answer.
    async fn deliver(&self, req: &FeedRequest) -> (Outcome, Option<Answer>) {
        let path_and_query = self
            .target
            .path_and_query(sub_path_of(&req.path), req.query_string.as_deref());
        let mut outcome = Outcome {
            id: req.uuid,
            received_at: Timestamp(req.sorting).to_rfc3339(),
            method: req.method.clone(),
            target: self.target.url_for(&path_and_query),
            status: None,
            latency_ms: 0,
            attempts: 0,
            error: None,
        };
        let wire = match build_request(req, &self.target, &path_and_query) {
            Ok(wire) => wire,
            Err(why) => {
                outcome.error = Some(why);
                return (outcome, None);
            }
        };
        let head = req.method.eq_ignore_ascii_case("HEAD");
        let mut delay = FIRST_BACKOFF;
        loop {
            outcome.attempts += 1;
            let started = Instant::now();
            let result = exchange::exchange(&self.target.endpoint, &wire, head, self.timeout).await;
            outcome.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match result {
                Ok(answer) => {
                    outcome.status = Some(answer.status);
                    return (outcome, Some(answer));
                }
                Err(e) if e.is_retryable() && outcome.attempts <= self.args.retries => {
                    tracing::debug!(error = %e, "target unreachable; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    outcome.error = Some(e.to_string());
                    return (outcome, None);
                }
            }
        }
    }
}

/// Reads messages until the first request (or the end of the connection).
async fn first_request(socket: &mut Socket) -> Option<FeedRequest> {
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message.ok()? {
            if let Ok(FeedMessage::Request { request }) = serde_json::from_str(&text) {
                return Some(*request);
            }
        }
    }
    None
}

/// A bin's capture URL split into the server's base and the bin's id or
/// alias.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BinUrl {
    /// `ws` or `wss`.
    ws_scheme: &'static str,
    authority: String,
    /// Path prefix before the bin (`` when hookscope is at the root).
    prefix: String,
    /// The bin's id, or its alias.
    bin: String,
}

impl BinUrl {
    fn parse(url: &str) -> Result<Self, ForwardError> {
        let bad = |why: &str| ForwardError::BadUrl(format!("--url {url}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let ws_scheme = match uri.scheme_str() {
            Some("http") => "ws",
            Some("https") => "wss",
            _ => return Err(bad("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.to_string();
        let path = uri.path().trim_end_matches('/');
        let (prefix, last) = path.rsplit_once('/').unwrap_or(("", path));
        if Uuid::try_parse(last).is_err() && alias_problem(last).is_some() {
            return Err(bad("must end with the bin's id or alias"));
        }
        Ok(Self {
            ws_scheme,
            authority,
            prefix: prefix.to_owned(),
            bin: last.to_owned(),
        })
    }

    fn live_url(&self, after: Option<Uuid>, relay_answers: bool) -> String {
        let mut url = format!(
            "{}://{}{}/live/{}",
            self.ws_scheme, self.authority, self.prefix, self.bin
        );
        let mut params = Vec::new();
        if let Some(after) = after {
            params.push(format!("after={after}"));
        }
        if relay_answers {
            params.push("listen=true".to_owned());
        }
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        url
    }

    /// Where to reach the server over HTTP(S).
    fn endpoint(&self) -> Endpoint {
        let (host, port) = match self.authority.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                (host, port.parse().ok())
            }
            _ => (self.authority.as_str(), None),
        };
        Endpoint::new(self.ws_scheme == "wss", host, port)
    }
}

impl std::fmt::Display for BinUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.ws_scheme == "wss" {
            "https"
        } else {
            "http"
        };
        write!(
            f,
            "{scheme}://{}{}/{}",
            self.authority, self.prefix, self.bin
        )
    }
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where a `--since` backfill starts: a second early, because ids carry the
/// commit time and that can trail the received time; the cursor then skips
/// what was received before `since`.
fn start_millis(since: Timestamp) -> u64 {
    u64::try_from(since.as_millis().saturating_sub(1_000)).unwrap_or(0)
}

/// Parses `--since`: RFC 3339, or an age like `90s`, `15m`, `2h`, `1d`.
pub fn parse_since(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        let micros = at.unix_timestamp_nanos() / 1_000;
        return i64::try_from(micros)
            .map(Timestamp)
            .map_err(|e| e.to_string());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: add a unit (s, m, h, d) or use RFC 3339"))?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is neither RFC 3339 nor an age like 15m"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ))
        }
    };
    let age = number
        .checked_mul(seconds * 1_000_000)
        .ok_or_else(|| format!("{text:?} is too long ago"))?;
    Ok(Timestamp(Timestamp::now().as_micros().saturating_sub(age)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_urls_give_the_live_feed_url() {
        let bin = Uuid::new_v4();
        let url = BinUrl::parse(&format!("https://h.example/base/{bin}/")).expect("url");
        assert_eq!(
            url.live_url(None, false),
            format!("wss://h.example/base/live/{bin}")
        );
        assert_eq!(url.endpoint().addr, "h.example:443");
        assert_eq!(url.endpoint().tls.as_deref(), Some("h.example"));
        assert_eq!(url.to_string(), format!("https://h.example/base/{bin}"));
        let url = BinUrl::parse(&format!("http://127.0.0.1:8080/{bin}")).expect("url");
        let after = Uuid::nil();
        assert_eq!(
            url.live_url(Some(after), true),
            format!("ws://127.0.0.1:8080/live/{bin}?after={after}&listen=true")
        );
        assert_eq!(url.endpoint().addr, "127.0.0.1:8080");
        assert_eq!(url.endpoint().tls, None);
        let url = BinUrl::parse("http://127.0.0.1:8080/my-hook/").expect("an alias url");
        assert_eq!(
            url.live_url(None, false),
            "ws://127.0.0.1:8080/live/my-hook"
        );
        assert!(BinUrl::parse("http://h/not a bin").is_err());
        assert!(BinUrl::parse("http://h/view").is_err());
    }

    #[test]
    fn since_takes_rfc3339_or_an_age() {
        let at = parse_since("2026-11-23T13:00:00Z").expect("rfc3339");
        assert_eq!(at.to_rfc3339(), "2026-11-23T13:00:00.000Z");
        let age = parse_since("15m").expect("age");
        let expected = Timestamp::now().as_micros() - 15 * 60 * 1_000_000;
        assert!((age.as_micros() - expected).abs() < 5_000_000);
        assert!(parse_since("15").is_err() && parse_since("3w").is_err());
    }
}
