//! The bin settings form: what the capture URL answers, how much it keeps,
//! when it expires. Validated by the same rules as the API (`BinInput`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::api::{BinInput, SettingError};
use crate::error::AppError;
use crate::extract::{BinPath, SameOrigin};
use crate::model::BinSettings;
use crate::signature::{Algorithm, Encoding, Verifier};
use crate::state::AppState;

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

    /// The form as API input, checked field by field with the API's rules
    /// (each field alone against `current`), so every bad field is named at
    /// once; `max_delay` is the server's longest answer delay.
    fn check(&self, current: &BinSettings, max_delay: u32) -> Result<BinInput, FormErrors> {
        let fields = [
            ("default_status", self.status()),
            (
                "default_content_type",
                Ok(self.default_content_type.trim().into()),
            ),
            ("default_content", Ok(self.default_content.clone().into())),
            ("response_headers", self.headers()),
            ("timeout", self.delay(max_delay)),
            ("cors", Ok(self.cors.is_some().into())),
            (
                "request_limit",
                number("request_limit", &self.request_limit, Value::Null),
            ),
            ("expiry", number("expiry", &self.expiry, Value::Null)),
            ("alias", Ok(self.alias.trim().into())),
            ("description", Ok(self.description.trim().into())),
        ];
        let mut input = Map::new();
        let mut errors = Vec::new();
        for (field, value) in fields {
            let checked = value.and_then(|value| {
                let alone = Value::Object(Map::from_iter([(field.to_owned(), value.clone())]));
                serde_json::from_value::<BinInput>(alone)
                    .map_err(|e| SettingError {
                        field,
                        problem: format!("is not valid: {e}"),
                    })?
                    .apply(current.clone())?;
                Ok(value)
            });
            match checked {
                Ok(value) => {
                    input.insert(field.to_owned(), value);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(FormErrors(errors));
        }
        if self.remove_password.is_some() {
            input.insert("password".into(), Value::Null);
        } else if !self.password.is_empty() {
            input.insert("password".into(), self.password.clone().into());
        }
        serde_json::from_value(Value::Object(input)).map_err(|e| {
            FormErrors(vec![SettingError {
                field: "password",
                problem: format!("is not valid: {e}"),
            }])
        })
    }

    fn status(&self) -> Result<Value, SettingError> {
        match number("default_status", &self.default_status, Value::Null)? {
            Value::Null => Err(SettingError {
                field: "default_status",
                problem: "is required".into(),
            }),
            status => Ok(status),
        }
    }

    fn delay(&self, max_delay: u32) -> Result<Value, SettingError> {
        let delay = number("timeout", &self.timeout, 0.into())?;
        if delay.as_u64().is_some_and(|d| d > u64::from(max_delay)) {
            return Err(SettingError {
                field: "timeout",
                problem: format!("can be at most {max_delay} seconds on this server"),
            });
        }
        Ok(delay)
    }

    /// The header lines as the API's `[{"name", "value"}]`.
    fn headers(&self) -> Result<Value, SettingError> {
        let mut headers = Vec::new();
        let lines = self.response_headers.lines().map(str::trim);
        for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(SettingError {
                    field: "response_headers",
                    problem: format!("line {} needs the form Name: value", n + 1),
                });
            };
            headers.push(json!({ "name": name.trim(), "value": value.trim() }));
        }
        Ok(headers.into())
    }
}

/// A form field as a JSON number; `empty` when left blank.
fn number(field: &'static str, text: &str, empty: Value) -> Result<Value, SettingError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(empty);
    }
    text.parse::<u64>()
        .map(Value::from)
        .map_err(|_| SettingError {
            field,
            problem: format!("must be a whole number, not {text:?}"),
        })
}

/// What is wrong with a submitted form, field by field, in form order.
#[derive(Debug, Default)]
pub struct FormErrors(Vec<SettingError>);

