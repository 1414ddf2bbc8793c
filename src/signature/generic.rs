//! A generic HMAC, for senders without a provider of their own: the
//! digest of the body alone, in a header the developer names, in hex or
//! base64, maybe after a prefix such as `sha256=`.

use super::claim::{Claim, Signature};
use super::{Failure, Message, Verifier};

pub(super) fn layout_problem(verifier: &Verifier) -> Option<String> {
    let Some(header) = verifier.header.as_deref() else {
        return Some("provider hmac needs `header`, the header that carries the signature".into());
    };
    let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if header.is_empty() || !header.chars().all(is_token) {
        return Some(format!(
            "`header` is `{}`, not a header name",
            super::mac::shorten(header)
        ));
    }
    let prefix = verifier.prefix.as_deref().unwrap_or_default();
    if prefix.chars().any(|c| c.is_control()) || prefix.len() > LONGEST_PREFIX {
        return Some(format!(
            "`prefix` must be at most {LONGEST_PREFIX} characters without control characters"
        ));
    }
    None
}

/// Prefixes name a scheme (`sha256=`, `v1,`), not a sentence.
const LONGEST_PREFIX: usize = 32;

pub(super) fn claim(verifier: &Verifier, message: Message<'_>) -> Result<Claim, Failure> {
    // `check` refuses an hmac verifier without a header before this.
    let Some(header) = verifier.header.as_deref() else {
        return Err(Failure::unusable("no `header` to read the signature from"));
    };
    let algorithm = verifier.algorithm.unwrap_or_default();
    let encoding = verifier.encoding.unwrap_or_default();
    let prefix = verifier.prefix.clone().unwrap_or_default();
    let value = message.required_header(header)?;
    let signature = Signature::read(header, value, &prefix, encoding, algorithm)
        .map_err(|failure| with_prefix_hint(failure, value, &prefix, verifier))?;
    Ok(Claim {
        algorithm,
        key: verifier.secret.as_bytes().to_vec(),
        before_body: Vec::new(),
        named: format!("{} signature", algorithm.label()),
        prefix,
        encoding,
        signatures: vec![signature],
        timestamp: None,
    })
}

