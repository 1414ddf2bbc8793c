//! Headers stored as one blob that keeps every byte: for each field, the
//! name's length and bytes then the value's length and bytes, lengths as
//! little-endian u32. JSON cannot carry non-UTF-8 values exactly; this can.
//! Also the columns of signature checks, the same in both backends: a
//! bin's verifiers as JSON text, a verdict as provider, valid and reason.

use crate::model::Header;
use crate::query::provider_named;
use crate::signature::{Verdict, Verifier};
use crate::store::StoreError;

/// A bin's verifiers as the text of its `verifiers` column.
pub(super) fn encode_verifiers(verifiers: &[Verifier]) -> String {
    serde_json::to_string(verifiers).expect("verifiers are plain JSON")
}

pub(super) fn decode_verifiers(text: &str) -> Result<Vec<Verifier>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("verifiers"))
}

/// A verdict as its three columns: provider name, valid, reason (all
/// NULL for none).
pub(super) fn verdict_columns(
    verdict: Option<&Verdict>,
) -> (Option<&'static str>, Option<bool>, Option<&str>) {
    match verdict {
        Some(v) => (Some(v.provider.name()), Some(v.valid), Some(&v.reason)),
        None => (None, None, None),
    }
}

/// The verdict in its three columns; none when the provider is NULL, or
/// one this build does not know (a list does without the badge rather
/// than fail).
pub(super) fn decode_verdict(
    provider: Option<String>,
    valid: Option<bool>,
    reason: Option<String>,
) -> Option<Verdict> {
    Some(Verdict {
        provider: provider_named(&provider?)?,
        valid: valid.unwrap_or(false),
        reason: reason.unwrap_or_default(),
    })
}

pub(super) fn encode_headers(headers: &[Header]) -> Vec<u8> {
    let len = headers
        .iter()
        .map(|h| 8 + h.name.len() + h.value.len())
        .sum();
    let mut out = Vec::with_capacity(len);
    for h in headers {
        put(&mut out, h.name.as_bytes());
        put(&mut out, &h.value);
    }
    out
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a header field is far below 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes what [`encode_headers`] wrote; `None` when the blob is corrupt.
pub(super) fn decode_headers(mut blob: &[u8]) -> Option<Vec<Header>> {
    let mut headers = Vec::new();
    while !blob.is_empty() {
        let name = take(&mut blob)?;
        let value = take(&mut blob)?;
        headers.push(Header {
            name: String::from_utf8(name.to_vec()).ok()?,
            value: value.to_vec(),
        });
    }
    Some(headers)
}

fn take<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (field, rest) = rest.split_at(len);
    *blob = rest;
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let headers = vec![
            Header::new("X-Dup", b"one".to_vec()),
            Header::new("x-dup", b"\xff\x00two".to_vec()),
            Header::new("Empty", Vec::new()),
        ];
        assert_eq!(decode_headers(&encode_headers(&headers)), Some(headers));
        assert_eq!(decode_headers(&[]), Some(Vec::new()));
    }

    #[test]
    fn rejects_truncated_blob() {
        let mut blob = encode_headers(&[Header::new("A", b"b".to_vec())]);
        blob.pop();
        assert_eq!(decode_headers(&blob), None);
    }
}
