//! The JSON API, compatible with webhook.site's public token API: same
//! paths, field names, status codes and shapes, so its clients work by
//! changing the base URL. Errors are `{"error": …, "message": …}` (the
//! `negotiate` middleware renders every 4xx under `/token` as JSON).
//! Next to it: the CSV export (`export`), the live channel webhook.site's
//! CLI listens on (`echo`), the API's OpenAPI description (`openapi`), the
//! long poll for a request that `hookscope wait` uses (`wait`), and the
//! compare of two requests (`diff`).

mod answers;
mod diff;
pub mod echo;
mod export;
pub mod openapi;
mod requests;
pub mod resend;
mod tokens;
mod verify;
mod wait;

pub use answers::put_response;
pub use diff::{compared, diff, requests_to_compare};
pub use export::{csv_download, requests_csv, CsvParams};
pub use requests::{clear, delete_request, download, filter_from, latest, list, raw, request};
pub use tokens::{
    checked_verifiers, create, delete, read, taken_alias, toggle_cors, update, BinInput, BinJson,
    SettingError,
};
pub use verify::verify_again;
pub use wait::{
    wait, DEFAULT_TIMEOUT_SECS as WAIT_DEFAULT_SECS, MAX_TIMEOUT_SECS as WAIT_MAX_SECS,
};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AppError;

/// A JSON answer with a status.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Parses a JSON request body: empty means "nothing given", malformed JSON
/// is a 400, well-formed JSON of the wrong shape a 422. The content type is
/// not checked: clients of webhook.site's API do not all send one.
fn parse_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, AppError> {
    if body.trim_ascii().is_empty() {
        return Ok(T::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let kind = match &value {
        serde_json::Value::Object(_) => {
            return serde_json::from_value(value)
                .map_err(|e| AppError::Invalid(format!("invalid field: {e}")))
        }
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Null => "null",
    };
    Err(AppError::Invalid(format!(
        "the body must be a JSON object like {{\"default_status\": 200}}, not {kind}"
    )))
}
