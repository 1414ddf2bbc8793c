//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`,
//! keyed with the webhook's secret as typed. Older integrations (and
//! GitHub Enterprise Server versions) may send only the legacy
//! `X-Hub-Signature: sha1=<hex>`.

use super::claim::{Claim, Signature};
use super::{Algorithm, Encoding, Failure, Message, Verifier};

const HEADER: &str = "X-Hub-Signature-256";
const LEGACY_HEADER: &str = "X-Hub-Signature";

pub(super) fn claim(verifier: &Verifier, message: Message<'_>) -> Result<Claim, Failure> {
    let (header, value, algorithm, prefix, named) = match message.header(HEADER)? {
        Some(value) => (
            HEADER,
            value,
            Algorithm::Sha256,
            "sha256=",
            "sha256 signature",
        ),
        None => match message.header(LEGACY_HEADER)? {
            Some(value) => (
                LEGACY_HEADER,
                value,
                Algorithm::Sha1,
                "sha1=",
                "legacy sha1 signature (X-Hub-Signature; X-Hub-Signature-256 absent)",
            ),
            None => return Err(Failure::missing(HEADER)),
        },
    };
    let signature = Signature::read(header, value, prefix, Encoding::Hex, algorithm)?;
    Ok(Claim {
        algorithm,
        key: verifier.secret.as_bytes().to_vec(),
        before_body: Vec::new(),
        prefix: prefix.into(),
        encoding: Encoding::Hex,
        signatures: vec![signature],
        named: named.into(),
        timestamp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_fails_with, check, hex_hmac, verifier};
    use super::super::{Algorithm, Provider};

    const SECRET: &str = "It's a Secret to Everybody";

    /// GitHub's own test values, from "Validating webhook deliveries",
    /// section "Testing the webhook payload validation":
    /// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    #[test]
    fn githubs_documented_vector_passes() {
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[(
                "X-Hub-Signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            )],
            b"Hello, World!",
            0,
        );
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "sha256 signature matches");
    }

    #[test]
    fn one_flipped_body_byte_fails_showing_both_digests() {
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[(
                "x-hub-signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            )],
            b"Hello, World?",
            0,
        );
        assert!(!verdict.valid);
        let computed = hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[b"Hello, World?"]);
        assert_eq!(
            verdict.reason,
            format!(
                "computed `sha256={}…` with this secret, header has `sha256=757107ea…`",
                &computed[..8]
            )
        );
        assert!(!verdict.reason.contains(SECRET));
    }

    #[test]
    fn a_tampered_header_fails() {
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[(
                "X-Hub-Signature-256",
                "sha256=857107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            )],
            b"Hello, World!",
            0,
        );
        assert!(!verdict.valid);
        assert!(
            verdict.reason.ends_with("header has `sha256=857107ea…`"),
            "{verdict:?}"
        );
    }

    #[test]
    fn uppercase_hex_is_the_same_signature() {
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[(
                "X-Hub-Signature-256",
                "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
            )],
            b"Hello, World!",
            0,
        );
        assert!(verdict.valid, "{verdict:?}");
    }

    #[test]
    fn the_legacy_sha1_header_counts_when_it_is_the_only_one() {
        let body = b"{\"zen\":\"Keep it logically awesome.\"}";
        let sha1 = hex_hmac(Algorithm::Sha1, SECRET.as_bytes(), &[body]);
        let legacy = format!("sha1={sha1}");
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[("X-Hub-Signature", &legacy)],
            body,
            0,
        );
        assert!(verdict.valid, "{verdict:?}");
        assert!(verdict.reason.starts_with("legacy sha1 signature"));

        // When both are sent, the SHA-256 one decides.
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[
                ("X-Hub-Signature", &legacy),
                ("X-Hub-Signature-256", "sha256=00"),
            ],
            body,
            0,
        );
        assert!(!verdict.valid);
    }

    #[test]
    fn a_missing_header_is_named() {
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[],
            b"Hello, World!",
            0,
        );
        assert!(!verdict.valid);
        assert_eq!(verdict.reason, "header X-Hub-Signature-256 missing");
    }

    #[test]
    fn malformed_headers_say_what_is_wrong() {
        let cases = [
            ("757107ea", "which does not start with `sha256=`"),
            ("", "header X-Hub-Signature-256 is empty"),
            ("sha256=xyz", "the digest after `sha256=` `xyz` is not hex"),
            ("sha256=", "the digest after `sha256=` is empty"),
            (
                "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200",
                "carries 20 bytes, HMAC-SHA256 gives 32 (an HMAC-SHA1 digest?)",
            ),
        ];
        for (header, expected) in cases {
            let verdict = check(
                &verifier(Provider::Github, SECRET),
                &[("X-Hub-Signature-256", header)],
                b"Hello, World!",
                0,
            );
            assert_fails_with(&verdict, expected);
        }
    }

    #[test]
    fn a_body_pretty_printed_on_the_way_is_detected() {
        let sent = b"{\"action\":\"opened\",\"number\":1}";
        let signature = format!(
            "sha256={}",
            hex_hmac(Algorithm::Sha256, SECRET.as_bytes(), &[sent])
        );
        let received = b"{\n  \"action\": \"opened\",\n  \"number\": 1\n}";
        let verdict = check(
            &verifier(Provider::Github, SECRET),
            &[("X-Hub-Signature-256", &signature)],
            received,
            0,
        );
        assert!(!verdict.valid);
        assert_eq!(
            verdict.reason,
            "signature matches this body re-encoded as compact JSON, not the bytes received: \
             something between sender and here (or your framework) re-encoded it"
        );
    }
}
