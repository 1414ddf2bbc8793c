//! Export of a whole bin: its requests as JSON (the API's request objects),
//! as a HAR 1.2 archive and as CSV (the API's, see `api::csv_download`),
//! all as downloads.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::{csv_download, CsvParams};
use crate::error::AppError;
use crate::extract::BinPath;
use crate::model::{CapturedRequest, RequestJson};
use crate::state::AppState;
use crate::store::{Page, RequestFilter};

/// Requests read from the store at a time.
const CHUNK: u32 = 500;

/// Every request of the bin, oldest first.
async fn all_requests(state: &AppState, bin: Uuid) -> Result<Vec<CapturedRequest>, AppError> {
    let mut all = Vec::new();
    loop {
        let chunk = state
            .store
            .find_requests(
                bin,
                RequestFilter {
                    oldest_first: true,
                    ..RequestFilter::default()
                },
                Page {
                    offset: all.len() as u64,
                    limit: CHUNK,
                },
            )
            .await?;
        let done = chunk.len() < CHUNK as usize;
        all.extend(chunk);
        if done {
            return Ok(all);
        }
    }
}

fn download(body: String, content_type: &'static str, filename: &str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /view/{bin}/export.json`: an array of request objects.
pub async fn export_json(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let requests = all_requests(&state, bin).await?;
    let public_base = state.config.public_base();
    let objects: Vec<RequestJson> = requests
        .iter()
        .map(|r| RequestJson::new(r, &r.base_url(public_base)))
        .collect();
    let body = serde_json::to_string_pretty(&objects)
        .map_err(|e| AppError::BadRequest(format!("the export could not be written: {e}")))?;
    Ok(download(body, "application/json", &format!("{bin}.json")))
}

/// `GET /view/{bin}/export.csv`: one row per request; takes the list's
/// filters (`q` or `query`, `date_from`, `date_to`, `sorting`), so the
/// dashboard's link exports what its search shows.
pub async fn export_csv(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<CsvParams>,
) -> Result<Response, AppError> {
    csv_download(&state, bin.id, &params).await
}

/// `GET /view/{bin}/export.har`: HAR 1.2, one entry per request. The
/// answers recorded are the bin's current settings (answers are not stored).
pub async fn export_har(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
) -> Result<Response, AppError> {
    let requests = all_requests(&state, bin.id).await?;
    let public_base = state.config.public_base();
    let entries: Vec<Value> = requests
        .iter()
        .map(|r| har_entry(r, &bin.settings, public_base))
        .collect();
    let har = json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "hookscope", "version": env!("CARGO_PKG_VERSION") },
            "pages": [],
            "entries": entries,
        }
    });
    Ok(download(
        har.to_string(),
        "application/json",
        &format!("{}.har", bin.id),
    ))
}

fn name_values(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<Value> {
    pairs
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect()
}

fn har_entry(
    req: &CapturedRequest,
    settings: &crate::model::BinSettings,
    public_base: Option<&str>,
) -> Value {
    let mime = req.header_str("content-type").unwrap_or_default();
    let mut request = json!({
        "method": req.method,
        "url": format!("{}{}", req.base_url(public_base), req.path_and_query()),
        "httpVersion": req.version,
        "cookies": [],
        "headers": name_values(req.headers.iter().map(|h| (h.name.clone(), h.value_lossy()))),
        "queryString": name_values(req.query_pairs()),
        "headersSize": -1,
        "bodySize": req.size(),
        "comment": format!("hookscope request {} from {}", req.id, req.remote_addr),
    });
    if !req.body.is_empty() {
        let post_data = match req.body_text() {
            Some(text) => json!({ "mimeType": mime, "text": text }),
            None => json!({
                "mimeType": mime,
                "text": base64::engine::general_purpose::STANDARD.encode(&req.body),
                "encoding": "base64",
                "comment": "the body is not UTF-8: text is its base64",
            }),
        };
        request["postData"] = post_data;
    }
    let status = settings.default_status;
    json!({
        "startedDateTime": req.received_at.to_rfc3339(),
        "time": 0,
        "request": request,
        "response": {
            "status": status,
            "statusText": axum::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or(""),
            "httpVersion": req.version,
            "cookies": [],
            "headers": name_values(settings.response_headers.iter().cloned()),
            "content": {
                "size": settings.default_content.len(),
                "mimeType": settings.default_content_type,
                "text": settings.default_content,
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": settings.default_content.len(),
            "comment": "the bin's current answer settings",
        },
        "cache": {},
        "timings": { "send": 0, "wait": 0, "receive": 0 },
        // HAR allows custom fields named with a leading underscore.
        "_signature": req.signature,
    })
}
