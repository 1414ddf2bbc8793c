//! The headers every answer carries: one list for the router's layers and
//! for the captures that skip them.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

/// The Content-Security-Policy of every page: scripts and styles only from
/// our own files, nothing inline, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Headers every response carries unless its handler set them.
pub const DEFAULT_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
];

/// Adds the [`DEFAULT_HEADERS`] that `headers` lacks (for responses that
/// do not pass through the router's layers).
pub fn add_default_headers(headers: &mut HeaderMap) {
    for (name, value) in DEFAULT_HEADERS {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
}
