//! The settings page's signature verifiers: add one, remove one, and
//! "verify again" (check the bin's stored requests with them). Plain
//! forms, so they work without JavaScript; the secret goes in and is never
//! shown back (the list shows its fingerprint).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::api::checked_verifiers;
use crate::error::AppError;
use crate::extract::{BinPath, SameOrigin};
use crate::query::provider_named;
use crate::signature::{Algorithm, Encoding, Provider, Verifier};
use crate::state::AppState;

/// The "add a verifier" form, as text (fields a provider does not use are
/// ignored). No `Debug`: it holds the secret.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct VerifierForm {
    provider: String,
    secret: String,
    /// Generic HMAC: the header, the hash, the digest's spelling, a prefix.
    header: String,
    algorithm: String,
    encoding: String,
    prefix: String,
    /// Seconds; empty: the provider's default.
    tolerance_secs: String,
}

impl VerifierForm {
    /// The verifier this form describes, or the one-line reason it is not
    /// one.
    fn verifier(self) -> Result<Verifier, String> {
        let provider = provider_named(self.provider.trim())
            .ok_or_else(|| format!("unknown provider {:?}", self.provider))?;
        let text = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let hmac = provider == Provider::Hmac;
        let tolerance_secs = match self.tolerance_secs.trim() {
            "" => None,
            secs => Some(secs.parse::<u32>().map_err(|_| {
                format!("the timestamp tolerance must be a whole number of seconds, not {secs:?}")
            })?),
        };
        let (algorithm, encoding) = if hmac {
            let algorithm = match self.algorithm.trim() {
                "" | "sha256" => Algorithm::Sha256,
                "sha1" => Algorithm::Sha1,
                "sha512" => Algorithm::Sha512,
                other => return Err(format!("unknown hash {other:?}")),
            };
            let encoding = match self.encoding.trim() {
                "" | "hex" => Encoding::Hex,
                "base64" => Encoding::Base64,
                other => return Err(format!("unknown digest encoding {other:?}")),
            };
            (Some(algorithm), Some(encoding))
        } else {
            (None, None)
        };
        Ok(Verifier {
            provider,
            // As typed: a secret's spaces may be part of it.
            secret: self.secret,
            header: text(self.header).filter(|_| hmac),
            algorithm,
            encoding,
            // A prefix such as `sha256=` is kept as typed, spaces aside.
            prefix: text(self.prefix).filter(|_| hmac),
            tolerance_secs: tolerance_secs.filter(|_| {
                matches!(
                    provider,
                    Provider::Stripe | Provider::Slack | Provider::Standard
                )
            }),
        })
    }
}

/// `POST /view/{bin}/verifiers`: adds a verifier, then back to the
/// settings; a verifier that cannot work is a 400 with the reason.
pub async fn add_verifier(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    _: SameOrigin,
    Form(form): Form<VerifierForm>,
) -> Result<Response, AppError> {
    let verifier = form.verifier().map_err(AppError::BadRequest)?;
    let mut settings = bin.settings.clone();
    settings.verifiers.push(verifier);
    settings.verifiers = checked_verifiers(settings.verifiers).map_err(AppError::BadRequest)?;
    state.store.update_bin(bin.id, settings).await?;
    Ok(back_to_settings(&bin.id.to_string(), "verifier=added"))
}

/// `POST /view/{bin}/verifiers/{n}/remove`: removes the `n`th verifier
/// (from 1, as listed).
pub async fn remove_verifier(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, n)): Path<(String, String)>,
    _: SameOrigin,
) -> Result<Response, AppError> {
    let mut settings = bin.settings.clone();
    let index = n
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| i < settings.verifiers.len())
        .ok_or_else(|| AppError::BadRequest(format!("this bin has no verifier {n:?}")))?;
    settings.verifiers.remove(index);
    state.store.update_bin(bin.id, settings).await?;
    Ok(back_to_settings(&bin.id.to_string(), "verifier=removed"))
}

/// `POST /view/{bin}/verify`: "verify again", then the settings page with
/// the counts.
pub async fn verify_again(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    _: SameOrigin,
) -> Result<Response, AppError> {
    let found = state
        .store
        .verify_again(bin.id, &bin.settings.verifiers)
        .await?;
    let counts = format!(
        "checked={}&valid={}&invalid={}",
        found.checked, found.valid, found.invalid
    );
    Ok(back_to_settings(&bin.id.to_string(), &counts))
}

/// 303 to the settings page's verifier section, with `query`.
fn back_to_settings(bin: &str, query: &str) -> Response {
    Redirect::to(&format!("/view/{bin}/settings?{query}#signatures")).into_response()
}
