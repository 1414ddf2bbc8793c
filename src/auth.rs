//! Optional access control. The server's API key (`--api-key`) guards the
//! JSON API and bin creation; a bin's password guards its dashboard, live
//! feed and API. Capture URLs stay open either way.
//!
//! API clients send the key in `Api-Key` and a bin password in
//! `X-Bin-Password` or HTTP Basic auth (any user name). Browsers log in
//! once with a form; the cookie they get holds an HMAC that proves the
//! secret, never the secret itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::error::AppError;
use crate::model::Bin;
use crate::pages::require_same_origin;
use crate::state::{find_bin, AppState};

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the server's API key (webhook.site's name).
const API_KEY_HEADER: &str = "api-key";
/// Header carrying a bin's password.
const BIN_PASSWORD_HEADER: &str = "x-bin-password";
/// Cookie proving the API key to a logged-in browser.
const API_KEY_COOKIE: &str = "hookscope_key";
/// What the API-key cookie signs, with the key as the HMAC key.
const API_KEY_LABEL: &[u8] = b"hookscope api key cookie v1";
/// Longest bin password accepted.
const MAX_PASSWORD: usize = 1024;

/// The secret that signs bin cookies (the store keeps it, so a restart
/// does not log browsers out of password-protected bins).
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
}

/// HMAC-SHA256 of [`API_KEY_LABEL`] keyed with `key`.
fn api_key_mac(key: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(API_KEY_LABEL);
    mac
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// Whether the request proves the API key (or none is configured): in the
/// `Api-Key` header or the login cookie. Both compare in constant time.
pub fn has_api_key(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(key) = state.config.api_key.as_deref() else {
        return true;
    };
    let expected = api_key_mac(key.as_bytes()).finalize().into_bytes();
    if let Some(given) = headers.get(API_KEY_HEADER) {
        // Equal MACs under the given and the real key: equal keys.
        if api_key_mac(given.as_bytes())
            .verify_slice(&expected)
            .is_ok()
        {
            return true;
        }
    }
    cookie(headers, API_KEY_COOKIE)
        .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
        .is_some_and(|proof| api_key_mac(key.as_bytes()).verify_slice(&proof).is_ok())
}

/// Whether the client is a browser asking for a page.
fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// Middleware for the JSON API and bin creation: 401 without the API key
/// (a browser is sent to the login page instead). A wrong `Api-Key`
/// counts towards its address's limit of wrong secrets; past it, no key is
/// checked (429) until the minute is over. (A stale login cookie does not
/// count: it is a MAC of the key, nothing to guess.)
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let offered = state.config.api_key.is_some() && req.headers().contains_key(API_KEY_HEADER);
    let client = client_ip(&req);
    if offered {
        if let Err(e) = state.limits.allow_secret_attempt(client) {
            return e.into_response();
        }
    }
    if has_api_key(&state, req.headers()) {
        return next.run(req).await;
    }
    if offered {
        state.limits.note_wrong_secret(client);
    }
    if wants_page(req.headers()) && !req.uri().path().starts_with("/token") {
        return Redirect::to("/login").into_response();
    }
    AppError::Unauthorized("this server requires an API key in the Api-Key header").into_response()
}

/// Middleware for everything about one bin (`/view/{bin}…`, `/live/{bin}`,
/// `/token/{bin}…`): its password when it has one.
pub async fn require_bin_password(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let segment = req.uri().path().split('/').nth(2).unwrap_or_default();
    // Not a bin, or no such bin: the handler answers 404.
    let Ok(Some(bin)) = (match Uuid::try_parse(segment) {
        Ok(id) => state.store.bin(id).await,
        Err(_) => Ok(None),
    }) else {
        return next.run(req).await;
    };
    match check_bin(&state, req.headers(), client_ip(&req), &bin).await {
        Ok(()) => next.run(req).await,
        Err(e @ AppError::RateLimited { .. }) => e.into_response(),
        Err(_) if wants_page(req.headers()) && !req.uri().path().starts_with("/token") => {
            unlock_page(bin.id, None, StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"hookscope bin\", charset=\"UTF-8\""),
            );
            response
        }
    }
}

/// The address a request came from (absent only for in-process callers).
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Ok when `bin` has no password or the request proves it: the browser's
/// cookie (an HMAC check), else `X-Bin-Password` or Basic auth (argon2),
/// unless `client` has tried too many wrong passwords (429).
pub async fn check_bin(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    bin: &Bin,
) -> Result<(), AppError> {
    let Some(hash) = bin.settings.password_hash.as_deref() else {
        return Ok(());
    };
    let by_cookie = cookie(headers, &bin_cookie_name(bin.id))
        .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
        .is_some_and(|proof| state.auth.bin_mac(bin, hash).verify_slice(&proof).is_ok());
    if by_cookie {
        return Ok(());
    }
    let Some(password) = given_password(headers) else {
        return Err(AppError::Unauthorized(
            "this bin has a password: send it in X-Bin-Password or with Basic auth",
        ));
    };
    state.limits.allow_secret_attempt(client)?;
    if verify_password(password, hash.to_owned()).await {
        Ok(())
    } else {
        state.limits.note_wrong_secret(client);
        Err(AppError::Unauthorized("wrong bin password"))
    }
}

