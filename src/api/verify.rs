//! `POST /token/{id}/verify`: "verify again", checking a bin's stored
//! requests with its verifiers as they are now (after adding or changing
//! one, the requests captured before get a verdict too).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa::ToSchema;

use super::json;
use super::openapi::ApiError;
use crate::error::AppError;
use crate::extract::BinPath;
use crate::state::AppState;

/// What a "verify again" found.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct VerifyCounts {
    /// Stored requests checked (every one the bin has).
    pub checked: u64,
    pub valid: u64,
    pub invalid: u64,
}

/// `POST /token/{id}/verify` → 200 and the counts.
#[utoipa::path(
    post,
    path = "/token/{id}/verify",
    tag = "tokens",
    summary = "Check the bin's stored requests again with its verifiers",
    description = "Every stored request gets a new `signature` verdict from the bin's \
        verifiers as they are now (none when the bin has none). Requests are checked in \
        small batches, so captures keep flowing meanwhile.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)")),
    responses(
        (status = 200, description = "How many were checked, valid and invalid", body = VerifyCounts),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError)
    )
)]
pub async fn verify_again(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
) -> Result<Response, AppError> {
    let found = state
        .store
        .verify_again(bin.id, &bin.settings.verifiers)
        .await?;
    Ok(json(
        StatusCode::OK,
        &VerifyCounts {
            checked: found.checked,
            valid: found.valid,
            invalid: found.invalid,
        },
    ))
}
