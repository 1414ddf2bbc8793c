//! The catch-all: `ANY /{bin}` and `ANY /{bin}/{*path}`. Request in, row
//! committed, live viewers told, answer out — in that order, so a sender
//! that got its answer knows its request is stored.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::app::{parse_bin, AppState};
use crate::error::{AppError, Verbatim};
use crate::live::feed_message;
use crate::metrics::METRICS;
use crate::model::{CapturedRequest, Header, Timestamp};
use crate::wire::RawHead;

pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let answer = capture(&state, req).await;
    let (status, size) = match &answer {
        Ok(stored) => (StatusCode::OK, stored.size()),
        Err(e) => (e.status(), 0),
    };
    METRICS.record_capture(status.as_u16(), size);
    match answer {
        Ok(stored) => answer_for(&stored),
        Err(e) => e.into_response(),
    }
}

async fn capture(state: &AppState, req: Request) -> Result<CapturedRequest, AppError> {
    let bin_segment = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let bin = parse_bin(bin_segment)?;
    state.store.bin(bin).await?.ok_or(AppError::UnknownBin)?;
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
        .map_or_else(String::new, |ConnectInfo(addr)| addr.to_string());
    let headers = match parts.extensions.remove::<RawHead>() {
        Some(raw) if agrees(&raw, &parts.method, &parts.uri, &parts.headers) => raw.headers,
        _ => parts
            .headers
            .iter()
            .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
            .collect(),
    };
    let captured = CapturedRequest {
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
    };
    let stored = state.store.insert_request(captured).await?;
    let public_base = state.config.public_base();
    state
        .hub
        .publish(bin, stored.id, || feed_message(&stored, public_base));
    Ok(stored)
}

/// The answer a sender gets once its request is stored.
fn answer_for(stored: &CapturedRequest) -> Response {
    let mut response = (StatusCode::OK, "OK\n").into_response();
    let headers = response.headers_mut();
    for (name, id) in [("x-request-id", stored.id), ("x-token-id", stored.bin)] {
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.extensions_mut().insert(Verbatim);
    response
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
    raw.method == method.as_str()
        && raw.target == uri.to_string()
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
