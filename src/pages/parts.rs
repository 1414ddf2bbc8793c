//! The dashboard's side of multipart bodies. The parser is
//! [`crate::multipart`], shared with the API's `files` and its downloads, so
//! a part's number here and its file id there name the same bytes.

use bytes::Bytes;

pub use crate::multipart::{download_name, Part};

/// The parts of `body` (see [`crate::multipart::parts`]). The body is
/// already in memory, so this never waits; it is `async` for the page
/// handlers that await it.
pub async fn parts(body: Bytes, content_type: &str) -> Vec<Part> {
    crate::multipart::parts(&body, content_type)
}
