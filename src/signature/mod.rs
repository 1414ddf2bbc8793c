//! Webhook signature checks: would this captured request pass the
//! sender's signature check in the developer's app?
//!
//! A bin holds a list of [`Verifier`]s (a provider and a secret); every
//! capture is checked over its exact stored bytes and gets one
//! [`Verdict`]. This module knows nothing of bins or storage: it takes a
//! [`Message`] (headers, body, when it arrived) so `model` can build on it.
//!
//! Each provider reads its headers into a `claim::Claim` (what was
//! signed, what the header says the signature is); the claim is judged the
//! same way for all, so every provider gives the same kinds of reasons.

mod claim;
mod generic;
mod github;
mod mac;
mod reencoded;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod timestamp;

use serde::{Deserialize, Serialize};

/// How far a signed timestamp may be from the request's arrival when a
/// verifier sets no `tolerance_secs`: the 5 minutes Stripe, Slack and
/// Standard Webhooks all document.
pub const DEFAULT_TOLERANCE_SECS: u32 = 300;

/// The largest `tolerance_secs` a verifier may set: beyond a day the
/// timestamp no longer guards against replays at all.
pub const MAX_TOLERANCE_SECS: u32 = 86_400;

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

    /// The name people know it by, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Github => "GitHub",
            Self::Stripe => "Stripe",
            Self::Slack => "Slack",
            Self::Shopify => "Shopify",
            Self::Standard => "Standard Webhooks / Svix",
            Self::Hmac => "HMAC",
        }
    }

    /// Whether its signatures cover a timestamp, and so take a tolerance.
    pub fn signs_timestamp(self) -> bool {
        matches!(self, Self::Stripe | Self::Slack | Self::Standard)
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
        self.secret_problem()
            .or_else(|| self.layout_problem())
            .or_else(|| self.tolerance_problem())
    }

    fn secret_problem(&self) -> Option<String> {
        if self.secret.is_empty() {
            return Some("secret may not be empty".into());
        }
        if self.secret.len() > LONGEST_SECRET {
            return Some(format!(
                "secret is longer than {LONGEST_SECRET} bytes; paste the signing secret only"
            ));
        }
        if self.secret.trim() != self.secret {
            return Some(
                "secret starts or ends with whitespace, which would be signed with it: remove it"
                    .into(),
            );
        }
        match self.provider {
            Provider::Stripe => stripe::secret_problem(&self.secret),
            Provider::Standard => standard::key(&self.secret).err(),
            _ => None,
        }
    }

    fn layout_problem(&self) -> Option<String> {
        if self.provider == Provider::Hmac {
            return generic::layout_problem(self);
        }
        let set = [
            ("header", self.header.is_some()),
            ("algorithm", self.algorithm.is_some()),
            ("encoding", self.encoding.is_some()),
            ("prefix", self.prefix.is_some()),
        ];
        let (field, _) = set.into_iter().find(|(_, is_set)| *is_set)?;
        Some(format!(
            "`{field}` applies only to provider hmac: {} signatures have a fixed layout",
            self.provider.name()
        ))
    }

    fn tolerance_problem(&self) -> Option<String> {
        let tolerance = self.tolerance_secs?;
        if !self.provider.signs_timestamp() {
            return Some(format!(
                "`tolerance_secs` applies only to stripe, slack and standard: {} signatures \
                 carry no timestamp",
                self.provider.name()
            ));
        }
        if tolerance == 0 {
            return Some("`tolerance_secs` must be at least 1".into());
        }
        (tolerance > MAX_TOLERANCE_SECS)
            .then(|| format!("`tolerance_secs` may be at most {MAX_TOLERANCE_SECS} (1 day)"))
    }

    /// How far from arrival this verifier accepts a signed timestamp.
    fn tolerance(&self) -> u32 {
        self.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS)
    }

    /// The check in a few words, for pages: "GitHub", or for a generic
    /// HMAC "HMAC-SHA256 (hex) in X-Signature".
    pub fn label(&self) -> String {
        match (self.provider, &self.header) {
            (Provider::Hmac, Some(header)) => format!(
                "{} ({}) in {header}",
                self.algorithm.unwrap_or_default().label(),
                self.encoding.unwrap_or_default().name(),
            ),
            (provider, _) => provider.label().into(),
        }
    }

    /// Whether `message` passes this check: which signature matched, or
    /// why none did.
    fn check(&self, message: Message<'_>) -> Result<String, Failure> {
        if let Some(problem) = self.problem() {
            return Err(Failure::unusable(&problem));
        }
        let claim = match self.provider {
            Provider::Github => github::claim(self, message),
            Provider::Stripe => stripe::claim(self, message),
            Provider::Slack => slack::claim(self, message),
            Provider::Shopify => shopify::claim(self, message),
            Provider::Standard => standard::claim(self, message),
            Provider::Hmac => generic::claim(self, message),
        }?;
        claim.judge(message.body, message.received_at_secs)
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
    // With several secrets (a rotation, two senders) the developer needs
    // to know which one a reason is about.
    let whose = |verifier: &Verifier, reason: String| match verifiers.len() {
        1 => reason,
        _ => format!("{reason} (secret {})", verifier.fingerprint()),
    };
    let mut telling: Option<(&Verifier, Failure)> = None;
    for verifier in verifiers {
        match verifier.check(message) {
            Ok(reason) => {
                return Some(Verdict {
                    provider: verifier.provider,
                    valid: true,
                    reason: whose(verifier, reason),
                })
            }
            Err(failure) => {
                if telling
                    .as_ref()
                    .is_none_or(|(_, t)| failure.weight > t.weight)
                {
                    telling = Some((verifier, failure));
                }
            }
        }
    }
    telling.map(|(verifier, failure)| Verdict {
        provider: verifier.provider,
        valid: false,
        reason: match failure.weight {
            Weight::HeaderPresent => whose(verifier, failure.reason),
            Weight::HeaderMissing | Weight::Unusable => failure.reason,
        },
    })
}

