//! Standard Webhooks (and Svix, which wrote it): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` (or the same with `svix-`),
//! each signature an HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed with
//! the base64 key after `whsec_`. The signature header lists entries
//! `v1,<base64>` separated by spaces, for secret rotation; any `v1` may
//! match, other schemes (`v1a`, asymmetric) are not HMAC and are skipped.
//! Tolerance 5 minutes.

use super::claim::{Claim, Signature, SignatureList};
use super::mac;
use super::timestamp::Timestamp;
use super::{Algorithm, Encoding, Failure, Message, Verifier};

const SECRET_PREFIX: &str = "whsec_";
const SCHEME: &str = "v1";
/// Header name prefixes, the standard's first: `webhook-id`, `svix-id`.
const HEADER_FAMILIES: [&str; 2] = ["webhook", "svix"];

/// The HMAC key a secret stands for: the base64 after `whsec_` (the
/// prefix may be left off, as the reference libraries allow).
pub(super) fn key(secret: &str) -> Result<Vec<u8>, String> {
    if secret.starts_with("whpk_") || secret.starts_with("whsk_") {
        return Err(
            "asymmetric keys (`whpk_`, `whsk_`) are not supported: only v1 HMAC signatures are \
             checked, with a `whsec_` secret"
                .into(),
        );
    }
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match Encoding::Base64.read(encoded) {
        Some(key) if !key.is_empty() => Ok(key),
        Some(_) => Err(format!("secret holds no key after `{SECRET_PREFIX}`")),
        None => Err(format!(
            "secret is not `{SECRET_PREFIX}` followed by base64, as Standard Webhooks and Svix \
             show it"
        )),
    }
}

pub(super) fn claim(verifier: &Verifier, message: Message<'_>) -> Result<Claim, Failure> {
    let mut found = None;
    for family in HEADER_FAMILIES {
        let name = format!("{family}-signature");
        if let Some(value) = message.header(&name)? {
            found = Some((family, name, value));
            break;
        }
    }
    let Some((family, header, value)) = found else {
        return Err(Failure::missing("webhook-signature"));
    };
    // The signature is there, so the request means to be signed: a
    // missing id or timestamp weighs as much as a bad signature.
    let signed_header = |part: &str| {
        let name = format!("{family}-{part}");
        message.header(&name)?.ok_or_else(|| {
            Failure::present(format!(
                "header {name} missing; it is signed along with the body"
            ))
        })
    };
    let id = signed_header("id")?;
    let timestamp_text = signed_header("timestamp")?;
    let timestamp = Timestamp::read(
        timestamp_text,
        &format!("header {family}-timestamp"),
        verifier.tolerance(),
    )?;
    let signatures = read_signatures(&header, value)?;
    let key = key(&verifier.secret).map_err(Failure::malformed)?;
    Ok(Claim {
        algorithm: Algorithm::Sha256,
        key,
        before_body: format!("{id}.{timestamp_text}.").into_bytes(),
        prefix: format!("{SCHEME},"),
        encoding: Encoding::Base64,
        signatures,
        named: format!("{SCHEME} signature"),
        timestamp: Some(timestamp),
    })
}

