//! `hookscope wait`: waits for a request matching a query in a bin, for
//! a test pipeline that triggers a webhook and asserts on what it sent.
//!
//! It long-polls `GET /token/{bin}/requests/wait` (see `api::wait`) after a
//! cursor: `--after`, or else the bin's newest request when it starts
//! (printed on stderr, so a restarted job can pass it as `--after` and
//! lose nothing). A dropped connection or a server restart is retried
//! with the same cursor until the overall `--timeout`; a wait longer than
//! the server allows in one poll is several polls. The request is printed
//! as a readable summary, or as the API's JSON with `--json`.
//!
//! Exit status: 0 with the request; 1 when none matched in time or
//! `--expect-signature` found no valid signature; 2 for anything else (a
//! bad URL or query, a refused key, an unknown bin).

use std::time::Duration;

use axum::http::Uri;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use crate::api::{WAIT_DEFAULT_SECS, WAIT_MAX_SECS};
use crate::exchange::{exchange, Answer};
use crate::forward::Target;
use crate::http1;

/// Settings of `hookscope wait`.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// The bin's capture URL, e.g. `https://hooks.example.com/{bin id}`.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// API key for servers that require one (sent as `Api-Key`).
    #[arg(long, env = "HOOKSCOPE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// The bin's password, if it has one (sent as `X-Bin-Password`).
    #[arg(long, env = "HOOKSCOPE_BIN_PASSWORD", hide_env_values = true)]
    pub bin_password: Option<String>,

    /// Which request to wait for, in the search language (e.g.
    /// `method:POST headers.x-github-event:push`); none: any request.
    #[arg(long, value_name = "QUERY", default_value = "")]
    pub query: String,

    /// Seconds to wait in all, across reconnects.
    #[arg(long, value_name = "SECS", default_value_t = WAIT_DEFAULT_SECS)]
    pub timeout: u64,

    /// Only a request committed after this one counts (even one stored
    /// already); without it, only requests arriving from now on.
    #[arg(long, value_name = "REQUEST_ID")]
    pub after: Option<Uuid>,

    /// Print the request as the API's JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,

    /// Fail (exit 1) unless the request's signature was verified valid.
    #[arg(long)]
    pub expect_signature: bool,
}

/// Why `hookscope wait` did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// No request matched in time.
    #[error("{0}")]
    TimedOut(String),
    /// A request matched, but `--expect-signature` found no valid
    /// signature on it (the request is printed all the same).
    #[error("{reason}")]
    Signature { printed: String, reason: String },
    /// Anything else: a bad URL or query, a refused key, an unknown bin,
    /// a server that never answered.
    #[error("{0}")]
    Failed(String),
}

impl WaitError {
    /// The process's exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::TimedOut(_) | Self::Signature { .. } => 1,
            Self::Failed(_) => 2,
        }
    }
}

/// First and longest delays between attempts after a dropped connection.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How much longer than the poll it asked for the client waits for an
/// answer before taking the connection for lost.
const ANSWER_GRACE: Duration = Duration::from_secs(15);

/// `hookscope wait`: the text to print on stdout, or why it failed.
pub async fn run(args: WaitArgs) -> Result<String, WaitError> {
    let server = Server::parse(&args)?;
    let cursor = match args.after {
        Some(after) => after,
        None => {
            let deadline = Instant::now() + Duration::from_secs(args.timeout);
            server.newest(deadline).await?.unwrap_or(Uuid::nil())
        }
    };
    tracing::info!(
        "waiting up to {} s for a request after {cursor} (to resume: --after {cursor})",
        args.timeout
    );
    let found = server.wait(&args.query, cursor, args.timeout).await?;
    let printed = if args.json {
        format!("{found}\n")
    } else {
        summary(&found)
    };
    if args.expect_signature {
        if let Err(reason) = signature_check(&found) {
            return Err(WaitError::Signature { printed, reason });
        }
    }
    Ok(printed)
}

