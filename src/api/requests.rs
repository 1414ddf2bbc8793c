//! A bin's requests: the paged, searchable list, one request, its raw
//! body, and deletes.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, PrimitiveDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::json;
use super::openapi::ApiError;
use crate::error::{error_response, AppError};
use crate::extract::BinPath;
use crate::model::{Bin, CapturedRequest, RequestJson, SentResponseJson, Timestamp};
use crate::multipart;
use crate::state::AppState;
use crate::store::{Count, Page, RequestFilter, SearchQuery, COUNT_AHEAD};

/// Requests per page unless `per_page` says otherwise, and its bounds.
const DEFAULT_PER_PAGE: u32 = 50;
const MAX_PER_PAGE: u32 = 100;

/// Query of `GET /token/{id}/requests`. Everything is read as text and
/// checked here, so a bad value gets a one-line 400.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `oldest` (the default) or `newest` first.
    sorting: Option<String>,
    /// Requests per page, 1–100 (50 unless given).
    per_page: Option<String>,
    /// Which page, from 1.
    page: Option<String>,
    /// webhook.site's query language: `field:value`, words, `"phrases"`,
    /// `AND`, `OR`, `NOT`/`-`, parentheses, `*`, ranges.
    query: Option<String>,
    /// Received at or after, UTC: `2024-01-31 23:59:59` or `2024-01-31`.
    date_from: Option<String>,
    /// Received at or before, UTC (a bare date includes the whole day).
    date_to: Option<String>,
}

/// webhook.site's page of requests.
#[derive(Debug, Serialize, ToSchema)]
struct RequestPage {
    data: Vec<RequestJson>,
    /// How many requests match. A filtered count stops 10 000 past the
    /// page asked for; then `total_exact` is false and at least this many
    /// match (`is_last_page` is right either way).
    total: u64,
    /// False when `total` is a lower bound (see `total`).
    total_exact: bool,
    per_page: u32,
    current_page: u64,
    is_last_page: bool,
    /// 1-based position of the first request on the page; `null` if none.
    from: Option<u64>,
    to: Option<u64>,
}

/// The request filter of a search form or list query: free text, dates
/// (`YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`, UTC) and order.
pub fn filter_from(
    query: Option<&str>,
    date_from: Option<&str>,
    date_to: Option<&str>,
    sorting: Option<&str>,
) -> Result<RequestFilter, AppError> {
    let oldest_first = match sorting.map(str::trim) {
        None | Some("" | "oldest") => true,
        Some("newest") => false,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "sorting must be \"newest\" or \"oldest\", not {other:?}"
            )))
        }
    };
    Ok(RequestFilter {
        query: SearchQuery::parse(query.unwrap_or(""))
            .map_err(|e| AppError::BadRequest(e.to_string()))?,
        from: date_from
            .map(|d| parse_date("date_from", d, false))
            .transpose()?
            .flatten(),
        to: date_to
            .map(|d| parse_date("date_to", d, true))
            .transpose()?
            .flatten(),
        after: None,
        oldest_first,
    })
}

/// A `date_from`/`date_to` value; a bare date means its first (or, for
/// `end`, last) second.
fn parse_date(name: &str, text: &str, end: bool) -> Result<Option<Timestamp>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let full = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let day = format_description!("[year]-[month]-[day]");
    let (at, last) = match PrimitiveDateTime::parse(text, full) {
        Ok(at) => (at, false),
        Err(_) => match Date::parse(text, day) {
            Ok(date) => (date.midnight(), end),
            Err(_) => {
                return Err(AppError::BadRequest(format!(
                    "{name} must look like 2024-01-31 23:59:59 (UTC), not {text:?}"
                )))
            }
        },
    };
    let micros = at.assume_utc().unix_timestamp() * 1_000_000;
    // A whole second (or day) is inclusive of its fractions.
    let span = if last { 86_400_000_000 } else { 1_000_000 };
    Ok(Some(Timestamp(if end {
        micros + span - 1
    } else {
        micros
    })))
}

