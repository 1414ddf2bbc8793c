//! `POST /token`, `GET|PUT|DELETE /token/{id}`: bins and their settings.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi::ApiError;
use super::{json, parse_json};
use crate::config::Config;
use crate::error::AppError;
use crate::extract::BinPath;
use crate::model::{alias_problem, Bin, BinSettings};
use crate::signature::{Provider, Verifier, VerifierView};
use crate::state::AppState;
use crate::store::StoreError;

/// webhook.site's longest expiry (one week), used for `"expiry": true`.
const EXPIRY_TRUE_SECS: u32 = 604_800;
const MAX_DEFAULT_CONTENT: usize = 1024 * 1024;
const MAX_RESPONSE_HEADERS: usize = 50;
const MAX_TEXT_FIELD: usize = 1024;
/// Most signature verifiers a bin may have: every capture runs them all.
pub const MAX_VERIFIERS: usize = 10;

/// The bin object: webhook.site's token fields, plus `expires_at`, `url`
/// and `response_headers`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BinJson {
    pub uuid: Uuid,
    pub redirect: bool,
    pub alias: Option<String>,
    pub actions: bool,
    pub cors: bool,
    pub expiry: Option<u32>,
    pub timeout: u32,
    pub listen: u32,
    pub premium: bool,
    /// Whether the bin needs a password (never the password itself).
    pub password: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub default_content: String,
    pub default_status: u16,
    pub default_content_type: String,
    /// Most requests kept: the bin's own limit, or the server's cap.
    pub request_limit: u32,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    pub response_headers: Vec<ResponseHeader>,
    /// Signature checks run on every capture: each one's provider, options
    /// and the fingerprint of its secret (never the secret).
    #[schema(value_type = Vec<Object>)]
    pub verifiers: Vec<VerifierView>,
}

impl BinJson {
    pub fn new(bin: &Bin, config: &Config) -> Self {
        let s = &bin.settings;
        Self {
            uuid: bin.id,
            redirect: false,
            alias: s.alias.clone(),
            actions: false,
            cors: s.cors,
            expiry: s.expiry,
            timeout: s.timeout,
            listen: s.answer_wait_secs,
            premium: false,
            password: s.password_hash.is_some(),
            ip: bin.creator_ip.clone(),
            user_agent: bin.creator_user_agent.clone(),
            default_content: s.default_content.clone(),
            default_status: s.default_status,
            default_content_type: s.default_content_type.clone(),
            request_limit: s.request_limit.map_or(config.max_requests_per_bin, |l| {
                l.min(config.max_requests_per_bin)
            }),
            description: s.description.clone(),
            created_at: bin.created_at.to_sql_datetime(),
            updated_at: bin.updated_at.to_sql_datetime(),
            expires_at: bin.expires_at().map(|t| t.to_sql_datetime()),
            response_headers: s
                .response_headers
                .iter()
                .map(|(name, value)| ResponseHeader {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            verifiers: s.verifiers.iter().map(Verifier::view).collect(),
        }
    }
}

/// One entry of `verifiers` as sent: a new verifier with its secret, or
/// one the bin has, named by the fingerprint GET showed (so a bin read and
/// sent back keeps its verifiers, and leaving one out removes it).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum VerifierInput {
    New(Verifier),
    Kept {
        fingerprint: String,
        provider: Option<Provider>,
    },
}

/// The verifiers a bin gets from `input`, given those it has: each new one
/// usable ([`Verifier::problem`]), each kept one found, at most
/// [`MAX_VERIFIERS`]. The reason is one line, for a 400.
fn resolve_verifiers(input: Vec<VerifierInput>, had: &[Verifier]) -> Result<Vec<Verifier>, String> {
    let verifiers = input
        .into_iter()
        .map(|entry| match entry {
            VerifierInput::New(verifier) => Ok(verifier),
            VerifierInput::Kept {
                fingerprint,
                provider,
            } => had
                .iter()
                .find(|v| {
                    v.fingerprint() == fingerprint && provider.is_none_or(|p| p == v.provider)
                })
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "no verifier of this bin has the fingerprint {fingerprint:?} \
                         (send a \"secret\" to add one)"
                    )
                }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    checked_verifiers(verifiers)
}

/// `verifiers` when a bin may have them all: each usable, at most
/// [`MAX_VERIFIERS`]; else the one-line reason (the API's and the settings
/// page's 400).
pub fn checked_verifiers(verifiers: Vec<Verifier>) -> Result<Vec<Verifier>, String> {
    if verifiers.len() > MAX_VERIFIERS {
        return Err(format!("verifiers: at most {MAX_VERIFIERS}"));
    }
    for verifier in &verifiers {
        if let Some(problem) = verifier.problem() {
            return Err(format!("verifiers: {} {problem}", verifier.provider.name()));
        }
    }
    Ok(verifiers)
}

/// One extra answer header, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ResponseHeader {
    pub name: String,
    pub value: String,
}

