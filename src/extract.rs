//! What every handler would otherwise repeat, done once: finding the bin a
//! URL names and checking its password ([`BinPath`]), refusing cross-site
//! form posts ([`SameOrigin`]) and requiring the API key
//! ([`require_api_key`]). A guard that refuses a browser shows it the form
//! that lets it in.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use crate::auth::{self, API_KEY_HEADER};
use crate::error::{AppError, Format};
use crate::model::Bin;
use crate::state::AppState;
use crate::store::Store;

/// How a URL segment may name a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// By its id only: webhook.site's token API (`/token/{id}`).
    Id,
    /// By its id or its alias: capture URLs and pages (`/view/{bin}`).
    IdOrAlias,
}

/// The bin `segment` names: 404 unless it exists.
pub async fn find_bin(store: &Store, segment: &str, naming: Naming) -> Result<Arc<Bin>, AppError> {
    let found = match (Uuid::try_parse(segment), naming) {
        (Ok(id), _) => store.bin(id).await?,
        (Err(_), Naming::IdOrAlias) => store.bin_by_alias(segment).await?,
        (Err(_), Naming::Id) => None,
    };
    found.ok_or(AppError::UnknownBin)
}

/// The bin a route's path names, its password checked: `{bin}` names it
/// by id or alias (pages, live feed), `{id}` by id only (the token API).
/// A browser without the password gets the unlock form, an API client
/// 401 with `WWW-Authenticate`.
pub struct BinPath(pub Arc<Bin>);

impl FromRequestParts<AppState> for BinPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let bin = BinToUnlock::from_request_parts(parts, state).await?.0;
        guard(
            state,
            &parts.headers,
            parts.uri.path(),
            client_of(parts),
            &bin,
        )
        .await?;
        Ok(Self(bin))
    }
}

/// The bin a route's path names (as [`BinPath`]), its password not
/// checked: for the form that checks it.
pub struct BinToUnlock(pub Arc<Bin>);

impl FromRequestParts<AppState> for BinToUnlock {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let named = params.iter().find_map(|(key, value)| match key {
            "bin" => Some((value, Naming::IdOrAlias)),
            "id" => Some((value, Naming::Id)),
            _ => None,
        });
        let Some((segment, naming)) = named else {
            return Err(AppError::UnknownBin.into_response());
        };
        let bin = find_bin(&state.store, segment, naming)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(bin))
    }
}

/// Ok when `bin` has no password or the request proves it; else the
/// refusal a client of this kind understands (see [`BinPath`]).
pub async fn guard(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    client: Option<IpAddr>,
    bin: &Bin,
) -> Result<(), Response> {
    match check_bin(state, headers, client, bin).await {
        Ok(()) => Ok(()),
        Err(e @ AppError::RateLimited { .. }) => Err(e.into_response()),
        Err(_) if Format::of(headers, path) == Format::Html => {
            Err(unlock_page(bin.id, None, StatusCode::UNAUTHORIZED))
        }
        Err(e) => {
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"hookscope bin\", charset=\"UTF-8\""),
            );
            Err(response)
        }
    }
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
    if state.auth.cookie_unlocks(headers, bin, hash) {
        return Ok(());
    }
    let Some(password) = auth::given_password(headers) else {
        return Err(AppError::Unauthorized(
            "this bin has a password: send it in X-Bin-Password or with Basic auth",
        ));
    };
    state.limits.allow_secret_attempt(client)?;
    if auth::verify_password(password, hash.to_owned()).await {
        Ok(())
    } else {
        state.limits.note_wrong_secret(client);
        Err(AppError::Unauthorized("wrong bin password"))
    }
}

/// The address a request came from (absent only for in-process callers).
pub fn peer_ip(req: &Request) -> Option<IpAddr> {
    address(req.extensions())
}

fn client_of(parts: &Parts) -> Option<IpAddr> {
    address(&parts.extensions)
}

fn address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Whether the request proves the server's API key (or none is
/// configured).
pub fn has_api_key(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .config
        .api_key
        .as_deref()
        .is_none_or(|key| auth::proves_api_key(key, headers))
}

/// Middleware for the JSON API and bin creation: 401 without the API key
/// (a browser is sent to the login page instead). A wrong `Api-Key`
/// counts towards its address's limit of wrong secrets; past it, no key is
/// checked (429) until the minute is over. (A stale login cookie does not
/// count: it is a MAC of the key, nothing to guess.)
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let offered = state.config.api_key.is_some() && req.headers().contains_key(API_KEY_HEADER);
    let client = peer_ip(&req);
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
    if Format::wanted(&req) == Format::Html {
        return Redirect::to("/login").into_response();
    }
    AppError::Unauthorized("this server requires an API key in the Api-Key header").into_response()
}

/// Refuses form posts made by another site's page. Browsers say where a
/// request comes from in `Sec-Fetch-Site` (or at least `Origin`); clients
/// that send neither are not browsers and cannot be tricked into posting.
pub struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let value = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        if let Some(site) = value("sec-fetch-site") {
            return match site {
                "same-origin" | "none" => Ok(Self),
                _ => Err(AppError::CrossSite),
            };
        }
        match (value("origin"), value("host")) {
            (None, _) => Ok(Self),
            (Some(origin), Some(host))
                if origin
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest == host) =>
            {
                Ok(Self)
            }
            _ => Err(AppError::CrossSite),
        }
    }
}

/// The form that asks for a secret: the API key, or one bin's password.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    heading: String,
    action: String,
    label: &'static str,
    error: Option<&'static str>,
}

/// The form, shown again with its error when one is given. Never cached:
/// it answers for whatever page the visitor asked for.
fn form_page(status: StatusCode, page: LoginPage) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], page).into_response()
}

/// The form for `bin`'s password.
pub fn unlock_page(bin: Uuid, error: Option<&'static str>, status: StatusCode) -> Response {
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

/// The form for the server's API key.
pub fn login_page(error: Option<&'static str>, status: StatusCode) -> Response {
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
