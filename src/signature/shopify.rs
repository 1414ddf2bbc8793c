//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, the HMAC-SHA256 of the body
//! keyed with the app's client secret (or the store's webhook signing
//! secret) as typed.

use super::claim::{Claim, Signature};
use super::{Algorithm, Encoding, Failure, Message, Verifier};

const HEADER: &str = "X-Shopify-Hmac-Sha256";

pub(super) fn claim(verifier: &Verifier, message: Message<'_>) -> Result<Claim, Failure> {
    let value = message.required_header(HEADER)?;
    let signature = Signature::read(HEADER, value, "", Encoding::Base64, Algorithm::Sha256)?;
    Ok(Claim {
        algorithm: Algorithm::Sha256,
        key: verifier.secret.as_bytes().to_vec(),
        before_body: Vec::new(),
        prefix: String::new(),
        encoding: Encoding::Base64,
        signatures: vec![signature],
        named: "signature".into(),
        timestamp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_reencoded, base64_hmac, check, check_all, verifier};
    use super::super::{Algorithm, Provider};

    /// Shopify's documentation ("HTTPS webhook delivery", "Verify the
    /// webhook") shows the computation in a Flask example but publishes no
    /// finished signature. This one was computed outside this code, with
    /// Python's `hmac` module, from that example's placeholder secret:
    /// `base64(hmac.new(b"my_api_secret_key", BODY, sha256).digest())`.
    const SECRET: &str = "my_api_secret_key";
    const BODY: &[u8] =
        b"{\"id\":820982911946154508,\"email\":\"jon@example.com\",\"total_price\":\"403.00\"}";
    const SIGNATURE: &str = "9t5DuZL/5pwCtkdj7Q6Nnw/AyNa1sJGpQmac8EkdTag=";

    #[test]
    fn an_independently_computed_signature_passes() {
        let verdict = check(
            &verifier(Provider::Shopify, SECRET),
            &[("X-Shopify-Hmac-SHA256", SIGNATURE)],
            BODY,
            0,
        );
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "signature matches");
    }

    #[test]
    fn one_flipped_body_byte_fails_showing_base64_prefixes() {
        let body = String::from_utf8_lossy(BODY).replace("403.00", "404.00");
        let verdict = check(
            &verifier(Provider::Shopify, SECRET),
            &[("X-Shopify-Hmac-Sha256", SIGNATURE)],
            body.as_bytes(),
            0,
        );
        assert!(!verdict.valid);
        let computed = base64_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[body.as_bytes()]);
        assert_eq!(
            verdict.reason,
            format!(
                "computed `{}…` with this secret, header has `9t5DuZL/…`",
                &computed[..8]
            )
        );
    }

    #[test]
    fn a_tampered_header_fails() {
        let tampered = SIGNATURE.replace("9t5D", "9t5E");
        let verdict = check(
            &verifier(Provider::Shopify, SECRET),
            &[("X-Shopify-Hmac-Sha256", &tampered)],
            BODY,
            0,
        );
        assert!(!verdict.valid);
        // A hex digest where base64 belongs is the usual slip.
        let hex = "f6de43b992ffe69c02b64763ed0e8d9f0fc0c8d6b5b091a942669cf0491d4da8";
        let verdict = check(
            &verifier(Provider::Shopify, SECRET),
            &[("X-Shopify-Hmac-Sha256", hex)],
            BODY,
            0,
        );
        assert!(
            verdict
                .reason
                .contains("carries 48 bytes, HMAC-SHA256 gives 32"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_missing_header_is_named() {
        let verdict = check(&verifier(Provider::Shopify, SECRET), &[], BODY, 0);
        assert_eq!(verdict.reason, "header X-Shopify-Hmac-Sha256 missing");
    }

    #[test]
    fn one_secret_of_two_is_enough() {
        let verdict = check_all(
            &[
                verifier(Provider::Shopify, "rotated"),
                verifier(Provider::Shopify, SECRET),
            ],
            &[("X-Shopify-Hmac-Sha256", SIGNATURE)],
            BODY,
            0,
        );
        assert!(verdict.valid, "{verdict:?}");
    }

    #[test]
    fn a_reencoded_body_is_detected() {
        let received = b"{\"id\": 820982911946154508, \"email\": \"jon@example.com\", \"total_price\": \"403.00\"}";
        let verdict = check(
            &verifier(Provider::Shopify, SECRET),
            &[("X-Shopify-Hmac-Sha256", SIGNATURE)],
            received,
            0,
        );
        assert_reencoded(&verdict, "re-encoded as compact JSON");
    }
}