/// `expiry` as webhook.site takes it: seconds, or `true`/`false`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(untagged)]
enum Expiry {
    Secs(u32),
    Flag(bool),
}

/// Settings sent to `POST /token` or `PUT /token/{id}`. A field left out
/// keeps its value (its default on create); `null` clears a nullable one.
///
/// Whatever `GET /token/{id}` returns can be sent back as it is (clients
/// read, change one field and write the whole object): read-only fields
/// (`uuid`, `ip`, `created_at`, …) and unknown ones are ignored, and
/// `password` as a boolean (what GET says) means "unchanged". A settable
/// field of the wrong type is refused, by name.
// The schema describes the JSON this type reads (see its `Deserialize`):
// every field optional, nullable ones as `T | null`.
#[derive(Debug, Default, ToSchema)]
pub struct BinInput {
    /// 100–599.
    #[schema(value_type = Option<u16>, minimum = 100, maximum = 599)]
    default_status: Option<u16>,
    default_content: Option<String>,
    default_content_type: Option<String>,
    timeout: Option<u32>,
    listen: Option<u32>,
    cors: Option<bool>,
    #[schema(value_type = Option<u32>)]
    request_limit: Option<Option<u32>>,
    /// Seconds until the bin is deleted; `true` is a week, `false` or
    /// `null` never.
    #[schema(value_type = Option<Expiry>)]
    expiry: Option<Option<Expiry>>,
    /// A second capture URL, `/{alias}`: unique, not a UUID nor a route.
    #[schema(value_type = Option<String>)]
    alias: Option<Option<String>>,
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    response_headers: Option<Vec<ResponseHeader>>,
    /// A new password; `null` or `""` removes it. Stored hashed.
    #[schema(schema_with = password_schema)]
    password: Option<Option<String>>,
    /// Signature checks, replacing the bin's: each `{"provider": "github",
    /// "secret": "…"}` (`hmac` also takes `header`, `algorithm`
    /// `sha1|sha256|sha512`, `encoding` `hex|base64`, `prefix`; `stripe`,
    /// `slack`, `standard` take `tolerance_secs`), or `{"fingerprint": …}`
    /// to keep one the bin has (what GET shows). `[]` removes them all.
    #[schema(value_type = Option<Vec<Object>>)]
    verifiers: Option<Vec<VerifierInput>>,
}

/// `password` as [`BinInput`] reads it: a string, `null`, or the boolean
/// GET returns (so a GET'd bin validates when sent back).
fn password_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .description(Some(
            "A new password; null or \"\" removes it; a boolean (what GET says) leaves it \
             unchanged. Stored hashed; GET only says whether there is one.",
        ))
        .build()
        .into()
}

