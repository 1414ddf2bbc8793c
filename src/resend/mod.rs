//! Resending: a stored request sent again, exact bytes, to a URL of the
//! user's choosing, and what came back ([`Resend`], which the caller
//! stores).
//!
//! What is sent: the stored method; the target URL's own path and query,
//! as given (the captured sub-path is not appended: the user typed the
//! whole URL, as on webhook.site); the stored header fields in order with
//! their case and duplicates, after the user's overrides, with `Host` and
//! `Content-Length` following the target and the body, and hop-by-hop
//! fields dropped ([`exchange::request_wire`]); the exact body.
//!
//! Never an open proxy: resending is off unless the server has an API key
//! or a `--resend-allow` list ([`Policy`]); every address a target
//! resolves to is checked before connecting, and the connection goes to
//! those addresses only ([`target`]). Redirects are not followed unless
//! asked; then every hop is checked the same way, at most
//! [`MAX_REDIRECTS`] of them.

mod target;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::exchange::{self, BodyLimit, ExchangeError, Received};
use crate::http1;
use crate::model::{CapturedRequest, Header};
use crate::store::{Resend, ResendOrigin, KEPT_ANSWER_BYTES};
pub use target::{never_a_target, Policy, Resolver, SystemResolver, TargetUrl};

/// Longest wait for one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a whole resend takes, redirects included.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Most redirects followed when asked to.
pub const MAX_REDIRECTS: usize = 5;

/// Header fields that follow the target and the body, never the user.
const DERIVED: &[&str] = &["host", "content-length", "transfer-encoding"];

/// What to send where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    pub url: String,
    /// In order: `(name, Some(value))` sets a field (replacing every field
    /// of that name, at the first one's place, else at the end);
    /// `(name, None)` removes it.
    pub overrides: Vec<(String, Option<String>)>,
    pub follow_redirects: bool,
}

/// Why a resend did not happen (or stopped), in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("resending is off on this server: start it with --api-key or --resend-allow")]
    Off,
    #[error("the target URL {0}")]
    BadUrl(String),
    #[error("{0}")]
    BadHeader(String),
    /// An address that is never a target, whatever the allow-list says.
    #[error("{0}")]
    Forbidden(String),
    /// Not in the server's `--resend-allow` list.
    #[error("{0}")]
    NotAllowed(String),
    /// Not a refusal: the target could not be reached (a lookup failed).
    #[error("{0}")]
    Unreachable(String),
}

impl Refusal {
    /// A refusal of the target itself (as opposed to bad input or a
    /// server with resending off): worth keeping in the resend list.
    pub fn is_about_target(&self) -> bool {
        matches!(self, Self::Forbidden(_) | Self::NotAllowed(_))
    }
}

/// A resend that was refused; `record` is the resend to keep, when it got
/// as far as a target (a refused hop keeps the redirect that led there).
#[derive(Debug)]
pub struct Refused {
    pub why: Refusal,
    pub record: Option<Resend>,
}

impl From<Refusal> for Refused {
    fn from(why: Refusal) -> Self {
        Self { why, record: None }
    }
}

/// Header overrides as the dashboard's form takes them, one per line:
/// `Name: value` sets, `-Name` removes; blank lines are skipped.
pub fn parse_override_lines(text: &str) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let mut overrides = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('-') {
            overrides.push((name.trim().to_owned(), None));
        } else if let Some((name, value)) = line.split_once(':') {
            overrides.push((name.trim().to_owned(), Some(value.trim().to_owned())));
        } else {
            return Err(Refusal::BadHeader(format!(
                "{line:?}: write a header override as \"Name: value\", or \"-Name\" to remove it"
            )));
        }
    }
    Ok(overrides)
}

