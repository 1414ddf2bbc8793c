//! Server-rendered pages: the visitor's way in (`/`), the bin dashboard,
//! body downloads, health and metrics.

mod curl;
mod detail;
mod diff;
mod export;
mod login;
mod resend;
mod settings;
mod verifiers;
mod xml;

use askama::Template;
use askama_web::WebTemplate;
use std::net::SocketAddr;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use uuid::Uuid;

use crate::cookies;
use crate::error::AppError;
use crate::extract::{has_api_key, BinPath, SameOrigin};
use crate::limits::Limits;
use crate::metrics::{StoreFigures, METRICS};
use crate::model::{base_url, Bin, ListRow, SignatureJson};
// The list and the detail format sizes and methods as the live feed does.
pub use crate::model::{human_size, method_class};
use crate::state::AppState;
use crate::store::{Count, Page, RequestFilter, RequestSummary, SearchQuery, Store, COUNT_AHEAD};
use detail::RequestDetail;
pub use diff::diff_page;
pub use export::{export_csv, export_har, export_json};
pub use login::{login, login_form, unlock};
pub use resend::resend_form;
pub use settings::{save_settings, settings};
pub use verifiers::{add_verifier, remove_verifier, verify_again};

/// Cookie that remembers the visitor's bins, oldest first.
const BINS_COOKIE: &str = "hookscope_bins";
/// Bins the cookie remembers.
const REMEMBERED_BINS: usize = 10;

/// `GET /`: the visitor's last live bin, else a new one.
/// Without the API key (when one is required) a new bin is not made: the
/// visitor is sent to the login page.
pub async fn home(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let store = &state.store;
    let mut known = remembered_bins(&headers);
    for &id in known.iter().rev() {
        if store.bin(id).await?.is_some() {
            return Ok(to_dashboard(id, &known));
        }
    }
    if !has_api_key(&state, &headers) {
        return Ok(Redirect::to("/login").into_response());
    }
    state.limits.allow_bin_creation(client.ip())?;
    let bin = Bin::new();
    store.create_bin(bin.clone()).await?;
    known.push(bin.id);
    Ok(to_dashboard(bin.id, &known))
}

/// `POST /new`: the "New URL" button.
pub async fn new_bin(
    State(store): State<Store>,
    State(limits): State<Limits>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    _: SameOrigin,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    limits.allow_bin_creation(client.ip())?;
    let bin = Bin::new();
    store.create_bin(bin.clone()).await?;
    let mut known = remembered_bins(&headers);
    known.push(bin.id);
    Ok(to_dashboard(bin.id, &known))
}

fn remembered_bins(headers: &HeaderMap) -> Vec<Uuid> {
    cookies::get(headers, BINS_COOKIE)
        .unwrap_or_default()
        .split('.')
        .filter_map(|id| Uuid::try_parse(id).ok())
        .collect()
}

/// 303 to the bin's dashboard, remembering it (last) in the cookie.
fn to_dashboard(bin: Uuid, known: &[Uuid]) -> Response {
    let mut response = Redirect::to(&format!("/view/{bin}")).into_response();
    remember(&mut response, &with_last(known, bin));
    response
}

/// `known` with `bin` moved (or added) to the end, at most
/// [`REMEMBERED_BINS`] of them.
fn with_last(known: &[Uuid], bin: Uuid) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = known.iter().copied().filter(|&id| id != bin).collect();
    ids.push(bin);
    let keep = ids.len().saturating_sub(REMEMBERED_BINS);
    ids.split_off(keep)
}

/// Sets the cookie that remembers `ids` on `response`.
fn remember(response: &mut Response, ids: &[Uuid]) {
    let list: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    cookies::set(response, BINS_COOKIE, list.join("."), Some(cookies::YEAR));
}

/// Scheme and host this server is reached at, for URLs shown to users.
fn site_base(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    base_url(state.config.public_base(), host)
}

#[derive(Debug, Deserialize)]
pub struct ViewParams {
    page: Option<u64>,
    /// The selected request.
    r: Option<String>,
    /// Search text (see `store::SearchQuery`).
    q: Option<String>,
    /// Two request ids, `a,b`: the compare page instead.
    diff: Option<String>,
}