impl<'de> Deserialize<'de> for BinInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        let mut field = |name: &'static str| object.remove(name);
        let password = match field("password") {
            None | Some(Value::Bool(_)) => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(password)) => Some(Some(password)),
            Some(other) => {
                return Err(D::Error::custom(SettingError {
                    field: "password",
                    problem: format!(
                        "must be a string (a new password), null (none), or a boolean \
                         (unchanged), not {}",
                        json_kind(&other)
                    ),
                }))
            }
        };
        let expiry = match field("expiry") {
            None => None,
            Some(value) => Some(Option::<Expiry>::deserialize(&value).map_err(|_| {
                D::Error::custom(SettingError {
                    field: "expiry",
                    problem: format!(
                        "must be a number of seconds, true, false or null, not {}",
                        json_kind(&value)
                    ),
                })
            })?),
        };
        Ok(Self {
            default_status: typed(field("default_status"), "default_status")?,
            default_content: typed(field("default_content"), "default_content")?,
            default_content_type: typed(field("default_content_type"), "default_content_type")?,
            timeout: typed(field("timeout"), "timeout")?,
            listen: typed(field("listen"), "listen")?,
            cors: typed(field("cors"), "cors")?,
            request_limit: typed(field("request_limit"), "request_limit")?,
            expiry,
            alias: typed(field("alias"), "alias")?,
            description: typed(field("description"), "description")?,
            response_headers: typed(field("response_headers"), "response_headers")?,
            password,
            verifiers: typed(field("verifiers"), "verifiers")?,
        })
    }
}

/// A present field read as `T`, or an error that names it. (`T` is
/// `Option<…>` for a nullable field: `Some(None)` is a `null` sent.)
fn typed<T, E>(value: Option<Value>, field: &'static str) -> Result<Option<T>, E>
where
    T: serde::de::DeserializeOwned,
    E: serde::de::Error,
{
    value
        .map(|value| {
            T::deserialize(&value).map_err(|e| {
                E::custom(SettingError {
                    field,
                    problem: format!("has the wrong type ({e})"),
                })
            })
        })
        .transpose()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    }
}

/// A setting that cannot be accepted: which field (its name in the API and
/// in the settings form) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SettingError {
    pub field: &'static str,
    pub problem: String,
}