fn number(name: &str, text: Option<&str>, default: u64) -> Result<u64, AppError> {
    match text.map(str::trim) {
        None | Some("") => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|_| AppError::BadRequest(format!("{name} must be a number, not {text:?}"))),
    }
}

/// The request object as the API, the live feed and the export all send it.
pub(super) fn request_json(state: &AppState, req: &CapturedRequest) -> RequestJson {
    RequestJson::new(req, &req.base_url(state.config.public_base()))
}

/// `GET /token/{id}/requests`: a page of requests, oldest first unless
/// `sorting=newest`; `per_page` is kept within 1–100.
#[utoipa::path(
    get,
    path = "/token/{id}/requests",
    tag = "requests",
    summary = "A page of the bin's requests, filtered",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ListParams),
    responses(
        (status = 200, description = "webhook.site's page of requests", body = RequestPage),
        (status = 400, description = "A malformed query (the message says where), date, number or sorting", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let filter = filter_from(
        params.query.as_deref(),
        params.date_from.as_deref(),
        params.date_to.as_deref(),
        params.sorting.as_deref(),
    )?;
    let per_page = number(
        "per_page",
        params.per_page.as_deref(),
        DEFAULT_PER_PAGE.into(),
    )?
    .clamp(1, MAX_PER_PAGE.into());
    let per_page = u32::try_from(per_page).unwrap_or(MAX_PER_PAGE);
    let page = number("page", params.page.as_deref(), 1)?.max(1);
    let offset = (page - 1).saturating_mul(u64::from(per_page));
    let counted = offset
        .saturating_add(u64::from(per_page))
        .saturating_add(COUNT_AHEAD);
    let Count { n: total, exact } = state
        .store
        .count_matching(bin, filter.clone(), counted)
        .await?;
    let requests = if offset < total {
        state
            .store
            .find_requests(
                bin,
                filter,
                Page {
                    offset,
                    limit: per_page,
                },
            )
            .await?
    } else {
        Vec::new()
    };
    let shown = requests.len() as u64;
    let body = RequestPage {
        data: requests.iter().map(|r| request_json(&state, r)).collect(),
        total,
        total_exact: exact,
        per_page,
        current_page: page,
        is_last_page: offset.saturating_add(u64::from(per_page)) >= total,
        from: (shown > 0).then_some(offset + 1),
        to: (shown > 0).then_some(offset + shown),
    };
    Ok(json(StatusCode::OK, &body))
}

/// The stored request `rid` of `bin`: 404 unless it is there.
pub(crate) async fn stored(
    state: &AppState,
    bin: &Bin,
    rid: &str,
) -> Result<CapturedRequest, AppError> {
    let bin = bin.id;
    let rid = Uuid::try_parse(rid).map_err(|_| AppError::UnknownRequest)?;
    state
        .store
        .request(bin, rid)
        .await?
        .ok_or(AppError::UnknownRequest)
}

/// `GET /token/{id}/request/latest`: 404 when the bin is empty.
#[utoipa::path(
    get,
    path = "/token/{id}/request/latest",
    tag = "requests",
    summary = "The newest request",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)")),
    responses(
        (status = 200, description = "The request", body = RequestJson),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or it is empty", body = ApiError)
    )
)]
pub async fn latest(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let newest = RequestFilter {
        oldest_first: false,
        ..RequestFilter::default()
    };
    let found = state
        .store
        .find_requests(
            bin,
            newest,
            Page {
                offset: 0,
                limit: 1,
            },
        )
        .await?;
    let req = found.first().ok_or(AppError::UnknownRequest)?;
    Ok(json(StatusCode::OK, &request_json(&state, req)))
}