/// The stored header fields with `overrides` applied.
pub fn apply_overrides(
    headers: &[Header],
    overrides: &[(String, Option<String>)],
) -> Result<Vec<Header>, Refusal> {
    let mut out = headers.to_vec();
    for (name, value) in overrides {
        if !http1::is_token(name.as_bytes()) {
            return Err(Refusal::BadHeader(format!("{name:?} is not a header name")));
        }
        if DERIVED.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            return Err(Refusal::BadHeader(format!(
                "{name} follows the target URL and the body: it cannot be overridden"
            )));
        }
        let first = out.iter().position(|h| h.name.eq_ignore_ascii_case(name));
        out.retain(|h| !h.name.eq_ignore_ascii_case(name));
        let Some(value) = value else { continue };
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Refusal::BadHeader(format!(
                "the value of {name} has a line break"
            )));
        }
        let field = Header::new(name.as_str(), value.as_bytes());
        match first {
            Some(at) => out.insert(at.min(out.len()), field),
            None => out.push(field),
        }
    }
    Ok(out)
}

/// What is sent on one hop.
struct Hop {
    url: TargetUrl,
    method: String,
    headers: Vec<Header>,
    body: Vec<u8>,
}

/// Sends `req` as `order` says and returns what came back, for the caller
/// to store. A refusal of a target comes with the resend to store (see
/// [`Refused`]); a target that cannot be reached is an answer-less resend.
pub async fn send(
    policy: &Policy,
    resolver: &impl Resolver,
    req: &CapturedRequest,
    order: &Order,
    origin: ResendOrigin,
) -> Result<Resend, Refused> {
    if let Some(off) = policy.off_reason() {
        return Err(off.into());
    }
    let first = Hop {
        url: TargetUrl::parse(&order.url)?,
        method: req.method.clone(),
        headers: apply_overrides(&req.headers, &order.overrides)?,
        body: req.body.to_vec(),
    };
    let mut record = Resend::new(req.bin, req.id, origin, order.url.trim().to_owned());
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        TOTAL_TIMEOUT,
        hops(policy, resolver, first, order.follow_redirects, &mut record),
    )
    .await;
    record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(Ok(())) => Ok(record),
        Ok(Err(why)) if why.is_about_target() => {
            record.error = Some(why.to_string());
            Err(Refused {
                why,
                record: Some(record),
            })
        }
        Ok(Err(why)) => {
            record.error = Some(why.to_string());
            Ok(record)
        }
        Err(_) => {
            record.error = Some(format!("no answer within {} s", TOTAL_TIMEOUT.as_secs()));
            Ok(record)
        }
    }
}

/// Sends `hop` and, when asked, the redirects that follow, noting the last
/// answer (or failure) in `record`.
async fn hops(
    policy: &Policy,
    resolver: &impl Resolver,
    mut hop: Hop,
    follow: bool,
    record: &mut Resend,
) -> Result<(), Refusal> {
    let mut addrs = policy.addresses(resolver, &hop.url).await?;
    let mut followed = 0;
    loop {
        let received = match exchange_with(&addrs, &hop).await {
            Ok(received) => received,
            Err(e) => {
                record.error = Some(e.to_string());
                return Ok(());
            }
        };
        let Received { answer, truncated } = received;
        record.status = Some(answer.status);
        record.keep_body(&answer.body, truncated);
        let location = answer
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("location"))
            .map(Header::value_lossy);
        record.headers = answer.headers;
        let redirect = matches!(answer.status, 301 | 302 | 303 | 307 | 308);
        let (true, true, Some(location)) = (follow, redirect, location) else {
            return Ok(());
        };
        if followed == MAX_REDIRECTS {
            record.error = Some(format!("stopped after {MAX_REDIRECTS} redirects"));
            return Ok(());
        }
        followed += 1;
        let refused = |why: Refusal| match why {
            Refusal::Forbidden(w) | Refusal::BadUrl(w) => {
                Refusal::Forbidden(format!("redirect to {location} refused: {w}"))
            }
            Refusal::NotAllowed(w) => {
                Refusal::NotAllowed(format!("redirect to {location} refused: {w}"))
            }
            other => other,
        };
        let next = TargetUrl::parse(&hop.url.join(&location)).map_err(refused)?;
        hop = redirected(hop, next, answer.status);
        addrs = policy
            .addresses(resolver, &hop.url)
            .await
            .map_err(refused)?;
    }
}