impl From<SettingError> for AppError {
    fn from(e: SettingError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl BinInput {
    /// `settings` with this input applied, the password (hashed off the
    /// async threads) and the verifiers included.
    pub async fn apply_all(mut self, settings: BinSettings) -> Result<BinSettings, AppError> {
        let password = self.password.take();
        let verifiers = self.verifiers.take();
        let mut settings = self.apply(settings)?;
        if let Some(verifiers) = verifiers {
            settings.verifiers =
                resolve_verifiers(verifiers, &settings.verifiers).map_err(AppError::BadRequest)?;
        }
        if let Some(password) = password {
            settings.password_hash =
                crate::auth::hash_password(password.unwrap_or_default()).await?;
        }
        Ok(settings)
    }

    /// `settings` with this input applied, or the first bad field and why.
    /// The password is left as it was (see [`Self::apply_all`]).
    pub fn apply(self, mut settings: BinSettings) -> Result<BinSettings, SettingError> {
        let invalid = |field, problem: String| Err(SettingError { field, problem });
        if let Some(status) = self.default_status {
            if !(100..=599).contains(&status) {
                return invalid(
                    "default_status",
                    format!("must be between 100 and 599, not {status}"),
                );
            }
            settings.default_status = status;
        }
        if let Some(content) = self.default_content {
            if content.len() > MAX_DEFAULT_CONTENT {
                return invalid(
                    "default_content",
                    format!("is longer than {MAX_DEFAULT_CONTENT} bytes"),
                );
            }
            settings.default_content = content;
        }
        if let Some(content_type) = self.default_content_type {
            if content_type.len() > MAX_TEXT_FIELD || HeaderValue::from_str(&content_type).is_err()
            {
                return invalid(
                    "default_content_type",
                    format!(
                        "is not a valid header value (one line, at most {MAX_TEXT_FIELD} bytes)"
                    ),
                );
            }
            settings.default_content_type = content_type;
        }
        if let Some(timeout) = self.timeout {
            settings.timeout = timeout;
        }
        if let Some(listen) = self.listen {
            settings.answer_wait_secs = listen;
        }
        if let Some(cors) = self.cors {
            settings.cors = cors;
        }
        if let Some(limit) = self.request_limit {
            settings.request_limit = limit;
        }
        if let Some(expiry) = self.expiry {
            settings.expiry = match expiry {
                None | Some(Expiry::Flag(false)) => None,
                Some(Expiry::Flag(true)) => Some(EXPIRY_TRUE_SECS),
                Some(Expiry::Secs(0)) => {
                    return invalid("expiry", String::from("must be at least 1 second, or null"))
                }
                Some(Expiry::Secs(secs)) => Some(secs),
            };
        }
        // An alias sent back as it is passes even if it predates the rules:
        // reading a bin and writing it back always works.
        if let Some(alias) = self.alias.filter(|alias| *alias != settings.alias) {
            let alias = alias.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
            if let Some(problem) = alias.as_deref().and_then(alias_problem) {
                return invalid("alias", problem);
            }
            settings.alias = alias;
        }
        if let Some(description) = self.description {
            settings.description = text_field("description", description)?;
        }
        if let Some(headers) = self.response_headers {
            settings.response_headers = response_headers(headers)?;
        }
        Ok(settings)
    }
}

fn text_field(field: &'static str, value: Option<String>) -> Result<Option<String>, SettingError> {
    match value {
        Some(v) if v.len() > MAX_TEXT_FIELD => Err(SettingError {
            field,
            problem: format!("is longer than {MAX_TEXT_FIELD} bytes"),
        }),
        Some(v) if v.contains('\0') => Err(SettingError {
            field,
            problem: String::from("contains a NUL character"),
        }),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Headers the server owns: framing, hop-by-hop, the sandbox and our ids.
const RESERVED_HEADERS: [&str; 12] = [
    "connection",
    "content-length",
    "content-security-policy",
    "content-type",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-request-id",
    "x-token-id",
];

fn response_headers(headers: Vec<ResponseHeader>) -> Result<Vec<(String, String)>, SettingError> {
    let invalid = |problem| SettingError {
        field: "response_headers",
        problem,
    };
    if headers.len() > MAX_RESPONSE_HEADERS {
        return Err(invalid(format!("at most {MAX_RESPONSE_HEADERS} headers")));
    }
    headers
        .into_iter()
        .map(|ResponseHeader { name, value }| {
            let name = name.trim().to_owned();
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(invalid(format!("{name:?} is not a valid header name")));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(invalid(format!(
                    "{name} is set by the server (use default_content_type for the content type)"
                )));
            }
            if value.len() > MAX_TEXT_FIELD || HeaderValue::from_str(&value).is_err() {
                return Err(invalid(format!(
                    "{name} has an invalid value (one line, at most {MAX_TEXT_FIELD} bytes)"
                )));
            }
            Ok((name, value))
        })
        .collect()
}

/// `POST /token` → 201 and the new bin.
#[utoipa::path(
    post,
    path = "/token",
    tag = "tokens",
    summary = "Make a bin",
    request_body(content = Option<BinInput>, description = "Settings; an empty body takes the defaults"),
    responses(
        (status = 201, description = "The new bin", body = BinJson),
        (status = 400, description = "The body is not valid JSON, or a verifier cannot work (the reason says why)", body = ApiError),
        (status = 401, description = "The server's API key is missing or wrong", body = ApiError),
        (status = 413, description = "The body is over the limit", body = ApiError),
        (status = 422, description = "A setting has a wrong type or value, or the alias is taken", body = ApiError),
        (status = 429, description = "The server has its maximum of bins", body = ApiError)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let input: BinInput = parse_json(&body)?;
    let mut bin = Bin::with_settings(input.apply_all(BinSettings::default()).await?);
    bin.creator_ip = connect.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    bin.creator_user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    state
        .store
        .create_bin(bin.clone())
        .await
        .map_err(refused_setting)?;
    Ok(json(
        StatusCode::CREATED,
        &BinJson::new(&bin, &state.config),
    ))
}

/// `GET /token/{id}`.
#[utoipa::path(
    get,
    path = "/token/{id}",
    tag = "tokens",
    summary = "Read a bin",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)")),
    responses(
        (status = 200, description = "The bin", body = BinJson),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError)
    )
)]
pub async fn read(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
) -> Result<Response, AppError> {
    Ok(json(StatusCode::OK, &BinJson::new(&bin, &state.config)))
}

