//! Server-rendered pages: the visitor's way in (`/`), the bin dashboard,
//! body downloads, health and metrics.

mod curl;
mod detail;
mod export;
mod settings;

use askama::Template;
use askama_web::WebTemplate;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::{find_bin, parse_bin, AppState};
use crate::error::AppError;
use crate::limits::Limits;
use crate::metrics::{StoreFigures, METRICS};
use crate::model::{sub_path_of, Bin};
use crate::store::{Page, RequestFilter, RequestSummary, SearchQuery, Store};
use detail::RequestDetail;
pub use export::{export_har, export_json};
pub use settings::{save_settings, settings};

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
    if !crate::auth::has_api_key(&state, &headers) {
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
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_same_origin(&headers)?;
    limits.allow_bin_creation(client.ip())?;
    let bin = Bin::new();
    store.create_bin(bin.clone()).await?;
    let mut known = remembered_bins(&headers);
    known.push(bin.id);
    Ok(to_dashboard(bin.id, &known))
}

fn remembered_bins(headers: &HeaderMap) -> Vec<Uuid> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(BINS_COOKIE)?.strip_prefix('='))
        .flat_map(|list| list.split('.'))
        .filter_map(|id| Uuid::try_parse(id).ok())
        .collect()
}

/// 303 to the bin's dashboard, remembering it (last) in the cookie.
fn to_dashboard(bin: Uuid, known: &[Uuid]) -> Response {
    let mut ids: Vec<Uuid> = known.iter().copied().filter(|&id| id != bin).collect();
    ids.push(bin);
    let keep = ids.len().saturating_sub(REMEMBERED_BINS);
    let list: Vec<String> = ids[keep..].iter().map(Uuid::to_string).collect();
    let cookie = format!(
        "{BINS_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        list.join(".")
    );
    let mut response = Redirect::to(&format!("/view/{bin}")).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Refuses form posts made by another site's page. Browsers say where a
/// request comes from in `Sec-Fetch-Site` (or at least `Origin`); clients
/// that send neither are not browsers and cannot be tricked into posting.
pub(crate) fn require_same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = value("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(AppError::CrossSite),
        };
    }
    match (value("origin"), value("host")) {
        (None, _) => Ok(()),
        (Some(origin), Some(host))
            if origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest == host) =>
        {
            Ok(())
        }
        _ => Err(AppError::CrossSite),
    }
}

