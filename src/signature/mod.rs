//! Webhook signature checks: would this captured request pass the
//! sender's signature check in the developer's app?
//!
//! A bin holds a list of [`Verifier`]s (a provider and a secret); every
//! capture is checked over its exact stored bytes and gets one
//! [`Verdict`]. This module knows nothing of bins or storage: it takes a
//! [`Message`] (headers, body, when it arrived) so `model` can build on it.
//!
//! INTERFACE FIXED BY THE LEAD (issue 15): the types and function
//! signatures below are what the rest of the code builds against. The
//! bodies are filled in on branch `sig-core`.

use serde::{Deserialize, Serialize};

/// Who signed the request, and so how the signature is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github,
    /// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` over `t.body`.
    Stripe,
    /// `X-Slack-Signature: v0=<hex>` over `v0:<ts>:body`, with
    /// `X-Slack-Request-Timestamp`.
    Slack,
    /// `X-Shopify-Hmac-Sha256: <base64>` over the body.
    Shopify,
    /// Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64> [v1,<base64>…]`, `whsec_` secrets.
    Standard,
    /// Any HMAC: algorithm, header, hex or base64, optional prefix.
    Hmac,
}

impl Provider {
    /// The name in the API and the search language (`github`, `stripe`,
    /// `slack`, `shopify`, `standard`, `hmac`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Standard => "standard",
            Self::Hmac => "hmac",
        }
    }
}

/// The hash of a generic HMAC verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

/// How a generic HMAC verifier's header spells the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

/// One configured check of a bin: a provider and its secret. Serialized
/// as the API spells it (`{"provider": "github", "secret": "…"}`) and so
/// stored; the secret never leaves the server (see [`VerifierView`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    pub provider: Provider,
    pub secret: String,
    /// Generic HMAC only: the header carrying the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Generic HMAC only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    /// Generic HMAC only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// Generic HMAC only: text before the digest, such as `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Stripe, Slack, Standard Webhooks: the oldest (or furthest in the
    /// future) a signed timestamp may be, in seconds; `None`: the
    /// provider's documented default (300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u32>,
}

/// Never print a secret, not even in a debug log.
impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("provider", &self.provider)
            .field("secret", &format_args!("<{}>", self.fingerprint()))
            .field("header", &self.header)
            .field("algorithm", &self.algorithm)
            .field("encoding", &self.encoding)
            .field("prefix", &self.prefix)
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// A verifier as the API and pages show it: everything but the secret,
/// which appears only as its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifierView {
    pub provider: Provider,
    /// `sha256:` and the first 12 hex digits of SHA-256 of the secret.
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u32>,
}

impl Verifier {
    /// Why this verifier cannot work (empty secret, a generic HMAC
    /// without a header, a Standard Webhooks secret that is not base64…),
    /// as one line for a 400; `None` when it is usable.
    pub fn problem(&self) -> Option<String> {
        // Placeholder until sig-core: only the obvious case.
        self.secret
            .is_empty()
            .then(|| "secret may not be empty".into())
    }

    /// A short, stable, non-reversible name for the secret.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.secret.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    pub fn view(&self) -> VerifierView {
        VerifierView {
            provider: self.provider,
            fingerprint: self.fingerprint(),
            header: self.header.clone(),
            algorithm: self.algorithm,
            encoding: self.encoding,
            prefix: self.prefix.clone(),
            tolerance_secs: self.tolerance_secs,
        }
    }
}

/// What a check looks at: one captured request as stored.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Header fields in arrival order, names as sent (matched ignoring
    /// ASCII case), values as bytes.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body exactly as stored.
    pub body: &'a [u8],
    /// When the request arrived, seconds since the Unix epoch: timestamp
    /// tolerances are judged against this, so checking again later gives
    /// the same answer.
    pub received_at_secs: i64,
}

/// The outcome of checking one request against a bin's verifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub provider: Provider,
    pub valid: bool,
    /// One line a developer can act on: for a failure, what was expected
    /// and what the header had ("computed `sha256=ab12…` with this
    /// secret, header has `sha256=9f3c…`"), "timestamp 9 min old,
    /// tolerance 5 min", "header X-Hub-Signature-256 missing", "body was
    /// re-encoded…"; for a pass, which signature matched.
    pub reason: String,
}

/// Checks `message` against `verifiers`; `None` when there are none.
///
/// The request is valid when any verifier accepts it. Otherwise the
/// verdict is the failure of the most telling verifier: one whose
/// signature header is present, before one whose header is missing.
pub fn verify(verifiers: &[Verifier], message: Message<'_>) -> Option<Verdict> {
    // Placeholder until sig-core: every configured check fails.
    let _ = message;
    verifiers.first().map(|v| Verdict {
        provider: v.provider,
        valid: false,
        reason: "signature checks are not implemented yet".into(),
    })
}