/// `GET /token/{id}/request/{rid}`.
#[utoipa::path(
    get,
    path = "/token/{id}/request/{rid}",
    tag = "requests",
    summary = "One request",
    description = "With `response`, what a capture awaiting a relayed answer answered its sender.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = RequestJson),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or no such request in it", body = ApiError)
    )
)]
pub async fn request(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let req = stored(&state, &bin, &rid).await?;
    let mut body = request_json(&state, &req);
    body.response = state
        .store
        .sent_response(req.bin, req.id)
        .await?
        .as_ref()
        .map(SentResponseJson::new);
    Ok(json(StatusCode::OK, &body))
}

/// `GET /token/{id}/request/{rid}/raw`: the exact body bytes with the
/// original content type, as a download no browser renders.
#[utoipa::path(
    get,
    path = "/token/{id}/request/{rid}/raw",
    tag = "requests",
    summary = "The exact body bytes",
    description = "An attachment, with the content type it was sent with.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The body as received", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or no such request in it", body = ApiError)
    )
)]
pub async fn raw(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let req = stored(&state, &bin, &rid).await?;
    let content_type = req
        .header("content-type")
        .and_then(|h| HeaderValue::from_bytes(&h.value).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = format!("attachment; filename=\"{}.bin\"", req.id);
    Ok(attachment(req.body, content_type, &disposition))
}

/// `GET /token/{id}/request/{rid}/download/{file_id}`: one file part of a
/// multipart request, its exact bytes, by the id its `files` entry gives.
/// Like `/raw`, an attachment no browser renders.
#[utoipa::path(
    get,
    path = "/token/{id}/request/{rid}/download/{file_id}",
    tag = "requests",
    summary = "One file of a multipart request",
    description = "The part's exact bytes as an attachment, by the `id` of its `files` entry.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id"), ("file_id" = Uuid, Path, description = "The file's `id` in `files`")),
    responses(
        (status = 200, description = "The part's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No such bin, request or file", body = ApiError)
    )
)]
pub async fn download(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid, file_id)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let req = stored(&state, &bin, &rid).await?;
    let Some(file) = Uuid::try_parse(&file_id).ok().and_then(|id| req.file(id)) else {
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            String::from("no file with this id in this request"),
        ));
    };
    let content_type = file
        .part
        .content_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = multipart::content_disposition(&file.part, file.number);
    Ok(attachment(file.part.bytes, content_type, &disposition))
}

/// Stored bytes with the type they were sent with, as a download no
/// browser renders: an attachment, `nosniff`, and a sandbox that runs
/// nothing should it be opened anyway.
fn attachment(body: bytes::Bytes, content_type: HeaderValue, disposition: &str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    response
}

/// `DELETE /token/{id}/request/{rid}` → 204.
#[utoipa::path(
    delete,
    path = "/token/{id}/request/{rid}",
    tag = "requests",
    summary = "Delete one request",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), ("rid" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or no such request in it", body = ApiError)
    )
)]
pub async fn delete_request(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, rid)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let req = stored(&state, &bin, &rid).await?;
    if state.store.delete_request(req.bin, req.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::UnknownRequest)
    }
}

/// `DELETE /token/{id}/request` → 204: the bin is emptied (not deleted),
/// or only the requests matching `query`, `date_from` and `date_to`.
#[utoipa::path(
    delete,
    path = "/token/{id}/request",
    tag = "requests",
    summary = "Delete the bin's requests, or those a query matches",
    description = "Deletes exactly what the list shows for the same `query`, `date_from` and \
        `date_to`; without them, every request (the bin stays).",
    params(
        ("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"),
        ("query" = Option<String>, Query, description = "webhook.site's query language, as in the list"),
        ("date_from" = Option<String>, Query, description = "Received at or after, UTC"),
        ("date_to" = Option<String>, Query, description = "Received at or before, UTC")
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed query (the message says where), date, number or sorting", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError)
    )
)]
pub async fn clear(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<ListParams>,
) -> Result<StatusCode, AppError> {
    let bin = bin.id;
    let filter = filter_from(
        params.query.as_deref(),
        params.date_from.as_deref(),
        params.date_to.as_deref(),
        None,
    )?;
    state.store.delete_matching(bin, filter).await?;
    Ok(StatusCode::NO_CONTENT)
}
