//! The catch-all: `ANY /{bin}` and `ANY /{bin}/{*path}`. Request in, row
//! committed, live viewers told, answer out — in that order, so a sender
//! that got its answer knows its request is stored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::answers::Waiter;
use crate::error::{AppError, Format};
use crate::extract::{find_bin, Naming};
use crate::headers::add_default_headers;
use crate::http1::RequestHead as RawHead;
use crate::live;
use crate::metrics::METRICS;
use crate::model::{Bin, CapturedRequest, Header, SentResponse, Timestamp};
use crate::state::AppState;

/// Whether a path is surely a capture's: its first segment is a bin id. No
/// other route starts with one; captures through an alias, and any other
/// path no route takes, reach [`handle`] as the router's fallback.
pub fn takes(path: &str) -> bool {
    uuid::Uuid::try_parse(bin_segment(path)).is_ok()
}

fn bin_segment(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// The route of every capture, reached straight from `server` when the
/// path starts with a bin id and as the router's fallback otherwise (an
/// alias, or a path no route takes). It runs outside the router's layers,
/// so it applies their rules itself, through the same functions: the
/// default headers (`headers`), the error format (`error::Format`), the
/// body limit (`--max-body-bytes`) and, for a live feed, the bin's
/// password (`extract`).
pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let format = Format::wanted(&req);
    let mut response = answer(&state, req)
        .await
        .unwrap_or_else(|e| format.respond(e));
    add_default_headers(response.headers_mut());
    response
}

async fn answer(state: &AppState, req: Request) -> Result<Response, AppError> {
    // The one exception: smee clients subscribe with a GET of the bin URL.
    if live::sse::wants_event_stream(&req) {
        return live::sse::handle(state.clone(), req).await;
    }
    let captured = capture(state, req).await;
    let (status, size) = match &captured {
        Ok((stored, _, _)) => (StatusCode::OK, stored.size()),
        Err(e) => (e.status(), 0),
    };
    METRICS.record_capture(status.as_u16(), size);
    let (stored, bin, awaited) = captured?;
    tracing::debug!(bin = %bin.id, id = %stored.id, method = stored.method, "captured");
    let Some((waiter, limit)) = awaited else {
        delay(state, &bin).await;
        return Ok(answer_for(&stored, &bin));
    };
    // Listen mode: the local app's answer, else the default one.
    let (response, from_app) = match waiter.wait(limit).await {
        Some(answer) => (sandboxed(answer.into_response()), true),
        None => {
            delay(state, &bin).await;
            (answer_for(&stored, &bin), false)
        }
    };
    Ok(record_sent(state, &stored, response, from_app).await)
}

/// Notes in the store what a capture awaiting a relayed answer answered, then sends it.
/// Answers are built in memory (at most the forwarder's body), so reading
/// the body back costs nothing.
async fn record_sent(
    state: &AppState,
    stored: &CapturedRequest,
    response: Response,
    from_app: bool,
) -> Response {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let sent = SentResponse {
        from_app,
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
            .collect(),
        body: body.clone(),
    };
    if let Err(e) = state
        .store
        .record_response(stored.bin, stored.id, sent)
        .await
    {
        tracing::warn!(error = %e, "could not note a relayed answer");
    }
    Response::from_parts(parts, Body::from(body))
}

/// Waits the bin's `timeout` (capped by the server) before the answer; the
/// request is already stored. Shutdown cuts the wait short.
async fn delay(state: &AppState, bin: &Bin) {
    let secs = bin
        .settings
        .timeout
        .min(state.config.max_response_delay_secs);
    if secs > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(u64::from(secs))) => {}
            () = state.shutdown.cancelled() => {}
        }
    }
}

/// Largest body whose signatures a capture checks on its own thread; a
/// larger one is hashed on the blocking pool.
const VERIFY_INLINE_BYTES: usize = 64 * 1024;

/// A wait for a relayed answer: who answers, and for how long at most.
type AwaitedAnswer = (Waiter, Duration);

