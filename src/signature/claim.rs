//! What every provider's check comes down to once its headers are read:
//! an HMAC over some bytes, the body and maybe a timestamp, compared with
//! the signatures a header claims.

use super::mac::{self, Tag};
use super::reencoded::reencodings;
use super::timestamp::Timestamp;
use super::{Algorithm, Encoding, Failure};

/// One signature as a header carries it.
pub(super) struct Signature {
    /// The digest it spells.
    pub(super) digest: Vec<u8>,
    /// As written in the header (prefix included), for reasons.
    pub(super) written: String,
}

/// A request's signature claim, read from its headers by a provider.
pub(super) struct Claim {
    pub(super) algorithm: Algorithm,
    pub(super) key: Vec<u8>,
    /// Signed just before the body: Stripe's `t.`, Slack's `v0:ts:`,
    /// Standard Webhooks' `id.ts.`; empty for the others.
    pub(super) before_body: Vec<u8>,
    /// How this header writes a digest, to show the computed one alike.
    pub(super) prefix: String,
    pub(super) encoding: Encoding,
    /// Not empty: a provider with nothing to compare fails earlier, as a
    /// malformed header.
    pub(super) signatures: Vec<Signature>,
    /// Names the signature in a pass: "v1 signature", "sha256 signature".
    pub(super) named: String,
    /// Judged once a signature matches: a replayed request is signed well
    /// but too old.
    pub(super) timestamp: Option<Timestamp>,
}

impl Claim {
    /// Which signature matched, or why none did.
    pub(super) fn judge(&self, body: &[u8], received_at_secs: i64) -> Result<String, Failure> {
        let tag = self.tag(body);
        let Some(matched) = self.signatures.iter().position(|s| tag.matches(&s.digest)) else {
            return Err(self.mismatch(body, &tag));
        };
        if let Some(timestamp) = self.timestamp {
            timestamp.judge(received_at_secs)?;
        }
        Ok(match self.signatures.len() {
            1 => format!("{} matches", self.named),
            count => format!("{} {} of {count} matches", self.named, matched + 1),
        })
    }

    fn tag(&self, body: &[u8]) -> Tag {
        Tag::over(self.algorithm, &self.key, &[&self.before_body, body])
    }

    fn mismatch(&self, body: &[u8], tag: &Tag) -> Failure {
        let reencoded = reencodings(body).into_iter().find(|r| {
            let tag = self.tag(&r.body);
            self.signatures.iter().any(|s| tag.matches(&s.digest))
        });
        if let Some(reencoding) = reencoded {
            return Failure::present(format!(
                "signature matches this body {}, not the bytes received: something between \
                 sender and here (or your framework) re-encoded it",
                reencoding.described
            ));
        }
        let keep = self.prefix.chars().count();
        let computed = format!("{}{}", self.prefix, self.encoding.write(&tag.digest()));
        let claimed: Vec<String> = self
            .signatures
            .iter()
            .take(SHOWN_SIGNATURES)
            .map(|s| format!("`{}`", mac::shorten_after(&s.written, keep)))
            .collect();
        let more = match self.signatures.len().saturating_sub(SHOWN_SIGNATURES) {
            0 => String::new(),
            hidden => format!(" and {hidden} more"),
        };
        Failure::present(format!(
            "computed `{}` with this secret, header has {}{more}",
            mac::shorten_after(&computed, keep),
            claimed.join(", "),
        ))
    }
}

/// A mismatch lists the header's signatures up to this many: a reason
/// stays one line.
const SHOWN_SIGNATURES: usize = 3;

impl Signature {
    /// The one signature in `value`, the value of `header`: `prefix` (in
    /// any case) and then the digest.
    pub(super) fn read(
        header: &str,
        value: &str,
        prefix: &str,
        encoding: Encoding,
        algorithm: Algorithm,
    ) -> Result<Self, Failure> {
        if value.is_empty() {
            return Err(Failure::malformed(format!("header {header} is empty")));
        }
        let digest = value
            .get(..prefix.len())
            .filter(|start| start.eq_ignore_ascii_case(prefix))
            .map(|_| &value[prefix.len()..])
            .ok_or_else(|| {
                Failure::malformed(format!(
                    "header {header} is `{}`, which does not start with `{prefix}`",
                    mac::shorten_after(value, prefix.chars().count()),
                ))
            })?;
        let digest = encoding.read_digest(digest, algorithm).map_err(|why| {
            Failure::malformed(match prefix {
                "" => format!("header {header} {why}"),
                _ => format!("header {header}: the digest after `{prefix}` {why}"),
            })
        })?;
        Ok(Self {
            digest,
            written: value.to_owned(),
        })
    }
}

/// The signatures of one scheme in a header that lists several (Stripe's
/// `v1=`, Standard Webhooks' `v1,`), gathered entry by entry.
#[derive(Default)]
pub(super) struct SignatureList {
    signatures: Vec<Signature>,
    /// What was wrong with the first unreadable entry of the scheme,
    /// told when no entry is readable.
    unreadable: Option<String>,
}

impl SignatureList {
    /// Adds `entry`, which spells its digest as `text`; an unreadable
    /// one is skipped, as a sender's libraries skip it.
    pub(super) fn add(&mut self, entry: &str, text: &str, encoding: Encoding) {
        match encoding.read_digest(text, Algorithm::Sha256) {
            Ok(digest) => self.signatures.push(Signature {
                digest,
                written: entry.to_owned(),
            }),
            Err(why) => {
                self.unreadable.get_or_insert(why);
            }
        }
    }

    /// At least one signature to compare, or why `header` has none of
    /// `scheme`.
    pub(super) fn finish(self, header: &str, scheme: &str) -> Result<Vec<Signature>, Failure> {
        if !self.signatures.is_empty() {
            return Ok(self.signatures);
        }
        Err(Failure::malformed(match self.unreadable {
            Some(why) => format!("header {header}: the {scheme} signature {why}"),
            None => format!("header {header} has no {scheme} signature"),
        }))
    }
}