/// One line of the request list.
struct Row {
    id: Uuid,
    method: String,
    /// The method as a CSS class suffix (`m-post`); odd methods get `m-other`.
    method_class: &'static str,
    target: String,
    received: String,
    received_iso: String,
    size: String,
    /// A short name of the body's type (`json`, `form`…), and its full
    /// `Content-Type`.
    kind: Option<(String, String)>,
    ip: String,
    /// The signature check's verdict (badge, reason as its title).
    signature: Option<SignatureJson>,
    selected: bool,
}

impl Row {
    fn new(summary: &RequestSummary, selected: Option<Uuid>) -> Self {
        let ListRow {
            method_class,
            target,
            received,
            received_iso,
            size,
            kind,
            ip,
            signature,
        } = ListRow::new(
            &summary.method,
            &summary.path,
            summary.query.as_deref(),
            summary.received_at,
            summary.size,
            summary.content_type.as_deref(),
            &summary.remote_addr,
            summary.signature.as_ref(),
        );
        Self {
            id: summary.id,
            method: summary.method.clone(),
            method_class,
            target,
            received,
            received_iso,
            size,
            kind: kind.map(|badge| (badge.name, badge.content_type)),
            ip,
            signature,
            selected: selected == Some(summary.id),
        }
    }
}

/// A bin this browser made or opened, for the "your bins" list.
struct RememberedBin {
    id: Uuid,
    alias: Option<String>,
    current: bool,
}

/// Longest "copy as curl" line inlined in the page; a longer one is
/// fetched from `/view/{bin}/{request}/curl` when copied.
const CURL_INLINE_LIMIT: usize = 8 * 1024;

#[derive(Template, WebTemplate)]
#[template(path = "view.html")]
struct ViewPage {
    bin: Uuid,
    /// The bin's name and description, when it has them.
    alias: Option<String>,
    description: Option<String>,
    capture_url: String,
    curl_example: String,
    rows: Vec<Row>,
    /// How many match; a search counts only so far (shown as "10000+").
    total: Count,
    page: u64,
    pages: u64,
    selected: Option<RequestDetail>,
    /// A request was chosen (`?r=`), not just the newest shown: on a phone
    /// the detail then replaces the list.
    picked: bool,
    /// The search text, and the same as a URL query parameter (`&q=…`).
    search: String,
    search_param: String,
    /// Why the search text is not a query (it then lists nothing).
    search_error: Option<String>,
    /// "Copy as curl" of the selected request; `None` inside when it is
    /// too long to inline.
    curl: Option<curl::CurlCommand>,
    curl_inline: bool,
    remembered: Vec<RememberedBin>,
    /// The selected request's "Resend" form and list.
    resend_panel: Option<resend::ResendPanel>,
}