/// Stores the request and tells live viewers; with a relaying forwarder
/// connected, also registers the request as waiting for its answer (before
/// publishing it, so the answer cannot come first). Resolves to the stored
/// request and its bin (whose settings shape the answer).
async fn capture(
    state: &AppState,
    req: Request,
) -> Result<(CapturedRequest, Arc<Bin>, Option<AwaitedAnswer>), AppError> {
    let bin_settings = find_bin(
        &state.store,
        bin_segment(req.uri().path()),
        Naming::IdOrAlias,
    )
    .await?;
    let bin = bin_settings.id;
    state.limits.allow_capture(bin)?;

    let limit = state.config.max_body_bytes;
    let (mut parts, body) = req.into_parts();
    if declared_length(&parts.headers).is_some_and(|n| n > limit as u64) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let body = read_body(body, limit).await?;

    let remote_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(String::new, |ConnectInfo(addr)| address_text(*addr));
    let headers = match parts.extensions.remove::<RawHead>() {
        Some(raw) if agrees(&raw, &parts.method, &parts.uri, &parts.headers) => raw.headers,
        _ => parts
            .headers
            .iter()
            .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
            .collect(),
    };
    let mut captured = CapturedRequest {
        id: uuid::Uuid::nil(),
        bin,
        received_at: Timestamp::now(),
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        version: version_name(parts.version).to_owned(),
        remote_addr,
        headers,
        body,
        signature: None,
    };
    // Checked over the exact bytes about to be stored, before the insert,
    // so the stored row, the live copy and the API agree.
    let verifiers = &bin_settings.settings.verifiers;
    if captured.body.len() <= VERIFY_INLINE_BYTES {
        captured.signature = captured.verify(verifiers);
    } else if !verifiers.is_empty() {
        // Hashing a large body is CPU work: off the threads that answer.
        let verifiers = verifiers.clone();
        captured = tokio::task::spawn_blocking(move || {
            captured.signature = captured.verify(&verifiers);
            captured
        })
        .await
        // Fails only as the runtime shuts down (or on a bug in a check).
        .map_err(|_| AppError::Store(crate::store::StoreError::Closed))?;
    }
    let stored = state.store.insert_request(captured).await?;
    // The bin's own `listen` seconds, else the server-wide setting.
    let wait_secs = match bin_settings.settings.answer_wait_secs {
        0 => state.config.answer_wait_secs,
        secs => u64::from(secs),
    };
    let answered =
        wait_secs > 0 && (state.pending.has_answerer(bin) || answerer_elsewhere(state, bin).await);
    let waiter = answered.then(|| {
        (
            state.pending.register(bin, stored.id),
            Duration::from_secs(wait_secs),
        )
    });
    state.hub.publish(&stored);
    Ok((stored, bin_settings, waiter))
}

/// Whether another instance on the same database has a relaying forwarder
/// of `bin`; when that cannot be read, the capture answers as if none.
async fn answerer_elsewhere(state: &AppState, bin: uuid::Uuid) -> bool {
    match state.store.answerer_elsewhere(bin).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "could not read other instances' forwarders");
            false
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_TOKEN_ID: HeaderName = HeaderName::from_static("x-token-id");
/// Header fields of a usual answer: content type and length, the two ids,
/// the sandbox, the default headers, the date, and a few the bin adds.
const ANSWER_HEADERS: usize = 16;

/// The status a capture path asks for: `/{bin}/{status}` or
/// `/{bin}/{status}/…`, as on webhook.site (for testing a sender's retries
/// without changing the bin). From 200 to 599: a 1xx is no final answer in
/// HTTP (hyper sends 500 for most, and 101 would claim a protocol switch),
/// so `/{bin}/1xx` is an ordinary sub-path.
fn status_in_path(path: &str) -> Option<StatusCode> {
    let segment = path.trim_start_matches('/').split('/').nth(1)?;
    if segment.len() != 3 || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    StatusCode::from_bytes(segment.as_bytes())
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
}