/// The password in `X-Bin-Password`, else in Basic auth (user ignored).
fn given_password(headers: &HeaderMap) -> Option<Vec<u8>> {
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
async fn verify_password(password: Vec<u8>, hash: String) -> bool {
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

/// A bin password as its argon2 PHC string, off the async threads. An
/// empty password means none (`Ok(None)`).
pub async fn hash_password(password: String) -> Result<Option<String>, AppError> {
    if password.is_empty() {
        return Ok(None);
    }
    if password.len() > MAX_PASSWORD {
        return Err(AppError::Invalid(format!(
            "password is longer than {MAX_PASSWORD} bytes"
        )));
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
            Err(AppError::Invalid(String::from("password cannot be hashed")))
        }
    }
}

fn bin_cookie_name(bin: Uuid) -> String {
    format!("hookscope_bin_{}", bin.simple())
}

/// The `Set-Cookie` that lets this browser into `bin` (None without a
/// password).
pub fn bin_cookie(state: &AppState, bin: &Bin) -> Option<HeaderValue> {
    let hash = bin.settings.password_hash.as_deref()?;
    let proof = URL_SAFE_NO_PAD.encode(state.auth.bin_mac(bin, hash).finalize().into_bytes());
    HeaderValue::from_str(&format!(
        "{}={proof}; Path=/; HttpOnly; SameSite=Lax",
        bin_cookie_name(bin.id)
    ))
    .ok()
}

/// The login form: for the API key, or for one bin's password.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    heading: String,
    action: String,
    label: &'static str,
    error: Option<&'static str>,
}

/// The login form, shown again with its error when one is given.
fn form_page(status: StatusCode, page: LoginPage) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], page).into_response()
}

fn unlock_page(bin: Uuid, error: Option<&'static str>, status: StatusCode) -> Response {
    form_page(
        status,
        LoginPage {
            heading: format!("Bin {bin} has a password"),
            action: format!("/unlock/{bin}"),
            label: "Bin password",
            error,
        },
    )
}

fn login_page(error: Option<&'static str>, status: StatusCode) -> Response {
    form_page(
        status,
        LoginPage {
            heading: String::from("This server requires an API key"),
            action: String::from("/login"),
            label: "API key",
            error,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SecretForm {
    secret: String,
}

/// `GET /login`: the API key form (home when no key is configured).
pub async fn login_form(State(state): State<AppState>) -> Response {
    if state.config.api_key.is_none() {
        return Redirect::to("/").into_response();
    }
    login_page(None, StatusCode::OK)
}

/// `POST /login`: a right key sets the cookie and goes home.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SecretForm>,
) -> Result<Response, AppError> {
    require_same_origin(&headers)?;
    let Some(key) = state.config.api_key.as_deref() else {
        return Ok(Redirect::to("/").into_response());
    };
    state.limits.allow_secret_attempt(Some(client.ip()))?;
    let proof = api_key_mac(key.as_bytes()).finalize().into_bytes();
    if api_key_mac(form.secret.as_bytes())
        .verify_slice(&proof)
        .is_err()
    {
        state.limits.note_wrong_secret(Some(client.ip()));
        return Ok(login_page(Some("Wrong API key."), StatusCode::UNAUTHORIZED));
    }
    let cookie = format!(
        "{API_KEY_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        URL_SAFE_NO_PAD.encode(proof)
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /unlock/{bin}`: a right bin password sets the bin's cookie and
/// goes to its dashboard.
pub async fn unlock(
    State(state): State<AppState>,
    Path(bin): Path<String>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SecretForm>,
) -> Result<Response, AppError> {
    require_same_origin(&headers)?;
    let bin = find_bin(&state.store, &bin).await?;
    let mut response = Redirect::to(&format!("/view/{}", bin.id)).into_response();
    let Some(hash) = bin.settings.password_hash.clone() else {
        return Ok(response);
    };
    state.limits.allow_secret_attempt(Some(client.ip()))?;
    if !verify_password(form.secret.into_bytes(), hash).await {
        state.limits.note_wrong_secret(Some(client.ip()));
        return Ok(unlock_page(
            bin.id,
            Some("Wrong password."),
            StatusCode::UNAUTHORIZED,
        ));
    }
    if let Some(cookie) = bin_cookie(&state, &bin) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