/// Many senders write `sha256=` or `v1=` before the digest; when the
/// header has such a start that the verifier does not expect, say so.
fn with_prefix_hint(failure: Failure, value: &str, prefix: &str, verifier: &Verifier) -> Failure {
    if !prefix.is_empty() {
        return failure;
    }
    let Some(at) = value.find(['=', ',', ':']) else {
        return failure;
    };
    let (start, digest) = value.split_at(at + 1);
    let algorithm = verifier.algorithm.unwrap_or_default();
    let readable = verifier
        .encoding
        .unwrap_or_default()
        .read_digest(digest, algorithm)
        .is_ok();
    if at == 0 || at > LONGEST_PREFIX || !readable {
        return failure;
    }
    Failure::malformed(format!(
        "{}; the header starts with `{start}`: set it as the verifier's prefix",
        failure.reason
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_reencoded, base64_hmac, check, hex_hmac, verifier};
    use super::super::{Algorithm, Encoding, Provider, Verifier};

    const SECRET: &str = "shared secret";
    const BODY: &[u8] = b"{\"event\":\"order.paid\",\"id\":42}";

    fn hmac_verifier(header: &str) -> Verifier {
        Verifier {
            header: Some(header.into()),
            ..verifier(Provider::Hmac, SECRET)
        }
    }

    /// Test case 2 (key "Jefe") of RFC 2202 (HMAC-SHA1) and RFC 4231
    /// (HMAC-SHA256, HMAC-SHA512): the generic check is plain HMAC over
    /// the body, for each algorithm.
    #[test]
    fn rfc_4231_and_rfc_2202_vectors_pass() {
        let body = b"what do ya want for nothing?";
        let cases = [
            (Algorithm::Sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            (
                Algorithm::Sha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                Algorithm::Sha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (algorithm, digest) in cases {
            let verdict = check(
                &Verifier {
                    secret: "Jefe".into(),
                    algorithm: Some(algorithm),
                    ..hmac_verifier("X-Signature")
                },
                &[("X-Signature", digest)],
                body,
                0,
            );
            assert!(verdict.valid, "{algorithm:?}: {verdict:?}");
        }
    }

    #[test]
    fn base64_with_a_prefix_passes_and_a_flipped_byte_fails() {
        let signature = format!(
            "sha512={}",
            base64_hmac(Algorithm::Sha512, SECRET.as_bytes(), &[BODY])
        );
        let verifier = Verifier {
            algorithm: Some(Algorithm::Sha512),
            encoding: Some(Encoding::Base64),
            prefix: Some("sha512=".into()),
            ..hmac_verifier("X-Sig")
        };
        let verdict = check(&verifier, &[("x-sig", &signature)], BODY, 0);
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "HMAC-SHA512 signature matches");

        let mut flipped = BODY.to_vec();
        flipped[3] ^= 1;
        let verdict = check(&verifier, &[("x-sig", &signature)], &flipped, 0);
        assert!(!verdict.valid);
        assert!(
            verdict.reason.starts_with("computed `sha512="),
            "{verdict:?}"
        );
        assert!(verdict
            .reason
            .contains(&format!("header has `{}…`", &signature[..15])));
    }

    #[test]
    fn hex_is_compared_in_any_case() {
        let signature = hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[BODY]).to_uppercase();
        let verdict = check(&hmac_verifier("X-Sig"), &[("X-Sig", &signature)], BODY, 0);
        assert!(verdict.valid, "{verdict:?}");
    }

    #[test]
    fn a_tampered_header_fails() {
        let mut signature = hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[BODY]);
        signature.replace_range(0..1, if signature.starts_with('0') { "1" } else { "0" });
        let verdict = check(&hmac_verifier("X-Sig"), &[("X-Sig", &signature)], BODY, 0);
        assert!(!verdict.valid);
        assert!(verdict.reason.starts_with("computed `"), "{verdict:?}");
    }

    #[test]
    fn a_missing_header_is_named_as_configured() {
        let verdict = check(&hmac_verifier("X-Acme-Signature"), &[], BODY, 0);
        assert!(!verdict.valid);
        assert_eq!(verdict.reason, "header X-Acme-Signature missing");
    }

    #[test]
    fn an_unexpected_prefix_is_pointed_out() {
        let signature = format!(
            "sha256={}",
            hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[BODY])
        );
        let verdict = check(&hmac_verifier("X-Sig"), &[("X-Sig", &signature)], BODY, 0);
        assert!(!verdict.valid);
        assert!(
            verdict
                .reason
                .ends_with("the header starts with `sha256=`: set it as the verifier's prefix"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_trailing_newline_added_on_the_way_is_detected() {
        let signature = hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[BODY]);
        let received = [BODY, b"\n"].concat();
        let verdict = check(
            &hmac_verifier("X-Sig"),
            &[("X-Sig", &signature)],
            &received,
            0,
        );
        assert_reencoded(&verdict, "with its trailing newline removed");
    }

    #[test]
    fn json_unescaped_on_the_way_is_detected() {
        // Signed as PHP's json_encode wrote it; a proxy rewrote it plainly.
        let sent = "{\"city\":\"K\\u00f6ln\",\"url\":\"https:\\/\\/example.com\\/\"}";
        let received = "{\"city\":\"Köln\",\"url\":\"https://example.com/\"}";
        let signature = hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[sent.as_bytes()]);
        let verdict = check(
            &hmac_verifier("X-Sig"),
            &[("X-Sig", &signature)],
            received.as_bytes(),
            0,
        );
        assert_reencoded(
            &verdict,
            "re-encoded as PHP's json_encode writes it (`/` and non-ASCII escaped)",
        );
    }

    #[test]
    fn configuration_problems_are_one_line_each() {
        let problem = |verifier: Verifier| verifier.problem().unwrap_or_default();
        assert!(problem(verifier(Provider::Hmac, SECRET)).contains("needs `header`"));
        assert!(problem(hmac_verifier("X Sig")).contains("not a header name"));
        assert!(problem(hmac_verifier("")).contains("not a header name"));
        assert!(problem(Verifier {
            tolerance_secs: Some(300),
            ..hmac_verifier("X-Sig")
        })
        .contains("carry no timestamp"));
        assert!(problem(Verifier {
            prefix: Some("x".repeat(33)),
            ..hmac_verifier("X-Sig")
        })
        .contains("`prefix` must be"));
        assert_eq!(hmac_verifier("X-Sig").problem(), None);
    }
}