/// The answer a sender gets once its request is stored: the bin's
/// configured status (or the one its path asks for), body, content type
/// and headers. A CORS preflight to a
/// bin with `cors` on gets an empty 204 that allows everything.
///
/// The answer comes from our own origin, so it is sandboxed
/// (`Content-Security-Policy: sandbox`): a bin owner cannot run script with
/// the dashboard's origin by serving HTML from a bin.
fn answer_for(stored: &CapturedRequest, bin: &Bin) -> Response {
    let settings = &bin.settings;
    let preflight = settings.cors
        && stored.method == "OPTIONS"
        && stored.header("access-control-request-method").is_some();
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let status = status_in_path(&stored.path).unwrap_or_else(|| {
            StatusCode::from_u16(settings.default_status).unwrap_or(StatusCode::OK)
        });
        let mut response = (status, settings.default_content.clone()).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&settings.default_content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        for (name, value) in &settings.response_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        response
    };
    let headers = response.headers_mut();
    // Room for what follows and the default headers, without regrowing.
    headers.reserve(ANSWER_HEADERS);
    if settings.cors {
        allow_cross_origin(headers, stored);
    }
    for (name, id) in [(X_REQUEST_ID, stored.id), (X_TOKEN_ID, stored.bin)] {
        let mut text = uuid::Uuid::encode_buffer();
        if let Ok(value) = HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    response
}

/// A relayed answer comes from the local app but is served from our
/// origin: like every capture answer, it runs no script here.
fn sandboxed(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    response
}

fn allow_cross_origin(headers: &mut HeaderMap, stored: &CapturedRequest) {
    let any = HeaderValue::from_static("*");
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, any.clone());
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, any.clone());
    let asked = stored
        .header("access-control-request-headers")
        .and_then(|h| HeaderValue::from_bytes(&h.value).ok());
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.unwrap_or(any));
}

/// `ip:port` as `SocketAddr`'s `Display` writes it; an IPv4 address
/// without the formatting machinery, which showed in capture profiles.
fn address_text(addr: SocketAddr) -> String {
    let SocketAddr::V4(v4) = addr else {
        return addr.to_string();
    };
    let mut text = String::with_capacity("255.255.255.255:65535".len());
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text.push(':');
    text.push_str(digits.format(v4.port()));
    text
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads the whole body, refusing it (413) as soon as it passes `limit`.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, AppError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(AppError::PayloadTooLarge { limit })
        }
        Err(e) => Err(AppError::BadRequest(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// Whether the tapped head is the one hyper parsed for this request.
fn agrees(raw: &RawHead, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> bool {
    // A target in origin form (`/bin/path?query`) is all of the URI.
    let target_agrees = match (uri.authority(), uri.path_and_query()) {
        (None, Some(target)) => raw.target == target.as_str(),
        _ => raw.target == uri.to_string(),
    };
    raw.method == method.as_str()
        && target_agrees
        && raw.headers.len() == headers.len()
        && raw
            .headers
            .iter()
            .all(|h| headers.contains_key(h.name.as_str()))
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_addresses_read_as_display_writes_them() {
        for addr in [
            "0.0.0.0:0",
            "127.0.0.1:54321",
            "255.255.255.255:65535",
            "10.20.3.4:80",
            "[::1]:8080",
            "[2001:db8::7]:443",
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            assert_eq!(address_text(addr), addr.to_string());
        }
    }

    #[test]
    fn a_status_is_the_first_segment_below_the_bin() {
        for (path, status) in [
            ("/b/404", Some(404)),
            ("/b/500/anything/else", Some(500)),
            ("/b/200", Some(200)),
            ("/b/100", None),
            ("/b/101", None),
            ("/b/199", None),
            ("/b/599", Some(599)),
            ("//b/201", Some(201)),
            ("/b/600", None),
            ("/b/099", None),
            ("/b/40", None),
            ("/b/4044", None),
            ("/b/+40", None),
            ("/b/x/404", None),
            ("/b", None),
            ("/404", None),
        ] {
            assert_eq!(status_in_path(path).map(|s| s.as_u16()), status, "{path}");
        }
    }

    #[test]
    fn only_paths_under_a_bin_id_are_taken_before_the_router() {
        let bin = "0190a0a0-0000-7000-8000-000000000000";
        for (path, taken) in [
            (format!("/{bin}"), true),
            (format!("/{bin}/deep/path"), true),
            (format!("//{bin}/x"), true),
            ("/view/x".to_owned(), false),
            ("/".to_owned(), false),
            ("/healthz".to_owned(), false),
            (format!("/x/{bin}"), false),
        ] {
            assert_eq!(takes(&path), taken, "{path}");
        }
    }
}
