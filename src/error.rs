//! The handlers' error type. Each variant maps to a status and a one-line
//! reason; server-side detail is logged, never shown. [`negotiate`] renders
//! the reason as JSON for API clients, a page for browsers and plain text
//! for everyone else (webhook senders, curl).

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::limits::RateLimited;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no bin with this id: open / to get a new URL")]
    UnknownBin,
    #[error("no such request in this bin")]
    UnknownRequest,
    #[error("not found")]
    NotFound,
    #[error("no capture is waiting for an answer to this request (answered already or timed out)")]
    NotWaiting,
    #[error("body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input with a value we cannot accept (e.g. status 999).
    #[error("{0}")]
    Invalid(String),
    /// Missing or wrong API key or bin password; the reason says which.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("cross-site form submissions are refused")]
    CrossSite,
    #[error("{reason}; retry in {retry_after_secs} s")]
    RateLimited {
        reason: &'static str,
        retry_after_secs: u64,
    },
    #[error("this bin already has its maximum of {0} live viewers")]
    TooManyViewers(usize),
    #[error("storage is unavailable, try again")]
    Store(#[from] StoreError),
}

/// A password the settings cannot take is the caller's 422.
impl From<crate::auth::PasswordError> for AppError {
    fn from(e: crate::auth::PasswordError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// The status and reason of an error response, kept on the response so
/// [`negotiate`] can re-render it in the client's format.
#[derive(Debug, Clone)]
pub struct ErrorReason(pub String);

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownBin | Self::UnknownRequest | Self::NotFound | Self::NotWaiting => {
                StatusCode::NOT_FOUND
            }
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::CrossSite => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::TooManyViewers(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Store(StoreError::TooManyBins(_)) => StatusCode::TOO_MANY_REQUESTS,
            Self::Store(StoreError::UnknownBin) => StatusCode::NOT_FOUND,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Store(e) = &self {
            if self.status().is_server_error() {
                tracing::error!(error = %e, "store error");
            }
        }
        let reason = match &self {
            Self::Store(StoreError::UnknownBin) => Self::UnknownBin.to_string(),
            Self::Store(e @ StoreError::TooManyBins(_)) => e.to_string(),
            other => other.to_string(),
        };
        let mut response = error_response(self.status(), reason);
        if let Self::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<RateLimited> for AppError {
    fn from(limited: RateLimited) -> Self {
        Self::RateLimited {
            reason: limited.reason,
            retry_after_secs: limited.retry_after_secs,
        }
    }
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        AppError::from(self).into_response()
    }
}

/// A plain-text error response carrying its [`ErrorReason`].
pub fn error_response(status: StatusCode, reason: String) -> Response {
    let mut response = (status, format!("{reason}\n")).into_response();
    response.extensions_mut().insert(ErrorReason(reason));
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    reason: &'a str,
}

/// The first segment of webhook.site's token API: its answers are JSON
/// whatever the client accepts.
pub const API_ROOT: &str = "/token";

/// Whether `path` is in the token API (`/token` or below it).
pub fn is_api_path(path: &str) -> bool {
    path.strip_prefix(API_ROOT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// How the client wants errors: decided from the request path and Accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
    Text,
}

impl Format {
    pub fn wanted(req: &Request) -> Self {
        Self::of(req.headers(), req.uri().path())
    }

    /// The format for a request to `path` with these headers: JSON for the
    /// token API and clients that ask for it, a page for browsers, else
    /// text.
    pub fn of(headers: &HeaderMap, path: &str) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if is_api_path(path) || accept.starts_with("application/json") {
            Self::Json
        } else if accept.contains("text/html") {
            Self::Html
        } else {
            Self::Text
        }
    }

    /// `error` as a response in this format (what [`negotiate`] makes of
    /// it, for handlers outside that middleware).
    pub fn respond(self, error: AppError) -> Response {
        let response = error.into_response();
        if self == Self::Text {
            return response;
        }
        let (parts, _) = response.into_parts();
        let reason = parts
            .extensions
            .get::<ErrorReason>()
            .map(|ErrorReason(reason)| reason.clone())
            .unwrap_or_default();
        render(self, parts, reason)
    }
}

/// Middleware: re-renders error responses (ours and axum's extractor
/// rejections alike) in the format the client asked for. A response that
/// is already a page or JSON (a form shown again with its errors, say) is
/// the handler's own answer and passes as it is.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let format = Format::wanted(&req);
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || format == Format::Text
        || !is_plain_error(&response)
    {
        return response;
    }
    let reason = match response.extensions().get::<ErrorReason>() {
        Some(ErrorReason(reason)) => reason.clone(),
        None => {
            // An axum rejection or a bare status: its body is a short text.
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            let reason = if text.is_empty() {
                parts
                    .status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_owned()
            } else {
                text
            };
            return render(format, parts, reason);
        }
    };
    let (parts, _) = response.into_parts();
    render(format, parts, reason)
}

/// An error answer in plain text (ours, or an axum rejection), as opposed
/// to a page or JSON a handler rendered itself.
fn is_plain_error(response: &Response) -> bool {
    if response.extensions().get::<ErrorReason>().is_some() {
        return true;
    }
    match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.as_bytes().starts_with(b"text/plain"),
    }
}

fn render(format: Format, mut parts: axum::http::response::Parts, reason: String) -> Response {
    let status = parts.status;
    let title = status.canonical_reason().unwrap_or("Error");
    let (content_type, body) = match format {
        Format::Json => (
            "application/json",
            serde_json::json!({
                "error": title.to_ascii_lowercase().replace(' ', "_"),
                "message": reason,
            })
            .to_string(),
        ),
        Format::Html => {
            let page = ErrorPage {
                status: status.as_u16(),
                title,
                reason: &reason,
            };
            match page.render() {
                Ok(html) => ("text/html; charset=utf-8", html),
                Err(_) => ("text/plain; charset=utf-8", format!("{reason}\n")),
            }
        }
        Format::Text => ("text/plain; charset=utf-8", format!("{reason}\n")),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.extensions.insert(ErrorReason(reason));
    Response::from_parts(parts, axum::body::Body::from(body))
}
