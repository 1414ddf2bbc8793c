//! `PUT /token/{id}/request/{rid}/response`: a forwarder relays the local
//! app's answer for a capture that waits for it (see `answers`), in
//! webhook.site's shape:
//! `{"status": 201, "content": "<base64 body>", "headers": {"name": "value"}}`.

use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::answers::AppAnswer;
use crate::error::AppError;
use crate::extract::BinPath;
use crate::state::AppState;

/// The body of `PUT /token/{bin}/request/{request}/response`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResponseBody {
    pub status: u16,
    /// The body in standard base64.
    #[serde(default)]
    pub content: String,
    /// Header name → value, or → list of values for a repeated header.
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
}

impl ResponseBody {
    pub fn into_answer(self) -> Result<AppAnswer, String> {
        let status = StatusCode::from_u16(self.status)
            .map_err(|_| format!("status {} is not an HTTP status", self.status))?;
        let body = base64::engine::general_purpose::STANDARD
            .decode(&self.content)
            .map_err(|_| "content must be the body in standard base64".to_owned())?;
        let mut headers = Vec::new();
        for (name, values) in self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{name:?} is not a header name"))?;
            let values = match values {
                Value::Array(values) => values,
                single => vec![single],
            };
            for value in values {
                let Value::String(value) = value else {
                    return Err(format!("header {name:?} must be a string or strings"));
                };
                let value = HeaderValue::from_str(&value)
                    .map_err(|_| format!("header {name:?} has an invalid value"))?;
                headers.push((header.clone(), value));
            }
        }
        Ok(AppAnswer {
            status,
            headers,
            body: body.into(),
        })
    }
}

/// `PUT /token/{bin}/request/{request}/response`: the answer for a capture
/// that waits in listen mode. With one instance, 404 when nothing waits
/// for it (any more); with several on one database, an answer no capture
/// here waits for is handed to the others through the database (whether
/// one waits there is not known here, so the request must only exist).
pub async fn put_response(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, request)): Path<(String, String)>,
    Json(body): Json<ResponseBody>,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let request = Uuid::try_parse(&request).map_err(|_| AppError::UnknownRequest)?;
    let answer = body.into_answer().map_err(AppError::BadRequest)?;
    let sent = answer.to_sent();
    if !state.pending.answer(bin, request, answer) {
        let relayed = state.store.is_shared()
            && state.store.request(bin, request).await?.is_some()
            && state.store.relay_answer(bin, request, sent).await?;
        if !relayed {
            return Err(AppError::NotWaiting);
        }
    }
    Ok(Json(serde_json::json!({"success": true})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_keeps_status_repeated_headers_and_body() {
        let answer = ResponseBody {
            status: 201,
            content: base64::engine::general_purpose::STANDARD.encode("hi"),
            headers: serde_json::from_value(serde_json::json!({"x-a": ["1", "2"], "x-b": "3"}))
                .expect("map"),
        }
        .into_answer()
        .expect("valid");
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(answer.headers.len(), 3);
        assert_eq!(&answer.body[..], b"hi");
    }
}
