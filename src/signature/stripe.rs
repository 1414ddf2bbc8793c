//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`, each
//! `v1` an HMAC-SHA256 of `<t>.<body>` keyed with the endpoint's signing
//! secret as shown (`whsec_…`, prefix included). Several `v1` appear while
//! a secret is being rolled; any may match. `v0` is not a live scheme and
//! is ignored, as Stripe's libraries do. Tolerance 5 minutes.

use super::claim::{Claim, SignatureList};
use super::mac;
use super::timestamp::Timestamp;
use super::{Algorithm, Encoding, Failure, Message, Verifier};

const HEADER: &str = "Stripe-Signature";
const SCHEME: &str = "v1";

/// Keys people paste instead of the endpoint's signing secret.
pub(super) fn secret_problem(secret: &str) -> Option<String> {
    ["sk_", "rk_", "pk_"]
        .into_iter()
        .find(|start| secret.starts_with(start))
        .map(|start| {
            format!(
                "this is a Stripe API key (`{start}…`), not the endpoint's signing secret, \
                 which starts with `whsec_`"
            )
        })
}

pub(super) fn claim(verifier: &Verifier, message: Message<'_>) -> Result<Claim, Failure> {
    let value = message.required_header(HEADER)?;
    let mut t = None;
    let mut signatures = SignatureList::default();
    for item in value.split(',').map(str::trim) {
        let Some((key, text)) = item.split_once('=') else {
            return Err(Failure::malformed(format!(
                "header {HEADER} has `{}` where `key=value` belongs",
                mac::shorten(item)
            )));
        };
        match key {
            "t" if t.is_none() => t = Some(text),
            SCHEME => signatures.add(item, text, Encoding::Hex),
            _ => {}
        }
    }
    let t =
        t.ok_or_else(|| Failure::malformed(format!("header {HEADER} has no timestamp (`t=`)")))?;
    let timestamp = Timestamp::read(t, &format!("`t` in {HEADER}"), verifier.tolerance())?;
    let signatures = signatures.finish(HEADER, SCHEME)?;
    Ok(Claim {
        algorithm: Algorithm::Sha256,
        key: verifier.secret.as_bytes().to_vec(),
        before_body: format!("{t}.").into_bytes(),
        prefix: format!("{SCHEME}="),
        encoding: Encoding::Hex,
        signatures,
        named: format!("{SCHEME} signature"),
        timestamp: Some(timestamp),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_fails_with, assert_reencoded, check, hex_hmac, verifier};
    use super::super::{Algorithm, Provider, Verifier};

    /// Stripe publishes no finished test vector (its "verify manually"
    /// guide shows a header without the secret and body behind it). This
    /// one was computed outside this code, with Python's `hmac` module:
    /// `hmac.new(b"whsec_test_secret", b"1614265330." + BODY, sha256)`,
    /// the secret and body being those of stripe-node's webhook tests.
    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    const T: i64 = 1_614_265_330;
    const V1: &str = "af4ead0627a34a8cca29808e8de9ada8e41a92e6237c63cef6eacf51d36cca34";

    fn stripe() -> Verifier {
        verifier(Provider::Stripe, SECRET)
    }

    fn header(signatures: &[&str]) -> String {
        let mut header = format!("t={T}");
        for signature in signatures {
            header.push_str(&format!(",v1={signature}"));
        }
        header
    }

    #[test]
    fn an_independently_computed_signature_passes_in_time() {
        let verdict = check(
            &stripe(),
            &[("Stripe-Signature", &header(&[V1]))],
            BODY,
            T + 299,
        );
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "v1 signature matches");
    }

    #[test]
    fn one_v1_of_three_is_enough_and_is_named() {
        let other = "0".repeat(64);
        let value = format!("{},v0={other}", header(&[&other, V1, &other]));
        let verdict = check(&stripe(), &[("stripe-signature", &value)], BODY, T);
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "v1 signature 2 of 3 matches");
    }

    #[test]
    fn one_flipped_body_byte_fails_listing_the_header_signatures() {
        let other = "1".repeat(64);
        let mut body = BODY.to_vec();
        body[10] ^= 0x20;
        let verdict = check(
            &stripe(),
            &[("Stripe-Signature", &header(&[V1, &other]))],
            &body,
            T,
        );
        assert!(!verdict.valid);
        let computed = hex_hmac(
            Algorithm::Sha256,
            SECRET.as_bytes(),
            &[b"1614265330.", &body],
        );
        assert_eq!(
            verdict.reason,
            format!(
                "computed `v1={}…` with this secret, header has `v1=af4ead06…`, `v1=11111111…`",
                &computed[..8]
            )
        );
    }

    #[test]
    fn a_tampered_header_fails() {
        let tampered = V1.replace("af4e", "af4f");
        let verdict = check(
            &stripe(),
            &[("Stripe-Signature", &header(&[&tampered]))],
            BODY,
            T,
        );
        assert!(!verdict.valid);
        // The timestamp is signed: a replay with a fresh `t` fails too.
        let replayed = format!("t={},v1={V1}", T + 600);
        let verdict = check(&stripe(), &[("Stripe-Signature", &replayed)], BODY, T + 600);
        assert!(!verdict.valid);
        assert!(verdict.reason.starts_with("computed `v1="), "{verdict:?}");
    }

    #[test]
    fn an_old_or_future_timestamp_fails_with_its_age() {
        let value = header(&[V1]);
        let verdict = check(&stripe(), &[("Stripe-Signature", &value)], BODY, T + 540);
        assert!(!verdict.valid);
        assert_eq!(verdict.reason, "timestamp 9 min old, tolerance 5 min");
        let verdict = check(&stripe(), &[("Stripe-Signature", &value)], BODY, T - 301);
        assert_eq!(
            verdict.reason,
            "timestamp 5 min 1 s in the future, tolerance 5 min"
        );
    }

    #[test]
    fn missing_and_malformed_headers_say_what_is_wrong() {
        let verdict = check(&stripe(), &[], BODY, T);
        assert_eq!(verdict.reason, "header Stripe-Signature missing");
        let cases = [
            ("v1=abc", "has no timestamp (`t=`)"),
            ("t=1614265330", "has no v1 signature"),
            ("t=1614265330,v0=00", "has no v1 signature"),
            ("t=1614265330,v1=xyz", "the v1 signature `xyz` is not hex"),
            ("t=1614265330,v1", "has `v1` where `key=value` belongs"),
            (
                "t=now,v1=00",
                "`t` in Stripe-Signature is `now`, not a Unix time in seconds",
            ),
        ];
        for (value, expected) in cases {
            let verdict = check(&stripe(), &[("Stripe-Signature", value)], BODY, T);
            assert_fails_with(&verdict, expected);
        }
    }

    #[test]
    fn a_compacted_event_is_detected() {
        let received = b"{\"id\":\"evt_test_webhook\",\"object\":\"event\"}";
        let verdict = check(
            &stripe(),
            &[("Stripe-Signature", &header(&[V1]))],
            received,
            T,
        );
        assert_reencoded(&verdict, "re-encoded as pretty-printed JSON");
    }

    #[test]
    fn an_api_key_is_not_a_signing_secret() {
        let problem = verifier(Provider::Stripe, "sk_test_123").problem();
        assert!(problem.is_some_and(|p| p.contains("whsec_")));
        assert_eq!(stripe().problem(), None);
    }
}
