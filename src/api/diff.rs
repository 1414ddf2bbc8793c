//! `GET /token/{id}/diff?a=…&b=…`: what differs between two of a bin's
//! requests (see `crate::diff`), as JSON.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::json;
use super::openapi::ApiError;
use crate::diff::{chosen_pair, compare, RequestDiff};
use crate::error::{error_response, AppError};
use crate::extract::BinPath;
use crate::model::CapturedRequest;
use crate::store::Store;

/// Query of `GET /token/{id}/diff`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The first request's id (the "old" side).
    a: Option<String>,
    /// The second request's id (the "new" side).
    b: Option<String>,
}

/// The two requests of `bin` named by `ids` (a list of ids, each maybe
/// `a,b`), or the refusal to show: 400 unless they are two different ids,
/// 404 naming the one this bin does not have.
pub async fn requests_to_compare<'a>(
    store: &Store,
    bin: Uuid,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<(CapturedRequest, CapturedRequest), Response> {
    let (a, b) =
        chosen_pair(ids).map_err(|reason| error_response(StatusCode::BAD_REQUEST, reason))?;
    let mut found = Vec::with_capacity(2);
    for id in [a, b] {
        let req = store
            .request(bin, id)
            .await
            .map_err(|e| AppError::from(e).into_response())?
            .ok_or_else(|| {
                error_response(
                    StatusCode::NOT_FOUND,
                    format!("no request {id} in this bin (deleted, or another bin's)"),
                )
            })?;
        found.push(req);
    }
    let b = found.pop();
    match (found.pop(), b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(AppError::UnknownRequest.into_response()),
    }
}

/// [`compare`] off the async workers: two large bodies take a while.
pub async fn compared(a: &CapturedRequest, b: &CapturedRequest) -> Result<RequestDiff, Response> {
    let (a, b) = (a.clone(), b.clone());
    tokio::task::spawn_blocking(move || compare(&a, &b))
        .await
        // Fails only as the runtime shuts down (or on a bug in `compare`).
        .map_err(|_| AppError::Store(crate::store::StoreError::Closed).into_response())
}

/// `GET /token/{id}/diff?a=…&b=…`.
#[utoipa::path(
    get,
    path = "/token/{id}/diff",
    tag = "requests",
    summary = "What differs between two requests",
    description = "Method, path below the bin, query, headers (by case-insensitive name; \
        repeated ones by value; order) and body: JSON by path (`$.data.amount`), forms by field, \
        text by line, other bytes by size and first differing offset. Each section lists at most \
        200 changes and counts the rest in `more`.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)"), DiffParams),
    responses(
        (status = 200, description = "The differences from `a` to `b`", body = RequestDiff),
        (status = 400, description = "Not two different request ids", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id, or one of the requests is not in it", body = ApiError)
    )
)]
pub async fn diff(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    Query(params): Query<DiffParams>,
) -> Result<Response, Response> {
    let ids = [params.a.as_deref(), params.b.as_deref()];
    let (a, b) = requests_to_compare(&store, bin.id, ids.into_iter().flatten()).await?;
    Ok(json(StatusCode::OK, &compared(&a, &b).await?))
}