/// Where the bin's token API is, and how to ask it.
struct Server {
    target: Target,
    /// Path prefix before the bin (`` when hookscope is at the root).
    prefix: String,
    bin: Uuid,
    credentials: Vec<(&'static str, String)>,
}

/// What one attempt at an API call came to.
enum Attempt {
    Answered(Answer),
    /// Worth another try with the same cursor: the connection dropped, or
    /// the server (or a proxy before it) is restarting.
    Retry(String),
}

impl Server {
    fn parse(args: &WaitArgs) -> Result<Self, WaitError> {
        let url = &args.url;
        let bad = |why: &str| WaitError::Failed(format!("--url {url}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad("must start with http:// or https://"));
        }
        let path = uri.path().trim_end_matches('/');
        let (prefix, last) = path.rsplit_once('/').unwrap_or(("", path));
        let bin = Uuid::try_parse(last).map_err(|_| {
            bad("must end with the bin's id (the token API does not take an alias)")
        })?;
        let target = Target::parse(url).map_err(|e| WaitError::Failed(e.to_string()))?;
        let credentials = [
            ("Api-Key", &args.api_key),
            ("X-Bin-Password", &args.bin_password),
        ]
        .into_iter()
        .filter_map(|(name, secret)| Some((name, secret.clone()?)))
        .collect();
        Ok(Self {
            target,
            prefix: prefix.to_owned(),
            bin,
            credentials,
        })
    }

    /// The id of the bin's newest request; `None` when it is empty.
    async fn newest(&self, deadline: Instant) -> Result<Option<Uuid>, WaitError> {
        let path = format!("{}/token/{}/request/latest", self.prefix, self.bin);
        let answer = self.call(&path, Duration::ZERO, deadline).await?;
        match answer.status {
            200 => {
                let latest: Value = json_of(&answer)?;
                let id = latest.get("uuid").and_then(Value::as_str);
                id.and_then(|id| Uuid::try_parse(id).ok())
                    .map(Some)
                    .ok_or_else(|| {
                        WaitError::Failed("the server's latest request has no id".into())
                    })
            }
            // An empty bin; an unknown one is refused by the wait itself.
            404 => Ok(None),
            _ => Err(refusal(&answer)),
        }
    }

    /// Polls until a request matching `query` after `cursor` comes, or
    /// `total_secs` have passed.
    async fn wait(&self, query: &str, cursor: Uuid, total_secs: u64) -> Result<Value, WaitError> {
        let deadline = Instant::now() + Duration::from_secs(total_secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Whole seconds, rounded up, within what the server allows.
            let secs = (left.as_millis().div_ceil(1000) as u64).min(WAIT_MAX_SECS);
            let params = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", query)
                .append_pair("timeout", &secs.to_string())
                .append_pair("after", &cursor.to_string())
                .finish();
            let path = format!("{}/token/{}/requests/wait?{params}", self.prefix, self.bin);
            let answer = self
                .call(&path, Duration::from_secs(secs), deadline)
                .await?;
            match answer.status {
                200 => return json_of(&answer),
                408 if Instant::now() < deadline => continue,
                408 => {
                    let what = if query.trim().is_empty() {
                        String::from("no request arrived")
                    } else {
                        format!("no request matched {:?}", query.trim())
                    };
                    return Err(WaitError::TimedOut(format!("{what} within {total_secs} s")));
                }
                _ => return Err(refusal(&answer)),
            }
        }
    }

    /// GETs `path`, retrying (with the same request) while the server
    /// cannot be reached or is restarting, until `deadline`; `poll` is how
    /// long the server may take on purpose.
    async fn call(
        &self,
        path: &str,
        poll: Duration,
        deadline: Instant,
    ) -> Result<Answer, WaitError> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let why = match self.attempt(path, poll).await {
                Attempt::Answered(answer) => return Ok(answer),
                Attempt::Retry(why) => why,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitError::Failed(format!(
                    "cannot reach {}: {why}",
                    self.target.authority
                )));
            }
            tracing::warn!(
                "lost {}: {why}; asking again in {backoff:?}",
                self.target.authority
            );
            tokio::time::sleep(backoff.min(left)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(&self, path: &str, poll: Duration) -> Attempt {
        let mut wire = Vec::with_capacity(256 + path.len());
        http1::write_request_line(&mut wire, "GET", path);
        http1::write_field(&mut wire, "Host", self.target.authority.as_bytes());
        http1::write_field(&mut wire, "Accept", b"application/json");
        http1::write_field(&mut wire, "Connection", b"close");
        for (name, secret) in &self.credentials {
            http1::write_field(&mut wire, name, secret.as_bytes());
        }
        http1::end_head(&mut wire);
        match exchange(&self.target.endpoint, &wire, false, poll + ANSWER_GRACE).await {
            // A restarting server, or a proxy whose upstream is away.
            Ok(answer) if matches!(answer.status, 502..=504) => {
                Attempt::Retry(format!("status {}: {}", answer.status, reason_of(&answer)))
            }
            Ok(answer) => Attempt::Answered(answer),
            Err(e) => Attempt::Retry(e.to_string()),
        }
    }
}

fn json_of(answer: &Answer) -> Result<Value, WaitError> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        WaitError::Failed(format!(
            "the server's answer (status {}) is not JSON: {e}",
            answer.status
        ))
    })
}

/// The one-line reason of an error answer: the API's `message`, else its
/// text.
fn reason_of(answer: &Answer) -> String {
    let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
    match json
        .as_ref()
        .and_then(|json| json.get("message"))
        .and_then(Value::as_str)
    {
        Some(message) => message.to_owned(),
        None => one_line(&String::from_utf8_lossy(&answer.body), 200),
    }
}

fn refusal(answer: &Answer) -> WaitError {
    WaitError::Failed(format!(
        "the server refused (status {}): {}",
        answer.status,
        reason_of(answer)
    ))
}