/// `GET /view/{bin}`: the dashboard. Opening it remembers the bin in the
/// visitor's cookie.
pub async fn view(
    State(state): State<AppState>,
    BinPath(found): BinPath,
    Query(params): Query<ViewParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(ids) = params.diff.as_deref() {
        return Ok(diff::show(&state.store, found.id, [ids]).await);
    }
    let store = &state.store;
    let (bin, settings) = (found.id, found.settings.clone());
    let search = params.q.clone().unwrap_or_default();
    // A malformed search lists nothing and says why (status 400), on the
    // dashboard itself so the visitor can correct it.
    let (query, search_error) = match SearchQuery::parse(&search) {
        Ok(query) => (Some(query), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let per_page = u64::from(state.config.page_size.max(1));
    let (total, page, pages, summaries) = match query {
        Some(query) => {
            let filter = RequestFilter {
                query,
                ..RequestFilter::default()
            };
            let page = params.page.unwrap_or(1).max(1);
            let ahead = page.saturating_mul(per_page).saturating_add(COUNT_AHEAD);
            let total = store.count_matching(bin, filter.clone(), ahead).await?;
            // Past the last page, show the last one.
            let pages = total.n.div_ceil(per_page).max(1);
            let page = page.min(pages);
            let summaries = store
                .find_summaries(
                    bin,
                    filter,
                    Page {
                        offset: (page - 1) * per_page,
                        limit: state.config.page_size.max(1),
                    },
                )
                .await?;
            (total, page, pages, summaries)
        }
        None => (Count { n: 0, exact: true }, 1, 1, Vec::new()),
    };
    let chosen = params.r.as_deref().filter(|r| !r.is_empty());
    let wanted = match chosen {
        Some(id) => Some(Uuid::try_parse(id).map_err(|_| AppError::UnknownRequest)?),
        None => summaries.first().map(|s| s.id),
    };
    let capture_url = format!("{}/{bin}", site_base(&state, &headers));
    let (selected, curl) = match wanted {
        Some(id) => {
            let req = store
                .request(bin, id)
                .await?
                .ok_or(AppError::UnknownRequest)?;
            let mut detail = RequestDetail::new(&req, state.config.public_base());
            detail.answered = store
                .sent_response(bin, id)
                .await?
                .as_ref()
                .map(detail::Answered::new);
            (Some(detail), Some(curl_of(&req, &capture_url)))
        }
        None => (None, None),
    };
    let resend_panel = match &selected {
        Some(detail) => Some(resend::panel(&state, &headers, bin, detail.id).await?),
        None => None,
    };
    let curl_inline = curl
        .as_ref()
        .is_some_and(|c| c.line.len() <= CURL_INLINE_LIMIT);
    let curl_example = format!(
        "curl -X POST '{capture_url}/hello?source=curl' -H 'Content-Type: application/json' -d '{{\"hello\":\"world\"}}'"
    );
    let selected_id = selected.as_ref().map(|d| d.id);
    let rows = summaries
        .iter()
        .map(|summary| Row::new(summary, selected_id))
        .collect();
    let search_param = if search.is_empty() {
        String::new()
    } else {
        format!(
            "&q={}",
            form_urlencoded::byte_serialize(search.as_bytes()).collect::<String>()
        )
    };
    let known = with_last(&remembered_bins(&headers), bin);
    let mut remembered = Vec::new();
    for &id in known.iter().rev() {
        if let Some(other) = store.bin(id).await? {
            // The cookie is the visitor's to edit: a password-guarded
            // bin's name shows only on its own (unlocked) page.
            let guarded = other.settings.password_hash.is_some() && id != bin;
            remembered.push(RememberedBin {
                id,
                alias: other.settings.alias.clone().filter(|_| !guarded),
                current: id == bin,
            });
        }
    }
    let page = ViewPage {
        bin,
        alias: settings.alias,
        description: settings.description,
        capture_url,
        curl_example,
        rows,
        total,
        page,
        pages,
        selected,
        picked: chosen.is_some(),
        search,
        search_param,
        search_error: search_error.clone(),
        curl,
        curl_inline,
        remembered,
        resend_panel,
    };
    let status = if search_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")], page).into_response();
    remember(&mut response, &known);
    Ok(response)
}

/// "Copy as curl" of `req`, sent to the same place below `capture_url`.
fn curl_of(req: &crate::model::CapturedRequest, capture_url: &str) -> curl::CurlCommand {
    let query = req.query.as_deref().map(|q| format!("?{q}"));
    let url = format!(
        "{capture_url}{}{}",
        req.sub_path(),
        query.unwrap_or_default()
    );
    curl::curl_command(req, &url)
}

/// The stored request `request` of the bin `bin` (both URL segments).
async fn find_request(
    store: &Store,
    bin: Uuid,
    request: &str,
) -> Result<crate::model::CapturedRequest, AppError> {
    let id = Uuid::try_parse(request).map_err(|_| AppError::UnknownRequest)?;
    store
        .request(bin, id)
        .await?
        .ok_or(AppError::UnknownRequest)
}

/// `GET /view/{bin}/{request}/curl`: the whole "copy as curl" command as
/// text (the page inlines only short ones).
pub async fn curl_text(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, request)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let req = find_request(&state.store, bin.id, &request).await?;
    let capture_url = format!("{}/{}", site_base(&state, &headers), req.bin);
    Ok(plain_text(curl_of(&req, &capture_url).line.into()))
}

/// `GET /view/{bin}/{request}/text`: the whole body as text ("show all"
/// under a capped preview); bytes that are not UTF-8 show as U+FFFD.
pub async fn body_text(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    Path((_, request)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let req = find_request(&store, bin.id, &request).await?;
    let text = match String::from_utf8_lossy(&req.body) {
        std::borrow::Cow::Borrowed(_) => req.body,
        std::borrow::Cow::Owned(text) => text.into(),
    };
    Ok(plain_text(text))
}

/// Text a browser shows as text and nothing else: `text/plain`, `nosniff`
/// (a default header) and a sandbox that runs nothing.
fn plain_text(text: bytes::Bytes) -> Response {
    let mut response = (StatusCode::OK, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /view/{bin}/{request}/part/{n}`: one part of a multipart body
/// (from 1), as a download.
pub async fn download_part(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    Path((_, request, number)): Path<(String, String, usize)>,
) -> Result<Response, AppError> {
    let req = find_request(&store, bin.id, &request).await?;
    let content_type = req.header_str("content-type").unwrap_or_default();
    // No parts (so 404) unless the body is multipart within the limit.
    let mut parts = crate::multipart::parts(&req.body, &content_type);
    let index = number.checked_sub(1).ok_or(AppError::NotFound)?;
    if index >= parts.len() {
        return Err(AppError::NotFound);
    }
    let part = parts.swap_remove(index);
    let disposition = crate::multipart::content_disposition(&part, number);
    Ok(download(part.bytes, &disposition))
}

/// `POST /view/{bin}/{request}/delete`: the delete button of one request.
pub async fn delete_request(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    Path((_, request)): Path<(String, String)>,
    _: SameOrigin,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let id = Uuid::try_parse(&request).map_err(|_| AppError::UnknownRequest)?;
    if !store.delete_request(bin, id).await? {
        return Err(AppError::UnknownRequest);
    }
    Ok(Redirect::to(&format!("/view/{bin}")).into_response())
}

/// The "clear all" form: only `confirm=yes` deletes.
#[derive(Debug, Deserialize)]
pub struct ClearForm {
    confirm: Option<String>,
}

/// The page that asks before "clear all" deletes anything.
#[derive(Template, WebTemplate)]
#[template(path = "confirm_clear.html")]
struct ConfirmClearPage {
    bin: Uuid,
    count: u64,
}

/// `POST /view/{bin}/clear`: the "clear all" button; the bin stays. Without
/// `confirm=yes` it deletes nothing and asks first (a page, so that the
/// question works without JavaScript too).
pub async fn clear(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    _: SameOrigin,
    form: Result<Form<ClearForm>, FormRejection>,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let confirmed = form.is_ok_and(|Form(f)| f.confirm.as_deref() == Some("yes"));
    if !confirmed {
        let count = store.count_requests(bin).await?;
        let page = ConfirmClearPage { bin, count };
        return Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response());
    }
    store.clear_requests(bin).await?;
    Ok(Redirect::to(&format!("/view/{bin}")).into_response())
}

/// `GET /view/{bin}/{request}/body`: the exact body bytes, as a download
/// that no browser will render.
pub async fn download_body(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    Path((_, request)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let req = find_request(&store, bin.id, &request).await?;
    Ok(attachment(req.body, &format!("{}.bin", req.id)))
}

/// Bytes served so that a browser saves them and never renders them.
pub fn attachment(body: bytes::Bytes, filename: &str) -> Response {
    download(body, &format!("attachment; filename=\"{filename}\""))
}

/// Bytes served as [`attachment`] does, with a `Content-Disposition` of
/// the caller's.
fn download(body: bytes::Bytes, disposition: &str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    response
}

/// `GET /healthz`: 200 when the database answers, else 503.
pub async fn healthz(State(store): State<Store>) -> Result<&'static str, AppError> {
    store.ping().await?;
    Ok("ok\n")
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(store): State<Store>) -> Result<Response, AppError> {
    let figures = StoreFigures {
        bins: store.count_bins().await?,
        index_skipped: store.index_skipped(),
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(figures),
    )
        .into_response())
}
