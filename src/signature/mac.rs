//! The keyed hash every provider uses, and the spellings of a digest in a
//! header (hex, base64).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::{Algorithm, Encoding};

/// An HMAC computed over the signed content, kept unfinished so that each
/// signature in a header can be compared against it in constant time
/// (`verify_slice`), as every provider's documentation asks.
#[derive(Clone)]
pub(super) enum Tag {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> M {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

impl Tag {
    /// The HMAC of `parts`, one after another, under `key`.
    pub(super) fn over(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Self {
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(keyed(key, parts)),
            Algorithm::Sha256 => Self::Sha256(keyed(key, parts)),
            Algorithm::Sha512 => Self::Sha512(keyed(key, parts)),
        }
    }

    /// Whether `signature` is this HMAC, compared in constant time.
    pub(super) fn matches(&self, signature: &[u8]) -> bool {
        match self {
            Self::Sha1(mac) => mac.clone().verify_slice(signature).is_ok(),
            Self::Sha256(mac) => mac.clone().verify_slice(signature).is_ok(),
            Self::Sha512(mac) => mac.clone().verify_slice(signature).is_ok(),
        }
    }

    /// The digest itself: only for telling a developer what was expected
    /// when nothing matched, never for comparing.
    pub(super) fn digest(&self) -> Vec<u8> {
        match self {
            Self::Sha1(mac) => mac.clone().finalize().into_bytes().to_vec(),
            Self::Sha256(mac) => mac.clone().finalize().into_bytes().to_vec(),
            Self::Sha512(mac) => mac.clone().finalize().into_bytes().to_vec(),
        }
    }
}

impl Algorithm {
    /// Bytes in this algorithm's digest.
    pub(super) fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// As a developer reads it in a reason: `HMAC-SHA256`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sha1 => "HMAC-SHA1",
            Self::Sha256 => "HMAC-SHA256",
            Self::Sha512 => "HMAC-SHA512",
        }
    }

    /// The algorithm whose digest has `len` bytes, to suggest when a
    /// header carries a digest of another length than configured.
    fn with_digest_len(len: usize) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha512]
            .into_iter()
            .find(|a| a.digest_len() == len)
    }
}

/// Senders disagree on base64 padding and on the URL-safe alphabet, and
/// neither changes the bytes: accept both, with or without `=`.
const BASE64_ANY_PADDING: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, BASE64_ANY_PADDING);
const BASE64_URL_SAFE_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_ANY_PADDING);

impl Encoding {
    /// `digest` as a sender writes it: lowercase hex, or padded base64.
    pub(super) fn write(self, digest: &[u8]) -> String {
        match self {
            Self::Hex => digest.iter().map(|b| format!("{b:02x}")).collect(),
            Self::Base64 => STANDARD.encode(digest),
        }
    }

    /// The bytes `text` spells; hex in either case.
    pub(super) fn read(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Self::Hex => read_hex(text),
            Self::Base64 => BASE64_STANDARD_LENIENT
                .decode(text)
                .or_else(|_| BASE64_URL_SAFE_LENIENT.decode(text))
                .ok(),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Base64 => "base64",
        }
    }

    /// The digest `text` spells, which must be as long as `algorithm`'s;
    /// else what is wrong with it, as the end of a sentence naming where
    /// `text` came from.
    pub(super) fn read_digest(self, text: &str, algorithm: Algorithm) -> Result<Vec<u8>, String> {
        if text.is_empty() {
            return Err("is empty".into());
        }
        let Some(digest) = self.read(text) else {
            return Err(format!("`{}` is not {}", shorten(text), self.name()));
        };
        if digest.len() != algorithm.digest_len() {
            let hint = match Algorithm::with_digest_len(digest.len()) {
                Some(other) => format!(" (an {} digest?)", other.label()),
                None => String::new(),
            };
            return Err(format!(
                "carries {} bytes, {} gives {}{hint}",
                digest.len(),
                algorithm.label(),
                algorithm.digest_len(),
            ));
        }
        Ok(digest)
    }
}

fn read_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

/// Characters of a digest shown in a reason: enough to tell two apart at
/// a glance, too few to be mistaken for (or used as) the whole signature.
const SHOWN_DIGEST_CHARS: usize = 8;

/// Characters of captured text quoted in a reason: enough to recognise
/// it, short enough to keep the reason one line.
const SHOWN_TEXT_CHARS: usize = 24;

/// `text` cut to its first characters, marked `…` when cut.
pub(super) fn shorten(text: &str) -> String {
    cut(text, SHOWN_TEXT_CHARS)
}

/// `text` with `keep` characters (a prefix such as `sha256=`) and a few
/// more, marked `…` when cut.
pub(super) fn shorten_after(text: &str, keep: usize) -> String {
    cut(text, keep + SHOWN_DIGEST_CHARS)
}

fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_either_case_and_writes_lowercase() {
        assert_eq!(Encoding::Hex.read("aBcD"), Some(vec![0xab, 0xcd]));
        assert_eq!(Encoding::Hex.read("abc"), None);
        assert_eq!(Encoding::Hex.read("zz"), None);
        assert_eq!(Encoding::Hex.write(&[0xab, 0x01]), "ab01");
    }

    #[test]
    fn base64_reads_standard_and_url_safe_with_or_without_padding() {
        let bytes = vec![0xfb, 0xff, 0xbf];
        for text in ["+/+/", "-_-_"] {
            assert_eq!(Encoding::Base64.read(text), Some(bytes.clone()));
        }
        assert_eq!(Encoding::Base64.read("YQ"), Some(b"a".to_vec()));
        assert_eq!(Encoding::Base64.read("YQ=="), Some(b"a".to_vec()));
        assert_eq!(Encoding::Base64.read("not base64!"), None);
    }

    #[test]
    fn a_digest_of_the_wrong_length_names_the_algorithm_it_fits() {
        let sha1_hex = "a".repeat(40);
        let why = Encoding::Hex
            .read_digest(&sha1_hex, Algorithm::Sha256)
            .unwrap_err();
        assert_eq!(
            why,
            "carries 20 bytes, HMAC-SHA256 gives 32 (an HMAC-SHA1 digest?)"
        );
    }

    #[test]
    fn tags_compare_whole_digests_only() {
        let tag = Tag::over(Algorithm::Sha256, b"key", &[b"a", b"b"]);
        let whole = Tag::over(Algorithm::Sha256, b"key", &[b"ab"]).digest();
        assert!(tag.matches(&whole));
        assert!(!tag.matches(&whole[..16]));
        assert!(!tag.matches(&[]));
    }

    #[test]
    fn shortening_keeps_the_prefix_and_a_few_digits() {
        assert_eq!(
            shorten_after("sha256=0123456789abcdef", 7),
            "sha256=01234567…"
        );
        assert_eq!(shorten_after("v0=abc", 3), "v0=abc");
        assert_eq!(shorten(&"é".repeat(25)), format!("{}…", "é".repeat(24)));
        assert_eq!(shorten("yesterday"), "yesterday");
    }
}