/// Scheme and host this server is reached at, for URLs shown to users.
fn site_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = state.config.public_base() {
        return base.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[derive(Debug, Deserialize)]
pub struct ViewParams {
    page: Option<u64>,
    /// The selected request.
    r: Option<String>,
    /// Search text (see `store::SearchQuery`).
    q: Option<String>,
}

/// One line of the request list.
struct Row {
    id: Uuid,
    method: String,
    target: String,
    received: String,
    received_iso: String,
    size: String,
    ip: String,
    selected: bool,
}

impl Row {
    fn new(summary: &RequestSummary, selected: Option<Uuid>) -> Self {
        let path = match sub_path_of(&summary.path) {
            "" => "/",
            sub => sub,
        };
        let target = match &summary.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        Self {
            id: summary.id,
            method: summary.method.clone(),
            target,
            received: summary.received_at.to_sql_datetime(),
            received_iso: summary.received_at.to_rfc3339(),
            size: human_size(summary.size),
            ip: ip_of(&summary.remote_addr).to_owned(),
            selected: selected == Some(summary.id),
        }
    }
}

fn ip_of(remote_addr: &str) -> &str {
    match remote_addr.rsplit_once(':') {
        Some((ip, _)) => ip.trim_start_matches('[').trim_end_matches(']'),
        None => remote_addr,
    }
}

pub fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

#[derive(Template, WebTemplate)]
#[template(path = "view.html")]
struct ViewPage {
    asset_version: &'static str,
    bin: Uuid,
    /// The bin's name and description, when it has them.
    alias: Option<String>,
    description: Option<String>,
    capture_url: String,
    curl_example: String,
    rows: Vec<Row>,
    total: u64,
    page: u64,
    pages: u64,
    selected: Option<RequestDetail>,
    /// The search text, and the same as a URL query parameter (`&q=…`).
    search: String,
    search_param: String,
    /// "Copy as curl" of the selected request.
    curl: Option<curl::CurlCommand>,
}

/// `GET /view/{bin}`: the dashboard.
pub async fn view(
    State(state): State<AppState>,
    Path(bin): Path<String>,
    Query(params): Query<ViewParams>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    let store = &state.store;
    let found = find_bin(store, &bin).await?;
    let (bin, settings) = (found.id, found.settings.clone());
    let search = params.q.clone().unwrap_or_default();
    let filter = RequestFilter {
        query: SearchQuery::parse(&search),
        ..RequestFilter::default()
    };
    let per_page = u64::from(state.config.page_size.max(1));
    let total = store.count_matching(bin, filter.clone()).await?;
    let pages = total.div_ceil(per_page).max(1);
    let page = params.page.unwrap_or(1).clamp(1, pages);
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
    let wanted = match params.r.as_deref().filter(|r| !r.is_empty()) {
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
            let query = req.query.as_deref().map(|q| format!("?{q}"));
            let url = format!(
                "{capture_url}{}{}",
                req.sub_path(),
                query.unwrap_or_default()
            );
            let mut detail = RequestDetail::new(&req, state.config.public_base()).await;
            detail.answered = store
                .sent_response(bin, id)
                .await?
                .as_ref()
                .map(detail::Answered::new);
            (Some(detail), Some(curl::curl_command(&req, &url)))
        }
        None => (None, None),
    };
    let curl_example = format!(
        "curl -X POST '{capture_url}/hello?source=curl' -H 'Content-Type: application/json' -d '{{\"hello\":\"world\"}}'"
    );
    let selected_id = selected.as_ref().map(|d| d.id);
    let search_param = if search.is_empty() {
        String::new()
    } else {
        format!(
            "&q={}",
            form_urlencoded::byte_serialize(search.as_bytes()).collect::<String>()
        )
    };
    let page = ViewPage {
        asset_version: crate::assets::version(),
        bin,
        alias: settings.alias,
        description: settings.description,
        capture_url,
        curl_example,
        rows: summaries.iter().map(|s| Row::new(s, selected_id)).collect(),
        total,
        page,
        pages,
        selected,
        search,
        search_param,
        curl,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page))
}

/// `POST /view/{bin}/{request}/delete`: the delete button of one request.
pub async fn delete_request(
    State(store): State<Store>,
    Path((bin, request)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_same_origin(&headers)?;
    let bin = find_bin(&store, &bin).await?.id;
    let id = Uuid::try_parse(&request).map_err(|_| AppError::UnknownRequest)?;
    if !store.delete_request(bin, id).await? {
        return Err(AppError::UnknownRequest);
    }
    Ok(Redirect::to(&format!("/view/{bin}")).into_response())
}

/// `POST /view/{bin}/clear`: the "clear all" button; the bin stays.
pub async fn clear(
    State(store): State<Store>,
    Path(bin): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_same_origin(&headers)?;
    let bin = find_bin(&store, &bin).await?.id;
    store.clear_requests(bin).await?;
    Ok(Redirect::to(&format!("/view/{bin}")).into_response())
}

/// `GET /view/{bin}/{request}/body`: the exact body bytes, as a download
/// that no browser will render.
pub async fn download_body(
    State(store): State<Store>,
    Path((bin, request)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let bin = parse_bin(&bin)?;
    let id = Uuid::try_parse(&request).map_err(|_| AppError::UnknownRequest)?;
    let req = store
        .request(bin, id)
        .await?
        .ok_or(AppError::UnknownRequest)?;
    Ok(attachment(req.body, &format!("{id}.bin")))
}

/// Bytes served so that a browser saves them and never renders them.
pub fn attachment(body: bytes::Bytes, filename: &str) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
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
