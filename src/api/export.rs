//! A bin's requests as CSV, one row per request, for spreadsheets: the
//! API's `GET /token/{id}/requests.csv` (webhook.site documents no CSV
//! route; this one sits next to its `/requests`) and the dashboard's
//! `/view/{bin}/export.csv` both answer with [`csv_download`].
//!
//! Columns: `uuid`, `time` (RFC 3339, UTC), `method`, `url`, `ip`, `size`
//! (body bytes), `content_type`, `body_encoding` (`text` or `base64`) and
//! `body` (the body as text when it is UTF-8, else its base64). Quoting is
//! RFC 4180's.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and,
//! in some, tab or carriage return) as a formula, and captured text is
//! whatever a stranger sent. Such a text cell gets a leading `'`, which
//! spreadsheets show as "this is text"; so that the guard can be undone
//! exactly, a cell that already starts with `'` gets one too. Reading a
//! cell back: drop one leading `'` if there is one.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use uuid::Uuid;

use super::filter_from;
use crate::error::AppError;
use crate::extract::BinPath;
use crate::model::{CapturedRequest, Timestamp};
use crate::state::AppState;
use crate::store::{Page, RequestFilter, Store, StoreError};

/// Requests read from the store at a time, and so rows per body chunk.
const CHUNK: u32 = 500;

/// The header row.
/// The body stays where it was; the signature check, added later, comes
/// after it so readers that go by position keep working.
const COLUMNS: [&str; 11] = [
    "uuid",
    "time",
    "method",
    "url",
    "ip",
    "size",
    "content_type",
    "body_encoding",
    "body",
    "signature",
    "signature_reason",
];

/// Filters of a CSV export: the list's (`GET /token/{id}/requests`), read
/// as text and checked by [`filter_from`]. The dashboard's search box
/// sends its text as `q`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvParams {
    /// webhook.site's query language, as in the list (also as `q`).
    #[serde(alias = "q")]
    query: Option<String>,
    /// Received at or after, UTC: `2024-01-31 23:59:59` or `2024-01-31`.
    date_from: Option<String>,
    /// Received at or before, UTC.
    date_to: Option<String>,
    /// `oldest` (the default) or `newest` first.
    sorting: Option<String>,
}

/// `GET /token/{id}/requests.csv`: the bin's requests as CSV, oldest first
/// unless `sorting=newest`, filtered as the list is.
#[utoipa::path(
    get,
    path = "/token/{id}/requests.csv",
    tag = "requests",
    summary = "The bin's requests as CSV",
    description = "One row per request: time, method, URL, IP, size, content type, body as \
        text or base64, signature check (`valid`, `invalid`, empty) and its reason. Filtered \
        as the list is.",
    params(("id" = uuid::Uuid, Path, description = "The bin's id (webhook.site's token)"), CsvParams),
    responses(
        (status = 200, description = "CSV, one row per request", content_type = "text/csv"),
        (status = 400, description = "A malformed query, date or sorting", body = super::openapi::ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = super::openapi::ApiError),
        (status = 404, description = "No bin with this id", body = super::openapi::ApiError)
    )
)]
pub async fn requests_csv(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<CsvParams>,
) -> Result<Response, AppError> {
    csv_download(&state, bin.id, &params).await
}

/// The CSV export of `bin`, as an attachment.
pub async fn csv_download(
    state: &AppState,
    bin: Uuid,
    params: &CsvParams,
) -> Result<Response, AppError> {
    let mut filter = filter_from(
        params.query.as_deref(),
        params.date_from.as_deref(),
        params.date_to.as_deref(),
        params.sorting.as_deref(),
    )?;
    // Requests are read a page at a time by offset: ones that arrive
    // meanwhile would shift a newest-first export by a row. The export is
    // of the bin as it was when asked for.
    let now = Timestamp::now();
    filter.to = Some(filter.to.map_or(now, |to| to.min(now)));
    let public_base = state.config.public_base().map(str::to_owned);
    let rows = Rows {
        store: state.store.clone(),
        bin,
        filter,
        public_base,
        offset: 0,
        done: false,
        header: true,
    };
    let mut response = (StatusCode::OK, Body::from_stream(rows.into_stream())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{bin}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Where an export is in the bin: the body is written a page of requests
/// at a time, so a large bin is never held in memory whole.
struct Rows {
    store: Store,
    bin: Uuid,
    filter: RequestFilter,
    public_base: Option<String>,
    offset: u64,
    done: bool,
    /// The header row is still to be written.
    header: bool,
}

impl Rows {
    fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, CsvError>> + Send {
        futures_util::stream::unfold(self, |mut rows| async move {
            if rows.done {
                return None;
            }
            let chunk = rows.next_chunk().await;
            if chunk.is_err() {
                rows.done = true;
            }
            Some((chunk, rows))
        })
    }

    /// The CSV text of the next page of requests (after the header row,
    /// for the first).
    async fn next_chunk(&mut self) -> Result<Bytes, CsvError> {
        let requests = self
            .store
            .find_requests(
                self.bin,
                self.filter.clone(),
                Page {
                    offset: self.offset,
                    limit: CHUNK,
                },
            )
            .await?;
        self.offset += requests.len() as u64;
        self.done = requests.len() < CHUNK as usize;
        let mut out = csv::Writer::from_writer(Vec::new());
        if std::mem::take(&mut self.header) {
            out.write_record(COLUMNS)?;
        }
        for req in &requests {
            out.write_record(row(req, self.public_base.as_deref()))?;
        }
        out.into_inner()
            .map(Bytes::from)
            .map_err(|e| CsvError::Write(e.into_error().into()))
    }
}

/// Why an export stopped part-way (the client sees a cut-off download).
#[derive(Debug, thiserror::Error)]
enum CsvError {
    #[error("reading the requests: {0}")]
    Store(#[from] StoreError),
    #[error("writing the CSV: {0}")]
    Write(#[from] csv::Error),
}

/// One request's cells, in [`COLUMNS`] order.
fn row(req: &CapturedRequest, public_base: Option<&str>) -> [String; COLUMNS.len()] {
    let (encoding, body) = match req.body_text() {
        Some(text) => ("text", text.to_owned()),
        None => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&req.body),
        ),
    };
    let cells = [
        req.id.to_string(),
        req.received_at.to_rfc3339(),
        req.method.clone(),
        format!("{}{}", req.base_url(public_base), req.path_and_query()),
        req.ip().to_owned(),
        req.size().to_string(),
        req.header_str("content-type").unwrap_or_default(),
        encoding.to_owned(),
        body,
        // `valid` or `invalid`; empty when the bin checks no signatures.
        req.signature
            .as_ref()
            .map(|v| if v.valid { "valid" } else { "invalid" }.to_owned())
            .unwrap_or_default(),
        req.signature
            .as_ref()
            .map(|v| v.reason.clone())
            .unwrap_or_default(),
    ];
    cells.map(guard_formula)
}

/// A cell a spreadsheet would not run as a formula (see the module
/// comment): a leading `'` before `=`, `+`, `-`, `@`, tab, carriage return
/// or `'`.
fn guard_formula(cell: String) -> String {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'') => format!("'{cell}"),
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::guard_formula;

    #[test]
    fn formula_like_cells_get_a_leading_quote_and_others_are_kept() {
        for (cell, written) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'quoted", "''quoted"),
            ("plain", "plain"),
            ("", ""),
            ("1=1", "1=1"),
        ] {
            assert_eq!(guard_formula(cell.to_owned()), written, "{cell:?}");
        }
    }
}