/// Passes unless the request JSON says its signature is valid.
fn signature_check(request: &Value) -> Result<(), String> {
    match request.get("signature") {
        None | Some(Value::Null) => Err(String::from(
            "no signature verifier is configured for this bin",
        )),
        Some(signature) if signature.get("valid") == Some(&Value::Bool(true)) => Ok(()),
        Some(signature) => {
            let reason = signature
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            Err(format!(
                "the signature is not valid: {}",
                one_line(reason, 300)
            ))
        }
    }
}

/// Headers shown in a summary: what says what the request is, who sent it
/// and how it is signed.
fn is_key_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "content-type" | "content-length" | "user-agent"
    ) || name.starts_with("x-")
        || name.starts_with("webhook-")
        || name.ends_with("-signature")
}

/// Body characters shown in a summary.
const BODY_PREVIEW_CHARS: usize = 1000;
/// Header lines shown in a summary.
const MAX_SUMMARY_HEADERS: usize = 30;

/// A readable summary of a request JSON: its line, key headers, its
/// signature check and the start of its body. Captured text may hold
/// terminal escapes: control characters are shown escaped.
fn summary(request: &Value) -> String {
    let text = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let mut target = text("path").to_owned();
    if let Some(query) = request.get("query_string").and_then(Value::as_str) {
        target.push('?');
        target.push_str(query);
    }
    out.push_str(&format!(
        "{} {}\n",
        one_line(text("method"), 40),
        one_line(&target, 2000)
    ));
    out.push_str(&format!(
        "request {} received {} from {}\n",
        text("uuid"),
        text("created_at"),
        one_line(text("ip"), 100)
    ));
    let headers = request.get("raw_headers").and_then(Value::as_array);
    let pairs = headers.into_iter().flatten().filter_map(|pair| {
        let name = pair.get(0)?.as_str()?;
        let value = pair.get(1)?.as_str()?;
        is_key_header(name).then_some((name, value))
    });
    for (name, value) in pairs.take(MAX_SUMMARY_HEADERS) {
        out.push_str(&format!(
            "{}: {}\n",
            one_line(name, 200),
            one_line(value, 500)
        ));
    }
    match request.get("signature") {
        Some(Value::Null) | None => {}
        Some(signature) => {
            let provider = signature
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let verdict = if signature.get("valid") == Some(&Value::Bool(true)) {
                String::from("valid")
            } else {
                let reason = signature
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                format!("INVALID: {}", one_line(reason, 300))
            };
            out.push_str(&format!(
                "signature ({}): {verdict}\n",
                one_line(provider, 40)
            ));
        }
    }
    let size = request.get("size").and_then(Value::as_u64).unwrap_or(0);
    if size == 0 {
        out.push_str("(no body)\n");
    } else if text("content_encoding") == "base64" {
        out.push_str(&format!("(binary body, {size} bytes)\n"));
    } else {
        out.push('\n');
        let content = text("content");
        let shown: String = content.chars().take(BODY_PREVIEW_CHARS).collect();
        out.push_str(&escape_controls(&shown));
        if shown.len() < content.len() {
            out.push_str(&format!("\n… ({size} bytes in all)"));
        }
        out.push('\n');
    }
    out
}

/// `text` on one line, at most `max` characters, control characters
/// escaped.
fn one_line(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    let mut line: String = cut
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if cut.len() < text.len() {
        line.push('…');
    }
    line
}

/// Control characters escaped, but for line breaks and tabs: a body may
/// be shown as the lines it has, but never steer the terminal.
fn escape_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_escape_what_could_steer_a_terminal() {
        let request = serde_json::json!({
            "method": "POST",
            "path": "/b/\u{1b}[2Jx",
            "uuid": "u",
            "raw_headers": [["X-Evil", "a\u{1b}]0;title\u{7}"], ["Cookie", "hidden"]],
            "size": 9,
            "content_encoding": "utf8",
            "content": "line\n\u{1b}[31mred",
        });
        let text = summary(&request);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("X-Evil: a\\u{1b}]0;title\\u{7}"), "{text}");
        assert!(!text.contains("Cookie"), "{text}");
        assert!(text.contains("line\n\\u{1b}[31mred"), "{text}");
    }

    #[test]
    fn a_missing_or_invalid_signature_fails_the_check() {
        assert!(signature_check(&serde_json::json!({})).is_err());
        assert!(signature_check(&serde_json::json!({"signature": null})).is_err());
        let bad = serde_json::json!({"signature": {"provider": "github", "valid": false, "reason": "header missing"}});
        assert_eq!(
            signature_check(&bad),
            Err("the signature is not valid: header missing".into())
        );
        let good =
            serde_json::json!({"signature": {"provider": "github", "valid": true, "reason": ""}});
        assert_eq!(signature_check(&good), Ok(()));
    }
}