/// The request a redirect asks for: 303 (and 301/302 after anything but
/// GET or HEAD, as browsers do) becomes a GET without a body; credentials
/// are not carried to another host.
fn redirected(hop: Hop, next: TargetUrl, status: u16) -> Hop {
    let Hop {
        url,
        mut method,
        mut headers,
        mut body,
    } = hop;
    let keeps_method = matches!(status, 307 | 308)
        || method.eq_ignore_ascii_case("GET")
        || method.eq_ignore_ascii_case("HEAD");
    if !keeps_method {
        method = "GET".to_owned();
        body.clear();
        headers.retain(|h| {
            !["content-type", "content-length", "transfer-encoding"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n))
        });
    }
    if next.host != url.host || next.port != url.port || next.https != url.https {
        headers.retain(|h| {
            !["authorization", "cookie", "proxy-authorization"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n))
        });
    }
    Hop {
        url: next,
        method,
        headers,
        body,
    }
}

/// One exchange with the first of `addrs` that takes the connection.
async fn exchange_with(addrs: &[SocketAddr], hop: &Hop) -> Result<Received, ExchangeError> {
    let wire = exchange::request_wire(
        &hop.method,
        &hop.url.path_and_query,
        &hop.url.authority,
        &hop.headers,
        &hop.body,
    )
    .map_err(ExchangeError::Invalid)?;
    let tls = hop.url.https.then_some(hop.url.host.as_str());
    let head = hop.method.eq_ignore_ascii_case("HEAD");
    let mut last = None;
    for &addr in addrs {
        match exchange::connect(addr, CONNECT_TIMEOUT).await {
            Ok(stream) => {
                let limit = BodyLimit::Truncate(KEPT_ANSWER_BYTES);
                return exchange::exchange_on(stream, tls, &wire, head, TOTAL_TIMEOUT, limit).await;
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| ExchangeError::Invalid("no address to connect to".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_in_place_append_and_remove() {
        let stored = vec![
            Header::new("Host", "h"),
            Header::new("X-A", "1"),
            Header::new("x-dup", "a"),
            Header::new("X-Dup", "b"),
            Header::new("X-Drop", "z"),
        ];
        let lines = "X-Dup: c\n\n-x-drop\nX-New: 2\n";
        let overrides = parse_override_lines(lines).expect("overrides");
        let out = apply_overrides(&stored, &overrides).expect("applied");
        assert_eq!(
            out,
            vec![
                Header::new("Host", "h"),
                Header::new("X-A", "1"),
                Header::new("X-Dup", "c"),
                Header::new("X-New", "2"),
            ]
        );
        for bad in ["Host: x", "content-length: 3", "bad name: 1", "no colon"] {
            let refused = parse_override_lines(bad)
                .and_then(|o| apply_overrides(&stored, &o))
                .expect_err(bad);
            assert!(matches!(refused, Refusal::BadHeader(_)), "{bad}");
        }
    }

    #[test]
    fn a_303_becomes_a_get_and_credentials_stay_on_their_host() {
        let hop = Hop {
            url: TargetUrl::parse("http://a.example/x").expect("url"),
            method: "POST".into(),
            headers: vec![
                Header::new("Authorization", "secret"),
                Header::new("Content-Type", "text/plain"),
                Header::new("X-Keep", "1"),
            ],
            body: b"hi".to_vec(),
        };
        let next = TargetUrl::parse("http://b.example/y").expect("url");
        let moved = redirected(hop, next, 303);
        assert_eq!(moved.method, "GET");
        assert!(moved.body.is_empty());
        assert_eq!(moved.headers, vec![Header::new("X-Keep", "1")]);
    }
}