fn read_signatures(header: &str, value: &str) -> Result<Vec<Signature>, Failure> {
    let mut signatures = SignatureList::default();
    for entry in value.split_ascii_whitespace() {
        let Some((scheme, text)) = entry.split_once(',') else {
            return Err(Failure::malformed(format!(
                "header {header} has `{}` where `{SCHEME},<base64>` belongs",
                mac::shorten(entry)
            )));
        };
        if scheme != SCHEME {
            continue;
        }
        signatures.add(entry, text, Encoding::Base64);
    }
    signatures.finish(header, SCHEME)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_fails_with, check, verifier};
    use super::super::{Provider, Verifier};

    /// The signing vector of the Standard Webhooks reference libraries
    /// ("sign function works" in libraries/javascript/src/webhook.test.ts
    /// of github.com/standard-webhooks/standard-webhooks; the same values
    /// appear in Svix's libraries and verification docs).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: &str = "1614265330";
    const AT: i64 = 1_614_265_330;
    const BODY: &[u8] = b"{\"test\": 2432232314}";
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    /// A well-formed signature of something else, from the same tests.
    const OTHER: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    fn standard() -> Verifier {
        verifier(Provider::Standard, SECRET)
    }

    fn headers<'a>(family: &str, signature: &'a str) -> Vec<(String, &'a str)> {
        vec![
            (format!("{family}-id"), ID),
            (format!("{family}-timestamp"), TIMESTAMP),
            (format!("{family}-signature"), signature),
        ]
    }

    fn checked(
        verifier: &Verifier,
        headers: &[(String, &str)],
        body: &[u8],
        at: i64,
    ) -> super::super::Verdict {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        check(verifier, &headers, body, at)
    }

    #[test]
    fn the_reference_vector_passes_under_both_header_names_and_secret_spellings() {
        let unprefixed = verifier(Provider::Standard, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        for family in ["webhook", "svix"] {
            for verifier in [standard(), unprefixed.clone()] {
                let verdict = checked(&verifier, &headers(family, SIGNATURE), BODY, AT + 10);
                assert!(verdict.valid, "{family}: {verdict:?}");
                assert_eq!(verdict.reason, "v1 signature matches");
            }
        }
    }

    #[test]
    fn one_v1_among_several_entries_is_enough() {
        // The reference libraries' "multi sig payload is valid" list: a v2
        // entry is no HMAC signature and is not counted.
        let value = format!("{OTHER} v2,{} {SIGNATURE} {OTHER}", &OTHER[3..]);
        let verdict = checked(&standard(), &headers("webhook", &value), BODY, AT);
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "v1 signature 2 of 3 matches");
    }

    #[test]
    fn one_flipped_body_byte_fails_showing_both_signatures() {
        let verdict = checked(
            &standard(),
            &headers("webhook", SIGNATURE),
            b"{\"test\": 2432232315}",
            AT,
        );
        assert!(!verdict.valid);
        assert!(verdict.reason.starts_with("computed `v1,"), "{verdict:?}");
        assert!(
            verdict.reason.ends_with("header has `v1,g0hM9SsE…`"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_tampered_header_fails() {
        let verdict = checked(&standard(), &headers("webhook", OTHER), BODY, AT);
        assert!(!verdict.valid);
        assert!(
            verdict.reason.ends_with("header has `v1,Ceo5qEr0…`"),
            "{verdict:?}"
        );
        // The id is signed: another message's id breaks the signature.
        let mut moved = headers("webhook", SIGNATURE);
        moved[0].1 = "msg_another";
        let verdict = checked(&standard(), &moved, BODY, AT);
        assert!(!verdict.valid);
    }

    #[test]
    fn an_old_or_future_timestamp_fails_with_its_age() {
        let verdict = checked(&standard(), &headers("webhook", SIGNATURE), BODY, AT + 400);
        assert!(!verdict.valid);
        assert_eq!(verdict.reason, "timestamp 6 min 40 s old, tolerance 5 min");
        let verdict = checked(&standard(), &headers("svix", SIGNATURE), BODY, AT - 301);
        assert_eq!(
            verdict.reason,
            "timestamp 5 min 1 s in the future, tolerance 5 min"
        );
    }

    #[test]
    fn missing_and_malformed_headers_say_what_is_wrong() {
        let verdict = checked(&standard(), &[], BODY, AT);
        assert_eq!(verdict.reason, "header webhook-signature missing");
        for (drop, name) in [(0, "webhook-id"), (1, "webhook-timestamp")] {
            let mut partial = headers("webhook", SIGNATURE);
            partial.remove(drop);
            let verdict = checked(&standard(), &partial, BODY, AT);
            assert!(!verdict.valid);
            assert!(
                verdict
                    .reason
                    .starts_with(&format!("header {name} missing")),
                "{verdict:?}"
            );
        }
        let cases = [
            ("v1,", "the v1 signature is empty"),
            (
                "v1,dawfeoifkpqwoekfpqoekf",
                "`dawfeoifkpqwoekfpqoekf` is not base64",
            ),
            (
                "v1,ZWlnaHRlZW4gYnl0ZXMgb2sh",
                "the v1 signature carries 18 bytes",
            ),
            (
                "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw",
                "has no v1 signature",
            ),
            (
                "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                "where `v1,<base64>` belongs",
            ),
        ];
        for (value, expected) in cases {
            let verdict = checked(&standard(), &headers("webhook", value), BODY, AT);
            assert_fails_with(&verdict, expected);
        }
    }

    #[test]
    fn a_body_compacted_on_the_way_is_detected() {
        let verdict = checked(
            &standard(),
            &headers("webhook", SIGNATURE),
            b"{\"test\":2432232314}",
            AT,
        );
        assert!(!verdict.valid);
        assert_eq!(
            verdict.reason,
            "signature matches this body re-encoded as Python's json.dumps writes it (a space \
             after `:` and `,`, non-ASCII escaped), not the bytes received: something between \
             sender and here (or your framework) re-encoded it"
        );
    }

    #[test]
    fn secrets_that_hold_no_hmac_key_are_refused() {
        let problem = |secret: &str| {
            verifier(Provider::Standard, secret)
                .problem()
                .unwrap_or_default()
        };
        assert!(problem("whsec_not base64!").contains("not `whsec_` followed by base64"));
        assert!(problem("whsec_").contains("no key"));
        assert!(problem("whpk_MCowBQYDK2VwAyEA").contains("asymmetric"));
        assert_eq!(standard().problem(), None);
    }
}