/// A secret no provider issues: a pasted file or key pair, not a secret.
const LONGEST_SECRET: usize = 1024;

/// Why a verifier rejected a request, and how much that tells.
#[derive(Debug)]
struct Failure {
    reason: String,
    weight: Weight,
}

/// Ordered from least to most telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    /// The verifier itself is wrong (stored before it was validated).
    Unusable,
    /// The request carries no signature for this provider at all.
    HeaderMissing,
    /// The request carries one, and it did not pass.
    HeaderPresent,
}

impl Failure {
    fn unusable(problem: &str) -> Self {
        Self {
            reason: format!("this verifier cannot work: {problem}"),
            weight: Weight::Unusable,
        }
    }

    fn missing(header: &str) -> Self {
        Self {
            reason: format!("header {header} missing"),
            weight: Weight::HeaderMissing,
        }
    }

    /// The signature header is there but cannot be read as its provider
    /// writes it.
    fn malformed(reason: String) -> Self {
        Self::present(reason)
    }

    fn present(reason: String) -> Self {
        Self {
            reason,
            weight: Weight::HeaderPresent,
        }
    }
}

impl<'a> Message<'a> {
    /// The first value of header `name` (any case), without surrounding
    /// blanks; `None` when the request has no such header.
    fn header(&self, name: &str) -> Result<Option<&'a str>, Failure> {
        let Some((_, value)) = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        std::str::from_utf8(value)
            .map(|text| Some(text.trim_matches([' ', '\t'])))
            .map_err(|_| Failure::malformed(format!("header {name} is not text")))
    }

    /// Like [`Message::header`], for a header the check cannot do without.
    fn required_header(&self, name: &str) -> Result<&'a str, Failure> {
        self.header(name)?.ok_or_else(|| Failure::missing(name))
    }
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::testing::{check_all, hex_hmac, verifier};
    use super::*;

    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    /// GitHub's documented vector (see `github.rs`).
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn no_verifiers_no_verdict() {
        let message = Message {
            headers: &[],
            body: b"",
            received_at_secs: 0,
        };
        assert_eq!(verify(&[], message), None);
    }

    #[test]
    fn any_passing_verifier_makes_the_request_valid() {
        let verifiers = [
            verifier(Provider::Stripe, "whsec_x"),
            verifier(Provider::Github, "old secret"),
            verifier(Provider::Github, GITHUB_SECRET),
        ];
        let verdict = check_all(
            &verifiers,
            &[("X-Hub-Signature-256", GITHUB_SIGNATURE)],
            b"Hello, World!",
            0,
        );
        assert_eq!(verdict.provider, Provider::Github);
        assert!(verdict.valid);
        assert_eq!(
            verdict.reason,
            format!(
                "sha256 signature matches (secret {})",
                verifiers[2].fingerprint()
            )
        );
    }

    #[test]
    fn a_present_header_tells_more_than_a_missing_one() {
        let verifiers = [
            verifier(Provider::Stripe, "whsec_x"),
            verifier(Provider::Github, "wrong secret"),
            verifier(Provider::Slack, "slack"),
        ];
        let verdict = check_all(
            &verifiers,
            &[("X-Hub-Signature-256", GITHUB_SIGNATURE)],
            b"Hello, World!",
            0,
        );
        assert_eq!(verdict.provider, Provider::Github);
        assert!(!verdict.valid);
        let computed = hex_hmac(Algorithm::Sha256, b"wrong secret", &[b"Hello, World!"]);
        assert_eq!(
            verdict.reason,
            format!(
                "computed `sha256={}…` with this secret, header has `sha256=757107ea…` (secret {})",
                &computed[..8],
                verifiers[1].fingerprint()
            )
        );

        // Nothing present: the first verifier's missing header.
        let verdict = check_all(&verifiers, &[], b"Hello, World!", 0);
        assert_eq!(verdict.provider, Provider::Stripe);
        assert_eq!(verdict.reason, "header Stripe-Signature missing");
    }

    #[test]
    fn a_verifier_stored_broken_says_so_below_any_header_reason() {
        let broken = verifier(Provider::Hmac, "secret");
        let verdict = check_all(std::slice::from_ref(&broken), &[], b"", 0);
        assert!(!verdict.valid);
        assert!(
            verdict
                .reason
                .starts_with("this verifier cannot work: provider hmac needs `header`"),
            "{verdict:?}"
        );
        let verdict = check_all(&[broken, verifier(Provider::Github, "s")], &[], b"", 0);
        assert_eq!(verdict.reason, "header X-Hub-Signature-256 missing");
    }

    #[test]
    fn headers_are_matched_in_any_case_and_must_be_text() {
        let verdict = check_all(
            &[verifier(Provider::Github, GITHUB_SECRET)],
            &[("x-HUB-signature-256", GITHUB_SIGNATURE)],
            b"Hello, World!",
            0,
        );
        assert!(verdict.valid, "{verdict:?}");
        let headers: [(&str, &[u8]); 1] = [("X-Hub-Signature-256", b"sha256=\xff")];
        let message = Message {
            headers: &headers,
            body: b"",
            received_at_secs: 0,
        };
        let verdict = verify(&[verifier(Provider::Github, "s")], message).expect("a verdict");
        assert_eq!(verdict.reason, "header X-Hub-Signature-256 is not text");
    }

    #[test]
    fn every_configuration_problem_is_one_line() {
        let problem = |v: Verifier| v.problem().unwrap_or_else(|| panic!("accepted {v:?}"));
        let github = || verifier(Provider::Github, "s3cret");
        let cases = [
            (verifier(Provider::Github, ""), "secret may not be empty"),
            (verifier(Provider::Github, " s3cret\n"), "whitespace"),
            (
                verifier(Provider::Github, &"x".repeat(1025)),
                "longer than 1024",
            ),
            (
                Verifier {
                    prefix: Some("sha256=".into()),
                    ..github()
                },
                "`prefix` applies only to provider hmac",
            ),
            (
                Verifier {
                    encoding: Some(Encoding::Base64),
                    ..verifier(Provider::Shopify, "s")
                },
                "`encoding` applies only to provider hmac",
            ),
            (
                Verifier {
                    tolerance_secs: Some(60),
                    ..github()
                },
                "github signatures carry no timestamp",
            ),
            (
                Verifier {
                    tolerance_secs: Some(0),
                    ..verifier(Provider::Slack, "s")
                },
                "at least 1",
            ),
            (
                Verifier {
                    tolerance_secs: Some(86_401),
                    ..verifier(Provider::Stripe, "whsec_s")
                },
                "at most 86400 (1 day)",
            ),
            (verifier(Provider::Standard, "whsec_%%%"), "base64"),
        ];
        for (verifier, expected) in cases {
            let problem = problem(verifier);
            assert!(problem.contains(expected), "{problem}");
            assert!(!problem.contains('\n'), "{problem}");
        }
        assert_eq!(github().problem(), None);
        let day = Verifier {
            tolerance_secs: Some(MAX_TOLERANCE_SECS),
            ..verifier(Provider::Standard, "whsec_c2VjcmV0")
        };
        assert_eq!(day.problem(), None);
    }

    #[test]
    fn labels_name_the_check() {
        assert_eq!(
            verifier(Provider::Standard, "s").label(),
            "Standard Webhooks / Svix"
        );
        let hmac = Verifier {
            header: Some("X-Signature".into()),
            algorithm: Some(Algorithm::Sha512),
            encoding: Some(Encoding::Base64),
            ..verifier(Provider::Hmac, "s")
        };
        assert_eq!(hmac.label(), "HMAC-SHA512 (base64) in X-Signature");
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let debug = format!("{:?}", verifier(Provider::Github, GITHUB_SECRET));
        assert!(!debug.contains(GITHUB_SECRET), "{debug}");
        assert!(debug.contains("sha256:"), "{debug}");
    }
}
