//! What the providers' tests share: building a request and signing it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::mac::Tag;
use super::{verify, Algorithm, Message, Provider, Verdict, Verifier};

pub(super) fn verifier(provider: Provider, secret: &str) -> Verifier {
    Verifier {
        provider,
        secret: secret.into(),
        header: None,
        algorithm: None,
        encoding: None,
        prefix: None,
        tolerance_secs: None,
    }
}

/// The verdict of `verifier` alone on a request with these headers and
/// body, arrived at `received_at_secs`.
pub(super) fn check(
    verifier: &Verifier,
    headers: &[(&str, &str)],
    body: &[u8],
    received_at_secs: i64,
) -> Verdict {
    check_all(
        std::slice::from_ref(verifier),
        headers,
        body,
        received_at_secs,
    )
}

pub(super) fn check_all(
    verifiers: &[Verifier],
    headers: &[(&str, &str)],
    body: &[u8],
    received_at_secs: i64,
) -> Verdict {
    let headers: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_bytes()))
        .collect();
    let message = Message {
        headers: &headers,
        body,
        received_at_secs,
    };
    verify(verifiers, message).expect("a verdict for at least one verifier")
}

/// Signed with `hmac` directly rather than through the code under test.
fn digest(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    let digest = match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    };
    assert!(Tag::over(algorithm, key, parts).matches(&digest));
    digest
}

pub(super) fn hex_hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> String {
    digest(algorithm, key, parts)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn base64_hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> String {
    STANDARD.encode(digest(algorithm, key, parts))
}

/// Asserts that `verdict` is a failure whose reason contains `expected`.
#[track_caller]
pub(super) fn assert_fails_with(verdict: &Verdict, expected: &str) {
    assert!(
        !verdict.valid && verdict.reason.contains(expected),
        "expected a failure saying {expected:?}, got {verdict:?}"
    );
}

/// Asserts that `verdict` blames the body's re-encoding `described`
/// ("as compact JSON", …).
#[track_caller]
pub(super) fn assert_reencoded(verdict: &Verdict, described: &str) {
    assert_fails_with(
        verdict,
        &format!("signature matches this body {described}, not the bytes received"),
    );
}
