//! The secrets behind access control, and how a request proves them. The
//! server's API key (`--api-key`) guards the JSON API and bin creation; a
//! bin's password guards its dashboard, live feed and API. Capture URLs stay
//! open either way. Which routes need what is `extract`'s business.
//!
//! API clients send the key in `Api-Key` and a bin password in
//! `X-Bin-Password` or HTTP Basic auth (any user name). Browsers log in
//! once with a form; the cookie they get holds an HMAC that proves the
//! secret, never the secret itself.

use std::sync::Arc;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::cookies;
use crate::model::Bin;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the server's API key (webhook.site's name).
pub const API_KEY_HEADER: &str = "api-key";
/// Header carrying a bin's password.
const BIN_PASSWORD_HEADER: &str = "x-bin-password";
/// Cookie proving the API key to a logged-in browser.
const API_KEY_COOKIE: &str = "hookscope_key";
/// What the API-key cookie signs, with the key as the HMAC key.
const API_KEY_LABEL: &[u8] = b"hookscope api key cookie v1";
/// Longest bin password accepted.
const MAX_PASSWORD: usize = 1024;

/// Fresh random bytes for the secret that signs bin cookies (the store
/// keeps the first one it is given, so restarts keep browsers logged in).
pub fn new_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// The secret that signs bin cookies.
#[derive(Clone)]
pub struct Auth {
    secret: Arc<[u8; 32]>,
}

impl Auth {
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            secret: Arc::new(secret),
        }
    }

    /// The MAC that a browser's cookie for `bin` must hold. It covers the
    /// password hash, so changing the password logs browsers out.
    fn bin_mac(&self, bin: &Bin, hash: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.secret.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(b"bin ");
        mac.update(bin.id.as_bytes());
        mac.update(hash.as_bytes());
        mac
    }

    /// Whether the browser's cookie proves it knows `bin`'s password (whose
    /// PHC string is `hash`): an HMAC check, no password hashing.
    pub fn cookie_unlocks(&self, headers: &HeaderMap, bin: &Bin, hash: &str) -> bool {
        cookies::get(headers, &bin_cookie_name(bin.id))
            .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
            .is_some_and(|proof| self.bin_mac(bin, hash).verify_slice(&proof).is_ok())
    }

    /// The `Set-Cookie` that lets this browser into `bin` (None without a
    /// password).
    pub fn bin_cookie(&self, bin: &Bin) -> Option<HeaderValue> {
        let hash = bin.settings.password_hash.as_deref()?;
        let proof = URL_SAFE_NO_PAD.encode(self.bin_mac(bin, hash).finalize().into_bytes());
        cookies::set_cookie(&bin_cookie_name(bin.id), proof, None)
    }
}

fn bin_cookie_name(bin: Uuid) -> String {
    format!("hookscope_bin_{}", bin.simple())
}

/// HMAC-SHA256 of [`API_KEY_LABEL`] keyed with `key`.
fn api_key_mac(key: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(API_KEY_LABEL);
    mac
}

/// Whether `given` is the API key `key`, compared in constant time (equal
/// MACs under the given and the real key: equal keys).
pub fn is_api_key(key: &str, given: &[u8]) -> bool {
    let expected = api_key_mac(key.as_bytes()).finalize().into_bytes();
    api_key_mac(given).verify_slice(&expected).is_ok()
}

/// Whether the request proves the API key `key`: in the `Api-Key` header
/// or the login cookie. Both compare in constant time.
pub fn proves_api_key(key: &str, headers: &HeaderMap) -> bool {
    if headers
        .get(API_KEY_HEADER)
        .is_some_and(|given| is_api_key(key, given.as_bytes()))
    {
        return true;
    }
    cookies::get(headers, API_KEY_COOKIE)
        .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
        .is_some_and(|proof| api_key_mac(key.as_bytes()).verify_slice(&proof).is_ok())
}

/// The `Set-Cookie` that proves the API key `key` to this server for a
/// year.
pub fn api_key_cookie(key: &str) -> Option<HeaderValue> {
    let proof = URL_SAFE_NO_PAD.encode(api_key_mac(key.as_bytes()).finalize().into_bytes());
    cookies::set_cookie(API_KEY_COOKIE, proof, Some(cookies::YEAR))
}

/// The password in `X-Bin-Password`, else in Basic auth (user ignored).
pub fn given_password(headers: &HeaderMap) -> Option<Vec<u8>> {
    if let Some(value) = headers.get(BIN_PASSWORD_HEADER) {
        return Some(value.as_bytes().to_vec());
    }
    let basic = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(basic.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// Checks a password against an argon2 PHC string, off the async threads.
pub async fn verify_password(password: Vec<u8>, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(&password, &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password is longer than {MAX_PASSWORD} bytes")]
    TooLong,
    #[error("password cannot be hashed")]
    Hashing,
}

/// A bin password as its argon2 PHC string, off the async threads. An
/// empty password means none (`Ok(None)`).
pub async fn hash_password(password: String) -> Result<Option<String>, PasswordError> {
    if password.is_empty() {
        return Ok(None);
    }
    if password.len() > MAX_PASSWORD {
        return Err(PasswordError::TooLong);
    }
    let hashed = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    })
    .await;
    match hashed {
        Ok(Ok(hash)) => Ok(Some(hash)),
        _ => {
            tracing::error!("password hashing failed");
            Err(PasswordError::Hashing)
        }
    }
}
