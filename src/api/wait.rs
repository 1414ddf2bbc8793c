//! `GET /token/{id}/requests/wait`: a long poll for the first request
//! matching a query, for test pipelines that trigger a webhook and then
//! assert on what it sent (`hookscope wait` is its client).
//!
//! A waiter joins the bin's hub channel first and only then reads the
//! store, so a request that commits while it reads still rings it. Each
//! ring (a request this instance committed, or, with several instances on
//! PostgreSQL, one another instance committed) costs one store query: the
//! first match after the cursor, oldest first. A burst of rings that
//! queued while that query ran is taken as one. Waiters count as live
//! viewers of the bin (`--max-viewers-per-bin`): each holds a receiver of
//! the bin's channel like a dashboard does.
//!
//! The cursor is `after` (a request id; the waiter answers with the first
//! match committed after it, in commit order, even one stored before the
//! wait began) or, without it, the bin's newest request when the wait
//! begins: only requests arriving from then on count. A client that must
//! not miss one across its own restart passes `after` (`hookscope wait`
//! does, and prints the cursor it uses).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;
use utoipa::IntoParams;
use uuid::Uuid;

use super::json;
use super::openapi::ApiError;
use super::requests::request_json;
use crate::error::{error_response, AppError};
use crate::extract::BinPath;
use crate::model::{CapturedRequest, RequestJson};
use crate::state::AppState;
use crate::store::{Page, RequestFilter, SearchQuery, Store, StoreError};

/// Seconds a wait lasts unless `timeout` says otherwise, and the most it
/// may ask for: a proxy in front of the server may cut longer polls, and a
/// client wanting more asks again with the same `after`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const MAX_TIMEOUT_SECS: u64 = 300;

/// Query of `GET /token/{id}/requests/wait`, read as text and checked
/// here so a bad value gets a one-line 400.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// The search language of `GET /token/{id}/requests`; none: any
    /// request.
    query: Option<String>,
    /// Seconds to wait, 0–300 (30 unless given; 0 only looks at what is
    /// stored).
    timeout: Option<String>,
    /// A request id: answer with the first match committed after it, even
    /// one stored before the wait began. Without it, only requests that
    /// arrive after the wait began count.
    after: Option<String>,
}

/// `GET /token/{id}/requests/wait`.
#[utoipa::path(
    get,
    path = "/token/{id}/requests/wait",
    tag = "requests",
    summary = "Wait for the first request matching a query",
    description = "A long poll: answers with the first request, in commit order, that matches \
        `query` and was committed after `after` (without `after`: that arrives after the wait \
        began), as soon as it is stored; 408 when none does within `timeout` seconds. \
        To resume after a dropped connection, ask again with the same `after`.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), WaitParams),
    responses(
        (status = 200, description = "The first matching request", body = RequestJson),
        (status = 400, description = "A malformed query (the message says where), timeout or after", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError),
        (status = 408, description = "No request matched within the timeout", body = ApiError),
        (status = 429, description = "The bin has its maximum of live viewers and waiters", body = ApiError),
        (status = 503, description = "The server is shutting down: ask again with the same `after`", body = ApiError)
    )
)]
pub async fn wait(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<WaitParams>,
) -> Result<Response, AppError> {
    let query_text = params.query.as_deref().unwrap_or("").trim();
    let query = SearchQuery::parse(query_text).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let timeout = timeout_of(params.timeout.as_deref())?;
    let after = params.after.as_deref().map(after_of).transpose()?;
    let deadline = Instant::now() + timeout;
    let max_viewers = state.config.max_viewers_per_bin;
    // Joined before the store is read: a request committed from here on
    // rings this waiter, so none falls between a read and the wait.
    let mut waiter = state
        .hub
        .join(bin.id, max_viewers)
        .ok_or(AppError::TooManyViewers(max_viewers))?;
    let after = match after {
        Some(after) => Some(after),
        None => newest(&state.store, bin.id).await?,
    };
    let filter = RequestFilter {
        query,
        after,
        oldest_first: true,
        ..RequestFilter::default()
    };
    loop {
        if let Some(found) = first_match(&state.store, bin.id, &filter).await? {
            return Ok(json(StatusCode::OK, &request_json(&state, &found)));
        }
        tokio::select! {
            signal = waiter.receiver.recv() => {
                if let Err(RecvError::Closed) = signal {
                    return Err(AppError::Store(StoreError::Closed));
                }
                // Rings that queued meanwhile are answered by the next read.
                while let Ok(_) | Err(TryRecvError::Lagged(_)) = waiter.receiver.try_recv() {}
            }
            () = tokio::time::sleep_until(deadline) => break,
            () = state.shutdown.cancelled() => {
                return Ok(error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down: ask again with the same after= to resume"
                        .to_owned(),
                ));
            }
        }
    }
    // A ring and the deadline may come together: one last look.
    if let Some(found) = first_match(&state.store, bin.id, &filter).await? {
        return Ok(json(StatusCode::OK, &request_json(&state, &found)));
    }
    let what = if query_text.is_empty() {
        String::from("no request arrived")
    } else {
        format!("no request matched {query_text:?}")
    };
    Ok(error_response(
        StatusCode::REQUEST_TIMEOUT,
        format!("{what} within {} s", timeout.as_secs()),
    ))
}

/// The oldest request of `bin` that `filter` lets through.
async fn first_match(
    store: &Store,
    bin: Uuid,
    filter: &RequestFilter,
) -> Result<Option<CapturedRequest>, StoreError> {
    let first = Page {
        offset: 0,
        limit: 1,
    };
    let found = store.find_requests(bin, filter.clone(), first).await?;
    Ok(found.into_iter().next())
}

/// The id of the newest request of `bin` (in commit order), if any.
async fn newest(store: &Store, bin: Uuid) -> Result<Option<Uuid>, StoreError> {
    let first = Page {
        offset: 0,
        limit: 1,
    };
    let found = store.list_requests(bin, first).await?;
    Ok(found.first().map(|summary| summary.id))
}

fn timeout_of(text: Option<&str>) -> Result<Duration, AppError> {
    let text = text.map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Ok(Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    }
    match text.parse::<u64>() {
        Ok(secs) if secs <= MAX_TIMEOUT_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(AppError::BadRequest(format!(
            "timeout must be a whole number of seconds from 0 to {MAX_TIMEOUT_SECS}, not {text:?}"
        ))),
    }
}

fn after_of(text: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(text.trim()).map_err(|_| {
        AppError::BadRequest(format!("after must be a request id (a UUID), not {text:?}"))
    })
}
