//! Resending a stored request (see `resend`): `POST
//! /token/{id}/request/{rid}/resend` sends it to a URL and answers with the
//! stored result; `GET …/resends` lists a request's resends, newest first;
//! `POST …/resends` records what `hookscope forward --replay` got.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi::ApiError;
pub(crate) use super::requests::stored;
use super::{json, parse_json};
use crate::error::{error_response, AppError};
use crate::extract::BinPath;
use crate::model::{body_content, CapturedRequest, ContentEncoding, Header};
use crate::resend::{self, Order, Policy, Refusal, Refused, SystemResolver};
use crate::state::AppState;
use crate::store::{Resend, ResendOrigin, RESENDS_LISTED};

/// The body of `POST /token/{id}/request/{rid}/resend`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendInput {
    /// Where to send it: `http://` or `https://`, path and query as given.
    url: String,
    /// Header overrides, applied in order: a string sets the field
    /// (replacing every field of that name), `null` removes it. `Host`
    /// and `Content-Length` follow the URL and the body.
    #[serde(default)]
    #[schema(value_type = Object)]
    headers: serde_json::Map<String, serde_json::Value>,
    /// Follow redirects (at most 5), checking every hop; by default the
    /// redirect itself is the result.
    #[serde(default)]
    follow_redirects: bool,
}

/// One resend of a request, and what the target answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResendJson {
    uuid: Uuid,
    request_id: Uuid,
    token_id: Uuid,
    /// When it was sent (RFC 3339, UTC).
    created_at: String,
    /// `dashboard`, `api` or `forward`.
    origin: &'static str,
    /// The URL it was sent to.
    target: String,
    /// The target's status; `null` when no answer came (see `error`).
    status: Option<u16>,
    /// The answer's header fields in order, as `[name, value]` pairs.
    headers: Vec<(String, String)>,
    /// The answer body's first 64 KiB: text, or base64 (`content_encoding`).
    content: String,
    content_encoding: ContentEncoding,
    /// The answer body was longer than `content`.
    truncated: bool,
    duration_ms: u64,
    /// Why there is no answer (refused, could not connect, timed out), or
    /// why redirects stopped.
    error: Option<String>,
}

impl ResendJson {
    pub fn new(resend: &Resend) -> Self {
        let (content, content_encoding) = body_content(&resend.body);
        Self {
            uuid: resend.id,
            request_id: resend.request,
            token_id: resend.bin,
            created_at: resend.at.to_rfc3339(),
            origin: resend.origin.as_str(),
            target: resend.target.clone(),
            status: resend.status,
            headers: Header::pairs_lossy(&resend.headers),
            content,
            content_encoding,
            truncated: resend.truncated,
            duration_ms: resend.duration_ms,
            error: resend.error.clone(),
        }
    }
}

/// A request's resends, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct ResendList {
    data: Vec<ResendJson>,
}

/// What `hookscope forward --replay` reports after sending a request.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ForwardOutcome {
    /// The URL it was sent to.
    target: String,
    /// The target's status; absent when it could not be delivered.
    #[serde(default)]
    status: Option<u16>,
    /// The answer's header fields in order, as `[name, value]` pairs.
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// The answer body in standard base64 (kept up to 64 KiB).
    #[serde(default)]
    content: String,
    /// The answer body was longer than `content`.
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    duration_ms: u64,
    #[serde(default)]
    error: Option<String>,
}

/// Sends `req` as `order` says and stores the result (a refused target
/// too); the refusal, if any, comes back as the error answer.
pub async fn resend_and_store(
    state: &AppState,
    req: &CapturedRequest,
    order: &Order,
    origin: ResendOrigin,
) -> Result<Resend, Response> {
    let policy = Policy::of(&state.config);
    match resend::send(&policy, &SystemResolver, req, order, origin).await {
        Ok(done) => {
            state
                .store
                .record_resend(done.clone())
                .await
                .map_err(|e| AppError::from(e).into_response())?;
            Ok(done)
        }
        Err(Refused { why, record }) => {
            if let Some(record) = record {
                state
                    .store
                    .record_resend(record)
                    .await
                    .map_err(|e| AppError::from(e).into_response())?;
            }
            Err(refusal_response(&why))
        }
    }
}

/// A refusal as an error answer: 403 when the server or the target is not
/// allowed, 400 for input that cannot be sent.
pub fn refusal_response(why: &Refusal) -> Response {
    let status = match why {
        Refusal::Off | Refusal::Forbidden(_) | Refusal::NotAllowed(_) => StatusCode::FORBIDDEN,
        Refusal::BadUrl(_) | Refusal::BadHeader(_) | Refusal::Unreachable(_) => {
            StatusCode::BAD_REQUEST
        }
    };
    error_response(status, why.to_string())
}

