//! Static files compiled into the binary, served with long cache lifetimes:
//! pages link them with a `?v={content hash}` so a new build busts caches.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::error::AppError;

#[derive(Embed)]
#[folder = "static/"]
struct Static;

/// A short hash of all static files, for cache-busting links.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut combined = Vec::new();
        for name in Static::iter() {
            if let Some(file) = Static::get(&name) {
                combined.extend_from_slice(&file.metadata.sha256_hash());
            }
        }
        let digest: u64 = combined.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("{digest:016x}")
    })
}

pub async fn serve(Path(file): Path<String>) -> Result<Response, AppError> {
    let asset = Static::get(&file).ok_or(AppError::NotFound)?;
    let mime = asset.metadata.mimetype();
    let mut response = (StatusCode::OK, asset.data.into_owned()).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
