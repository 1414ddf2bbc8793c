//! The bin settings form: what the capture URL answers, how much it keeps,
//! when it expires. Validated by the same rules as the API (`BinInput`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::require_same_origin;
use crate::api::BinInput;
use crate::app::{find_bin, AppState};
use crate::error::AppError;
use crate::model::BinSettings;

/// The form's fields, as text (an unchecked checkbox is absent).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    default_status: String,
    default_content_type: String,
    default_content: String,
    /// One `Name: value` per line.
    response_headers: String,
    timeout: String,
    cors: Option<String>,
    request_limit: String,
    expiry: String,
    alias: String,
    description: String,
    /// A new password; empty keeps the current one.
    password: String,
    remove_password: Option<String>,
}

impl SettingsForm {
    fn from_settings(s: &BinSettings) -> Self {
        let opt = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        Self {
            default_status: s.default_status.to_string(),
            default_content_type: s.default_content_type.clone(),
            default_content: s.default_content.clone(),
            response_headers: s
                .response_headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}\n"))
                .collect(),
            timeout: s.timeout.to_string(),
            cors: s.cors.then(|| String::from("on")),
            request_limit: opt(s.request_limit),
            expiry: opt(s.expiry),
            alias: s.alias.clone().unwrap_or_default(),
            description: s.description.clone().unwrap_or_default(),
            password: String::new(),
            remove_password: None,
        }
    }

    /// The form as API input; a field that is not a number is a 422.
    fn to_input(&self) -> Result<BinInput, AppError> {
        let number = |name: &str, text: &str, empty: Value| -> Result<Value, AppError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(empty);
            }
            text.parse::<u64>()
                .map(Value::from)
                .map_err(|_| AppError::Invalid(format!("{name} must be a whole number")))
        };
        let mut headers = Vec::new();
        for line in self
            .response_headers
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let Some((name, value)) = line.split_once(':') else {
                return Err(AppError::Invalid(format!(
                    "response header line {line:?} needs the form Name: value"
                )));
            };
            headers.push(json!({ "name": name.trim(), "value": value.trim() }));
        }
        let mut input = Map::new();
        input.insert(
            "default_status".into(),
            number("Status", &self.default_status, Value::Null)?,
        );
        input.insert(
            "default_content_type".into(),
            self.default_content_type.trim().into(),
        );
        input.insert(
            "default_content".into(),
            self.default_content.clone().into(),
        );
        input.insert("response_headers".into(), headers.into());
        input.insert(
            "timeout".into(),
            number("Timeout", &self.timeout, 0.into())?,
        );
        input.insert("cors".into(), self.cors.is_some().into());
        input.insert(
            "request_limit".into(),
            number("Request limit", &self.request_limit, Value::Null)?,
        );
        input.insert(
            "expiry".into(),
            number("Expiry", &self.expiry, Value::Null)?,
        );
        input.insert("alias".into(), self.alias.trim().into());
        input.insert("description".into(), self.description.trim().into());
        if self.remove_password.is_some() {
            input.insert("password".into(), Value::Null);
        } else if !self.password.is_empty() {
            input.insert("password".into(), self.password.clone().into());
        }
        if input["default_status"].is_null() {
            return Err(AppError::Invalid(String::from("Status is required")));
        }
        serde_json::from_value(Value::Object(input))
            .map_err(|e| AppError::Invalid(format!("invalid setting: {e}")))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    bin: Uuid,
    form: SettingsForm,
    error: Option<String>,
    saved: bool,
    max_delay: u32,
    max_requests: u32,
    has_password: bool,
}

#[derive(Debug, Deserialize)]
pub struct SettingsParams {
    saved: Option<String>,
}

/// `GET /view/{bin}/settings`.
pub async fn settings(
    State(state): State<AppState>,
    Path(bin): Path<String>,
    Query(params): Query<SettingsParams>,
) -> Result<Response, AppError> {
    let bin = find_bin(&state.store, &bin).await?;
    let page = SettingsPage {
        bin: bin.id,
        form: SettingsForm::from_settings(&bin.settings),
        error: None,
        saved: params.saved.is_some(),
        max_delay: state.config.max_response_delay_secs,
        max_requests: state.config.max_requests_per_bin,
        has_password: bin.settings.password_hash.is_some(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// `POST /view/{bin}/settings`: saves and goes back to the form, or shows
/// the form again with the reason (422).
pub async fn save_settings(
    State(state): State<AppState>,
    Path(bin): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    require_same_origin(&headers)?;
    let bin = find_bin(&state.store, &bin).await?;
    let checked = match form.to_input() {
        Ok(input) => input.apply_all(bin.settings.clone()).await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(settings) => {
            let bin = state.store.update_bin(bin.id, settings).await?;
            let mut response =
                Redirect::to(&format!("/view/{}/settings?saved=1", bin.id)).into_response();
            // A new password would lock out the browser that just set it.
            if let Some(cookie) = crate::auth::bin_cookie(&state, &bin) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(e) => {
            let page = SettingsPage {
                bin: bin.id,
                form,
                error: Some(e.to_string()),
                saved: false,
                max_delay: state.config.max_response_delay_secs,
                max_requests: state.config.max_requests_per_bin,
                has_password: bin.settings.password_hash.is_some(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