/// `PUT /token/{id}` → 200 and the updated bin.
#[utoipa::path(
    put,
    path = "/token/{id}",
    tag = "tokens",
    summary = "Change a bin's settings",
    description = "Fields left out keep their value. Whatever GET returned can be sent back \
        as it is: read-only and unknown fields are ignored.",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)")),
    request_body(content = Option<BinInput>, description = "The settings to change"),
    responses(
        (status = 200, description = "The updated bin", body = BinJson),
        (status = 400, description = "The body is not valid JSON, or a verifier cannot work (the reason says why)", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError),
        (status = 413, description = "The body is over the limit", body = ApiError),
        (status = 422, description = "A setting has a wrong type or value, or the alias is taken", body = ApiError)
    )
)]
pub async fn update(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    body: Bytes,
) -> Result<Response, AppError> {
    let input: BinInput = parse_json(&body)?;
    let settings = input.apply_all(bin.settings.clone()).await?;
    let bin = state
        .store
        .update_bin(bin.id, settings)
        .await
        .map_err(refused_setting)?;
    Ok(json(StatusCode::OK, &BinJson::new(&bin, &state.config)))
}

/// What `PUT /token/{id}/cors/toggle` may carry: nothing (webhook.site's
/// form: flip it), or the state wanted.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct CorsInput {
    enabled: Option<bool>,
}

/// Whether a bin's answers carry CORS headers.
#[derive(Debug, Serialize, ToSchema)]
struct CorsState {
    enabled: bool,
}

/// `PUT /token/{id}/cors/toggle` → 200 `{"enabled": bool}`: flips whether
/// the bin's answers carry CORS headers (or sets it, given `enabled`).
#[utoipa::path(
    put,
    path = "/token/{id}/cors/toggle",
    tag = "tokens",
    summary = "Flip (or set) whether the bin answers with CORS headers",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)")),
    request_body(content = Option<CorsInput>, description = "Empty flips it; `enabled` sets it"),
    responses(
        (status = 200, description = "The state now", body = CorsState),
        (status = 400, description = "The body is not valid JSON", body = ApiError),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError),
        (status = 422, description = "`enabled` is not a boolean", body = ApiError)
    )
)]
pub async fn toggle_cors(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    body: Bytes,
) -> Result<Response, AppError> {
    let input: CorsInput = parse_json(&body)?;
    let mut settings = bin.settings.clone();
    settings.cors = input.enabled.unwrap_or(!settings.cors);
    let bin = state.store.update_bin(bin.id, settings).await?;
    Ok(json(
        StatusCode::OK,
        &CorsState {
            enabled: bin.settings.cors,
        },
    ))
}

/// A setting the store refused, as the field at fault: an alias another
/// bin took meanwhile.
pub fn taken_alias(e: &StoreError) -> Option<SettingError> {
    match e {
        StoreError::AliasTaken(alias) => Some(SettingError {
            field: "alias",
            problem: format!("{alias:?} is taken by another bin"),
        }),
        _ => None,
    }
}

/// A store error of a bin write, a taken alias as the caller's 422.
fn refused_setting(e: StoreError) -> AppError {
    match taken_alias(&e) {
        Some(problem) => problem.into(),
        None => e.into(),
    }
}

/// `DELETE /token/{id}` → 204; the bin and its requests are gone.
#[utoipa::path(
    delete,
    path = "/token/{id}",
    tag = "tokens",
    summary = "Delete a bin and its requests",
    params(("id" = Uuid, Path, description = "The bin's id (webhook.site's token)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
        (status = 404, description = "No bin with this id", body = ApiError)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
) -> Result<StatusCode, AppError> {
    let id = bin.id;
    if state.store.delete_bin(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::UnknownBin)
    }
}
