//! The forms that let a browser in: the server's API key (`/login`) and a
//! bin's password (`/unlock/{bin}`). Each sets a cookie holding a proof of
//! the secret (see `auth`), never the secret.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::auth;
use crate::error::AppError;
use crate::extract::{login_page, unlock_page, BinToUnlock, SameOrigin};
use crate::state::AppState;

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
    _: SameOrigin,
    Form(form): Form<SecretForm>,
) -> Result<Response, AppError> {
    let Some(key) = state.config.api_key.as_deref() else {
        return Ok(Redirect::to("/").into_response());
    };
    state.limits.allow_secret_attempt(Some(client.ip()))?;
    if !auth::is_api_key(key, form.secret.as_bytes()) {
        state.limits.note_wrong_secret(Some(client.ip()));
        return Ok(login_page(Some("Wrong API key."), StatusCode::UNAUTHORIZED));
    }
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = auth::api_key_cookie(key) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /unlock/{bin}`: a right bin password sets the bin's cookie and
/// goes to its dashboard.
pub async fn unlock(
    State(state): State<AppState>,
    BinToUnlock(bin): BinToUnlock,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    _: SameOrigin,
    Form(form): Form<SecretForm>,
) -> Result<Response, AppError> {
    let mut response = Redirect::to(&format!("/view/{}", bin.id)).into_response();
    let Some(hash) = bin.settings.password_hash.clone() else {
        return Ok(response);
    };
    state.limits.allow_secret_attempt(Some(client.ip()))?;
    if !auth::verify_password(form.secret.into_bytes(), hash).await {
        state.limits.note_wrong_secret(Some(client.ip()));
        return Ok(unlock_page(
            bin.id,
            Some("Wrong password."),
            StatusCode::UNAUTHORIZED,
        ));
    }
    if let Some(cookie) = state.auth.bin_cookie(&bin) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