impl FormErrors {
    /// The problem with `field`, as a sentence to show next to it.
    pub fn of(&self, field: &str) -> Option<String> {
        let e = self.0.iter().find(|e| e.field == field)?;
        let mut chars = e.problem.chars();
        let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
        Some(format!("{}{}.", first.unwrap_or_default(), chars.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    bin: Uuid,
    form: SettingsForm,
    errors: FormErrors,
    saved: bool,
    max_delay: u32,
    max_requests: u32,
    has_password: bool,
    /// The bin's signature checks, as shown (fingerprints, no secrets).
    verifiers: Vec<VerifierRow>,
    /// What the last verifier change or "verify again" did.
    signature_notice: Option<String>,
}

/// One verifier as the settings page lists it: never its secret.
struct VerifierRow {
    provider: &'static str,
    fingerprint: String,
    /// Its options in a few words (`X-Signature, sha256, hex`).
    details: String,
}

impl VerifierRow {
    fn all(verifiers: &[Verifier]) -> Vec<Self> {
        verifiers
            .iter()
            .map(|verifier| {
                let view = verifier.view();
                let mut details: Vec<String> = Vec::new();
                details.extend(view.header.clone());
                details.extend(view.algorithm.map(|a| {
                    match a {
                        Algorithm::Sha1 => "sha1",
                        Algorithm::Sha256 => "sha256",
                        Algorithm::Sha512 => "sha512",
                    }
                    .to_owned()
                }));
                details.extend(view.encoding.map(|e| {
                    match e {
                        Encoding::Hex => "hex",
                        Encoding::Base64 => "base64",
                    }
                    .to_owned()
                }));
                details.extend(view.prefix.as_ref().map(|p| format!("prefix {p}")));
                details.extend(
                    view.tolerance_secs
                        .map(|secs| format!("tolerance {secs} s")),
                );
                Self {
                    provider: view.provider.name(),
                    fingerprint: view.fingerprint,
                    details: details.join(", "),
                }
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct SettingsParams {
    saved: Option<String>,
    /// `added` or `removed` after a verifier form.
    verifier: Option<String>,
    /// The counts of a "verify again".
    checked: Option<u64>,
    valid: Option<u64>,
    invalid: Option<u64>,
}

impl SettingsParams {
    /// The line the verifier section shows after one of its forms.
    fn signature_notice(&self) -> Option<String> {
        if let Some(checked) = self.checked {
            return Some(format!(
                "Checked {checked} stored requests again: {} valid, {} invalid.",
                self.valid.unwrap_or(0),
                self.invalid.unwrap_or(0)
            ));
        }
        match self.verifier.as_deref() {
            Some("added") => Some(
                "Verifier added. New requests are checked with it; \
                 \"Verify again\" checks the stored ones."
                    .into(),
            ),
            Some("removed") => Some("Verifier removed.".into()),
            _ => None,
        }
    }
}

/// `GET /view/{bin}/settings`.
pub async fn settings(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<SettingsParams>,
) -> Result<Response, AppError> {
    let page = SettingsPage {
        bin: bin.id,
        form: SettingsForm::from_settings(&bin.settings),
        errors: FormErrors::default(),
        saved: params.saved.is_some(),
        max_delay: state.config.max_response_delay_secs,
        max_requests: state.config.max_requests_per_bin,
        has_password: bin.settings.password_hash.is_some(),
        verifiers: VerifierRow::all(&bin.settings.verifiers),
        signature_notice: params.signature_notice(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// `POST /view/{bin}/settings`: saves and goes back to the form, or shows
/// the form again with the reason (422).
pub async fn save_settings(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    _: SameOrigin,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    let max_delay = state.config.max_response_delay_secs;
    let checked = match form.check(&bin.settings, max_delay) {
        Ok(input) => {
            let settings = input.apply_all(bin.settings.clone()).await?;
            match state.store.update_bin(bin.id, settings).await {
                Ok(saved) => Ok(saved),
                // Taken by another bin: said next to the field, like the
                // other problems.
                Err(e) => Err(crate::api::taken_alias(&e)
                    .map(|problem| FormErrors(vec![problem]))
                    .ok_or(e)?),
            }
        }
        Err(errors) => Err(errors),
    };
    match checked {
        Ok(bin) => {
            let mut response =
                Redirect::to(&format!("/view/{}/settings?saved=1", bin.id)).into_response();
            // A new password would lock out the browser that just set it.
            if let Some(cookie) = state.auth.bin_cookie(&bin) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(errors) => {
            let page = SettingsPage {
                bin: bin.id,
                form,
                errors,
                saved: false,
                max_delay: state.config.max_response_delay_secs,
                max_requests: state.config.max_requests_per_bin,
                has_password: bin.settings.password_hash.is_some(),
                verifiers: VerifierRow::all(&bin.settings.verifiers),
                signature_notice: None,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// The second capture URL a bin's alias gives it, beside `capture_url`
/// (`{base}/{bin id}`); none for an alias from before aliases were URLs
/// that breaks their rules.
pub fn alias_url(capture_url: &str, alias: &str) -> Option<String> {
    if crate::model::alias_problem(alias).is_some() {
        return None;
    }
    let (base, _) = capture_url.rsplit_once('/')?;
    Some(format!("{base}/{alias}"))
}