/// `POST /token/{id}/request/{rid}/resend`.
#[utoipa::path(
    post,
    path = "/token/{id}/request/{rid}/resend",
    tag = "requests",
    summary = "Send the request again, exact bytes, to a URL",
    description = "The stored method, header fields (in order, after `headers` overrides; `Host` and \
        `Content-Length` follow the URL and the body) and body go to `url` as given (its own path and \
        query). Resending is off unless the server has an API key or `--resend-allow`; link-local and \
        cloud metadata addresses are refused always, checked after DNS resolution and on every \
        redirect. A target that cannot be reached still gives a resend, with `error` set.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id")),
    request_body = ResendInput,
    responses(
        (status = 200, description = "The stored resend, with the target's answer", body = ResendJson),
        (status = 400, description = "Not a URL, or a header override that cannot be sent", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 403, description = "Resending is off here, or the target (or a redirect's) is refused; a refused target is stored in the list", body = ApiError),
        (status = 404, description = "No bin with this id, or no such request in it", body = ApiError)
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Response> {
    let req = stored(&state, &bin, &rid)
        .await
        .map_err(IntoResponse::into_response)?;
    let input: ResendInput = parse_json(&body).map_err(IntoResponse::into_response)?;
    let mut overrides = Vec::with_capacity(input.headers.len());
    for (name, value) in input.headers {
        let value = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(v) => Some(v),
            _ => {
                return Err(AppError::BadRequest(format!(
                    "headers.{name} must be a string, or null to remove it"
                ))
                .into_response())
            }
        };
        overrides.push((name, value));
    }
    let order = Order {
        url: input.url,
        overrides,
        follow_redirects: input.follow_redirects,
    };
    let done = resend_and_store(&state, &req, &order, ResendOrigin::Api).await?;
    Ok(json(StatusCode::OK, &ResendJson::new(&done)))
}

/// `GET /token/{id}/request/{rid}/resends`.
#[utoipa::path(
    get,
    path = "/token/{id}/request/{rid}/resends",
    tag = "requests",
    summary = "The request's resends, newest first",
    description = "From the dashboard, the API and `hookscope forward --replay`; at most 100.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The resends", body = ResendList),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or no such request in it", body = ApiError)
    )
)]
pub async fn resends(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let req = stored(&state, &bin, &rid).await?;
    let found = state.store.resends(req.bin, req.id, RESENDS_LISTED).await?;
    let list = ResendList {
        data: found.iter().map(ResendJson::new).collect(),
    };
    Ok(json(StatusCode::OK, &list))
}

/// `POST /token/{id}/request/{rid}/resends`: what a forwarder's replay of
/// the request got, recorded as a resend.
#[utoipa::path(
    post,
    path = "/token/{id}/request/{rid}/resends",
    tag = "requests",
    summary = "Record what a forwarder's replay got",
    description = "`hookscope forward --replay` reports each replayed request's outcome here, so it \
        shows in the request's resends (origin `forward`). Nothing is sent by the server.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id")),
    request_body = ForwardOutcome,
    responses(
        (status = 201, description = "The stored resend", body = ResendJson),
        (status = 400, description = "Not valid JSON, or content not base64", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or no such request in it", body = ApiError),
        (status = 422, description = "A field of the wrong type", body = ApiError)
    )
)]
pub async fn record_outcome(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let req = stored(&state, &bin, &rid).await?;
    let outcome: ForwardOutcome = parse_json(&body)?;
    if outcome.target.trim().is_empty() {
        return Err(AppError::BadRequest(
            "target must name the URL it was sent to".into(),
        ));
    }
    let answer = base64::engine::general_purpose::STANDARD
        .decode(&outcome.content)
        .map_err(|_| AppError::BadRequest("content must be the body in standard base64".into()))?;
    let mut record = Resend::new(req.bin, req.id, ResendOrigin::Forward, outcome.target);
    record.status = outcome.status;
    record.headers = outcome
        .headers
        .into_iter()
        .map(|(name, value)| Header::new(name, value))
        .collect();
    record.keep_body(&answer, outcome.truncated);
    record.duration_ms = outcome.duration_ms;
    record.error = outcome.error;
    state.store.record_resend(record.clone()).await?;
    Ok(json(StatusCode::CREATED, &ResendJson::new(&record)))
}
