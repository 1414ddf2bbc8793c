//! Slack: `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 of
//! `v0:<timestamp>:<body>` keyed with the app's signing secret as typed,
//! the timestamp being `X-Slack-Request-Timestamp` (5 minutes' tolerance).

use super::claim::{Claim, Signature};
use super::timestamp::Timestamp;
use super::{Algorithm, Encoding, Failure, Message, Verifier};

const HEADER: &str = "X-Slack-Signature";
const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
const VERSION: &str = "v0";

pub(super) fn claim(verifier: &Verifier, message: Message<'_>) -> Result<Claim, Failure> {
    let value = message.required_header(HEADER)?;
    let prefix = format!("{VERSION}=");
    let signature = Signature::read(HEADER, value, &prefix, Encoding::Hex, Algorithm::Sha256)?;
    // The signature is there, so a missing timestamp is about a request
    // that tried to be Slack's: it weighs as much as a bad signature.
    let timestamp_text = message.header(TIMESTAMP_HEADER)?.ok_or_else(|| {
        Failure::present(format!(
            "header {TIMESTAMP_HEADER} missing; Slack signs it along with the body"
        ))
    })?;
    let timestamp = Timestamp::read(
        timestamp_text,
        &format!("header {TIMESTAMP_HEADER}"),
        verifier.tolerance(),
    )?;
    Ok(Claim {
        algorithm: Algorithm::Sha256,
        key: verifier.secret.as_bytes().to_vec(),
        before_body: format!("{VERSION}:{timestamp_text}:").into_bytes(),
        prefix,
        encoding: Encoding::Hex,
        signatures: vec![signature],
        named: format!("{VERSION} signature"),
        timestamp: Some(timestamp),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_reencoded, check, check_all, hex_hmac, verifier};
    use super::super::{Algorithm, Provider, Verifier};

    /// The worked example in Slack's "Verifying requests from Slack"
    /// (https://api.slack.com/authentication/verifying-requests-from-slack):
    /// signing secret, timestamp, slash-command body and the signature it
    /// gives, all as printed there.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1_531_420_618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn slack() -> Verifier {
        verifier(Provider::Slack, SECRET)
    }

    fn headers<'a>(signature: &'a str, timestamp: &'a str) -> [(&'a str, &'a str); 2] {
        [
            ("X-Slack-Signature", signature),
            ("X-Slack-Request-Timestamp", timestamp),
        ]
    }

    #[test]
    fn slacks_documented_example_passes_when_it_arrives_in_time() {
        let verdict = check(
            &slack(),
            &headers(SIGNATURE, "1531420618"),
            BODY,
            TIMESTAMP + 2,
        );
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.reason, "v0 signature matches");
    }

    #[test]
    fn one_flipped_body_byte_fails() {
        let mut body = BODY.to_vec();
        body[0] = b'T';
        let verdict = check(
            &slack(),
            &headers(SIGNATURE, "1531420618"),
            &body,
            TIMESTAMP,
        );
        assert!(!verdict.valid);
        assert!(verdict.reason.starts_with("computed `v0="), "{verdict:?}");
        assert!(
            verdict.reason.ends_with("header has `v0=a2114d57…`"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_tampered_header_or_timestamp_fails() {
        let tampered = SIGNATURE.replace("a2114d57", "a2114d58");
        let verdict = check(&slack(), &headers(&tampered, "1531420618"), BODY, TIMESTAMP);
        assert!(!verdict.valid);
        // The timestamp is signed too: moving it breaks the signature.
        let verdict = check(&slack(), &headers(SIGNATURE, "1531420619"), BODY, TIMESTAMP);
        assert!(!verdict.valid);
        assert!(verdict.reason.starts_with("computed `v0="), "{verdict:?}");
    }

    #[test]
    fn an_old_or_future_timestamp_fails_with_its_age() {
        let verdict = check(
            &slack(),
            &headers(SIGNATURE, "1531420618"),
            BODY,
            TIMESTAMP + 540,
        );
        assert!(!verdict.valid);
        assert_eq!(verdict.reason, "timestamp 9 min old, tolerance 5 min");
        let verdict = check(
            &slack(),
            &headers(SIGNATURE, "1531420618"),
            BODY,
            TIMESTAMP - 3600,
        );
        assert_eq!(
            verdict.reason,
            "timestamp 1 h in the future, tolerance 5 min"
        );
        let lenient = Verifier {
            tolerance_secs: Some(600),
            ..slack()
        };
        let verdict = check(
            &lenient,
            &headers(SIGNATURE, "1531420618"),
            BODY,
            TIMESTAMP + 540,
        );
        assert!(verdict.valid, "{verdict:?}");
    }

    #[test]
    fn missing_headers_are_named() {
        let verdict = check(&slack(), &[], BODY, TIMESTAMP);
        assert_eq!(verdict.reason, "header X-Slack-Signature missing");
        let verdict = check(
            &slack(),
            &[("X-Slack-Signature", SIGNATURE)],
            BODY,
            TIMESTAMP,
        );
        assert!(!verdict.valid);
        assert!(verdict
            .reason
            .starts_with("header X-Slack-Request-Timestamp missing"));
        let verdict = check(&slack(), &headers(SIGNATURE, "yesterday"), BODY, TIMESTAMP);
        assert!(verdict
            .reason
            .contains("is `yesterday`, not a Unix time in seconds"));
    }

    #[test]
    fn the_right_secret_among_several_passes_and_is_named() {
        let other = verifier(Provider::Slack, "not the signing secret");
        let verdict = check_all(
            &[other.clone(), slack()],
            &headers(SIGNATURE, "1531420618"),
            BODY,
            TIMESTAMP,
        );
        assert!(verdict.valid, "{verdict:?}");
        assert!(verdict
            .reason
            .ends_with(&format!("(secret {})", slack().fingerprint())));
        let verdict = check_all(
            &[other.clone(), other],
            &headers(SIGNATURE, "1531420618"),
            BODY,
            TIMESTAMP,
        );
        assert!(!verdict.valid);
    }

    #[test]
    fn a_json_event_reencoded_pretty_is_detected() {
        let sent = b"{\"type\":\"event_callback\",\"event\":{\"type\":\"app_mention\"}}";
        let signature = format!(
            "v0={}",
            hex_hmac(
                Algorithm::Sha256,
                SECRET.as_bytes(),
                &[b"v0:1531420618:", sent]
            )
        );
        let received = b"{\n  \"type\": \"event_callback\",\n  \"event\": {\n    \"type\": \"app_mention\"\n  }\n}";
        let verdict = check(
            &slack(),
            &headers(&signature, "1531420618"),
            received,
            TIMESTAMP,
        );
        assert_reencoded(&verdict, "re-encoded as compact JSON");
    }
}
