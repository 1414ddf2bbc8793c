//! What differs between two captured requests of a bin: method, path below
//! the bin, query parameters, headers and body, as typed changes (added,
//! removed, changed, reordered). JSON bodies are compared by path
//! (`$.data.object.amount`), form bodies by field, text line by line and
//! other bytes by size and first differing offset. The dashboard's compare
//! page and `GET /token/{id}/diff` both show this one result.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use similar::{ChangeTag, TextDiff};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{CapturedRequest, Header};

/// Changes kept per section; the rest are only counted (`more`), so a
/// large body cannot make an answer or a page of unbounded length.
pub const MAX_CHANGES: usize = 200;
/// Lines of a text body's side-by-side listing, context included.
pub const MAX_LINES: usize = 400;
/// Unchanged lines shown around each changed one.
const CONTEXT_LINES: usize = 3;
/// Line diffs are quadratic at worst: past this the differ settles for a
/// coarser (still correct) answer rather than hold a worker.
const TEXT_DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// What happened to one item going from request `a` to request `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in `b`.
    Added,
    /// Only in `a`.
    Removed,
    /// In both, with another value.
    Changed,
    /// The same items in another order.
    Reordered,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
            Self::Reordered => "reordered",
        }
    }
}

/// One difference. Where it is comes in one of `name` (a header, query
/// parameter or form field; `method`, `path`, `size`), `path` (a JSON
/// path), `line` (a text line, numbered in `a` when removed, else in `b`)
/// or `offset` (a byte of a binary body).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Change {
    #[serde(rename = "type")]
    pub kind: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// The value in `a` (a JSON value for JSON bodies, else text); absent
    /// when added.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub old: Option<Value>,
    /// The value in `b`; absent when removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub new: Option<Value>,
}

impl Change {
    fn new(kind: ChangeKind, old: Option<Value>, new: Option<Value>) -> Self {
        Self {
            kind,
            name: None,
            path: None,
            line: None,
            offset: None,
            old,
            new,
        }
    }

    fn named(kind: ChangeKind, name: &str, old: Option<Value>, new: Option<Value>) -> Self {
        Self {
            name: Some(name.to_owned()),
            ..Self::new(kind, old, new)
        }
    }
}

/// The changes of one part of the request, at most [`MAX_CHANGES`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Section {
    /// Nothing differs here.
    pub equal: bool,
    pub changes: Vec<Change>,
    /// Changes found past the first [`MAX_CHANGES`], not listed.
    pub more: usize,
}

impl Section {
    fn push(&mut self, change: Change) {
        if self.changes.len() < MAX_CHANGES {
            self.changes.push(change);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Self {
        self.equal = self.changes.is_empty() && self.more == 0;
        self
    }
}

/// How two bodies were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyKind {
    /// Both bodies are empty.
    Empty,
    /// By JSON path.
    Json,
    /// By form field (urlencoded or multipart).
    Form,
    /// Line by line.
    Text,
    /// By size and first differing byte.
    Binary,
}

impl BodyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Json => "JSON",
            Self::Form => "form",
            Self::Text => "text",
            Self::Binary => "binary",
        }
    }
}

/// The bodies' changes, and how they were compared.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BodySection {
    #[serde(flatten)]
    pub section: Section,
    pub kind: BodyKind,
    /// Bytes in `a` and in `b`.
    pub a_size: usize,
    pub b_size: usize,
    /// The first byte offset where the bodies differ (the shorter one's
    /// length when it is a prefix of the other); `null` when equal.
    pub first_difference: Option<usize>,
    /// A text diff as read side by side: changed lines with a little
    /// context, at most [`MAX_LINES`] (the page's listing; the API has the
    /// same in `changes`).
    #[serde(skip)]
    pub lines: Vec<DiffLine>,
}

/// One line of a text body's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    /// Line numbers in `a` and `b`, from 1, where the line is there.
    pub old_number: Option<usize>,
    pub new_number: Option<usize>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Same,
    Added,
    Removed,
    /// Unchanged lines left out between two groups of changes.
    Gap,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Gap => "gap",
        }
    }
}

/// Everything that differs from request `a` to request `b`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RequestDiff {
    pub a: Uuid,
    pub b: Uuid,
    /// Nothing differs (the two requests may still differ in id, time and
    /// sender, which are not compared).
    pub equal: bool,
    /// The sections that differ, in this order: `method`, `path`,
    /// `query`, `headers`, `body`.
    pub differs: Vec<&'static str>,
    pub method: Section,
    /// The path below the bin.
    pub path: Section,
    pub query: Section,
    /// By case-insensitive name; repeated headers by value. One
    /// `reordered` change (without a name) lists the shared names in
    /// each order when their order differs.
    pub headers: Section,
    pub body: BodySection,
}

/// Compares two requests.
pub fn compare(a: &CapturedRequest, b: &CapturedRequest) -> RequestDiff {
    let method = single("method", &a.method, &b.method);
    let path = single("path", a.sub_path(), b.sub_path());
    let query = fields(&a.query_pairs(), &b.query_pairs(), false);
    let headers = fields(
        &Header::pairs_lossy(&a.headers),
        &Header::pairs_lossy(&b.headers),
        true,
    );
    let body = bodies(a, b);
    let differs: Vec<&'static str> = [
        ("method", method.equal),
        ("path", path.equal),
        ("query", query.equal),
        ("headers", headers.equal),
        ("body", body.section.equal),
    ]
    .into_iter()
    .filter(|(_, equal)| !equal)
    .map(|(name, _)| name)
    .collect();
    RequestDiff {
        a: a.id,
        b: b.id,
        equal: differs.is_empty(),
        differs,
        method,
        path,
        query,
        headers,
        body,
    }
}

/// The two request ids a compare asks for, or why they are not two.
pub fn chosen_pair<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<(Uuid, Uuid), String> {
    let ids: Vec<&str> = ids
        .into_iter()
        .flat_map(|id| id.split(','))
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    let [a, b] = ids[..] else {
        return Err(format!(
            "choose exactly two requests to compare, not {}",
            ids.len()
        ));
    };
    let parse = |id: &str| Uuid::try_parse(id).map_err(|_| format!("{id:?} is not a request id"));
    let (a, b) = (parse(a)?, parse(b)?);
    if a == b {
        return Err(String::from(
            "both sides are the same request: choose two different ones",
        ));
    }
    Ok((a, b))
}

fn text(value: &str) -> Option<Value> {
    Some(Value::String(value.to_owned()))
}

/// A section of one value (method, path).
fn single(name: &str, a: &str, b: &str) -> Section {
    let mut section = Section::default();
    if a != b {
        section.push(Change::named(ChangeKind::Changed, name, text(a), text(b)));
    }
    section.finish()
}

/// Names and their values in order of first appearance.
struct Grouped<'a> {
    order: Vec<String>,
    /// Key → (the name as first written, its values in order).
    by_key: HashMap<String, (&'a str, Vec<&'a str>)>,
}

impl<'a> Grouped<'a> {
    fn new(pairs: &'a [(String, String)], fold_case: bool) -> Self {
        let mut grouped = Self {
            order: Vec::new(),
            by_key: HashMap::new(),
        };
        for (name, value) in pairs {
            let key = if fold_case {
                name.to_ascii_lowercase()
            } else {
                name.clone()
            };
            let entry = grouped.by_key.entry(key.clone()).or_insert_with(|| {
                grouped.order.push(key);
                (name.as_str(), Vec::new())
            });
            entry.1.push(value.as_str());
        }
        grouped
    }
}

/// Name–value lists (headers, query parameters, form fields) compared by
/// name. A repeated name's values are matched as a multiset first: the
/// same values in another order are `reordered`; what is left pairs up as
/// `changed`, and any extra is `added` or `removed`.
fn fields(a: &[(String, String)], b: &[(String, String)], fold_case: bool) -> Section {
    let (ga, gb) = (Grouped::new(a, fold_case), Grouped::new(b, fold_case));
    let mut section = Section::default();
    for key in &ga.order {
        let (name_a, values_a) = &ga.by_key[key];
        let Some((name_b, values_b)) = gb.by_key.get(key) else {
            for value in values_a {
                section.push(Change::named(
                    ChangeKind::Removed,
                    name_a,
                    text(value),
                    None,
                ));
            }
            continue;
        };
        let mut left_b: Vec<Option<&str>> = values_b.iter().copied().map(Some).collect();
        let mut left_a = Vec::new();
        for value in values_a {
            match left_b.iter_mut().find(|v| **v == Some(*value)) {
                Some(matched) => *matched = None,
                None => left_a.push(*value),
            }
        }
        let left_b: Vec<&str> = left_b.into_iter().flatten().collect();
        if left_a.is_empty() && left_b.is_empty() {
            if values_a != values_b {
                section.push(Change::named(
                    ChangeKind::Reordered,
                    name_b,
                    Some(Value::from(values_a.clone())),
                    Some(Value::from(values_b.clone())),
                ));
            }
            continue;
        }
        for i in 0..left_a.len().max(left_b.len()) {
            let change = match (left_a.get(i), left_b.get(i)) {
                (Some(old), Some(new)) => {
                    Change::named(ChangeKind::Changed, name_b, text(old), text(new))
                }
                (Some(old), None) => Change::named(ChangeKind::Removed, name_a, text(old), None),
                (None, Some(new)) => Change::named(ChangeKind::Added, name_b, None, text(new)),
                (None, None) => continue,
            };
            section.push(change);
        }
    }
    for key in &gb.order {
        if ga.by_key.contains_key(key) {
            continue;
        }
        let (name, values) = &gb.by_key[key];
        for value in values {
            section.push(Change::named(ChangeKind::Added, name, None, text(value)));
        }
    }
    // The names both sides have, each in its side's order.
    let shared = |g: &Grouped, other: &Grouped| -> Vec<String> {
        g.order
            .iter()
            .filter(|key| other.by_key.contains_key(*key))
            .map(|key| g.by_key[key].0.to_owned())
            .collect()
    };
    let (order_a, order_b) = (shared(&ga, &gb), shared(&gb, &ga));
    let same_order = order_a
        .iter()
        .zip(&order_b)
        .all(|(x, y)| x.eq_ignore_ascii_case(y) && (fold_case || x == y));
    if !same_order {
        section.push(Change::new(
            ChangeKind::Reordered,
            Some(Value::from(order_a)),
            Some(Value::from(order_b)),
        ));
    }
    section.finish()
}

/// A body as it will be compared.
enum Reading {
    Empty,
    Json(Value),
    Form(Vec<(String, String)>),
    Text,
    Binary,
}

fn read(req: &CapturedRequest) -> Reading {
    if req.body.is_empty() {
        return Reading::Empty;
    }
    let content_type = req.header_str("content-type").unwrap_or_default();
    let essence = crate::multipart::essence(&content_type);
    let says_json = essence == "application/json" || essence.ends_with("+json");
    let looks_json = matches!(req.body.trim_ascii_start().first(), Some(b'{' | b'['));
    if says_json || looks_json {
        if let Ok(value) = serde_json::from_slice(&req.body) {
            return Reading::Json(value);
        }
    }
    let form = req.form();
    if !form.fields.is_empty() || !form.files.is_empty() {
        let mut fields = form.fields;
        // A file is compared by what tells files apart: name, size, hash.
        fields.extend(form.files.iter().map(|file| {
            let part = &file.part;
            let hash = Sha256::digest(&part.bytes);
            let short: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
            let value = format!(
                "file {}, {} bytes, sha256 {short}…",
                part.file_name.as_deref().unwrap_or("(no name)"),
                part.bytes.len()
            );
            (part.name.clone(), value)
        }));
        return Reading::Form(fields);
    }
    match req.body_text() {
        Some(_) => Reading::Text,
        None => Reading::Binary,
    }
}

fn bodies(a: &CapturedRequest, b: &CapturedRequest) -> BodySection {
    let (ra, rb) = (read(a), read(b));
    let mut section = Section::default();
    let mut lines = Vec::new();
    let kind = if a.body == b.body {
        match ra {
            Reading::Empty => BodyKind::Empty,
            Reading::Json(_) => BodyKind::Json,
            Reading::Form(_) => BodyKind::Form,
            Reading::Text => BodyKind::Text,
            Reading::Binary => BodyKind::Binary,
        }
    } else {
        match (ra, rb) {
            (Reading::Json(va), Reading::Json(vb)) => {
                json(&va, &vb, &mut String::from("$"), &mut section);
                BodyKind::Json
            }
            (Reading::Form(fa), Reading::Form(fb)) => {
                section = fields(&fa, &fb, false);
                BodyKind::Form
            }
            _ => match (a.body_text(), b.body_text()) {
                (Some(ta), Some(tb)) => {
                    lines = text_lines(ta, tb, &mut section);
                    BodyKind::Text
                }
                _ => {
                    binary(&a.body, &b.body, &mut section);
                    BodyKind::Binary
                }
            },
        }
    };
    BodySection {
        section: section.finish(),
        kind,
        a_size: a.body.len(),
        b_size: b.body.len(),
        first_difference: first_difference(&a.body, &b.body),
        lines,
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(at) => Some(at),
        None if a.len() == b.len() => None,
        None => Some(a.len().min(b.len())),
    }
}

/// `$.key` for plain keys, `$["odd key"]` for the rest.
fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

fn at_path(kind: ChangeKind, path: &str, old: Option<&Value>, new: Option<&Value>) -> Change {
    Change {
        path: Some(path.to_owned()),
        ..Change::new(kind, old.cloned(), new.cloned())
    }
}

/// Two JSON values compared by path: objects by key, arrays by index; a
/// value of another type is `changed` as a whole.
fn json(a: &Value, b: &Value, path: &mut String, out: &mut Section) {
    let len = path.len();
    match (a, b) {
        (Value::Object(oa), Value::Object(ob)) => {
            for (key, va) in oa {
                push_key(path, key);
                match ob.get(key) {
                    Some(vb) => json(va, vb, path, out),
                    None => out.push(at_path(ChangeKind::Removed, path, Some(va), None)),
                }
                path.truncate(len);
            }
            for (key, vb) in ob.iter().filter(|(key, _)| !oa.contains_key(*key)) {
                push_key(path, key);
                out.push(at_path(ChangeKind::Added, path, None, Some(vb)));
                path.truncate(len);
            }
        }
        (Value::Array(xa), Value::Array(xb)) => {
            for i in 0..xa.len().max(xb.len()) {
                path.push_str(&format!("[{i}]"));
                match (xa.get(i), xb.get(i)) {
                    (Some(va), Some(vb)) => json(va, vb, path, out),
                    (old, new) => {
                        let kind = if old.is_some() {
                            ChangeKind::Removed
                        } else {
                            ChangeKind::Added
                        };
                        out.push(at_path(kind, path, old, new));
                    }
                }
                path.truncate(len);
            }
        }
        _ if a != b => out.push(at_path(ChangeKind::Changed, path, Some(a), Some(b))),
        _ => {}
    }
}

/// A line without its line break.
fn bare(line: &str) -> String {
    line.trim_end_matches(['\n', '\r']).to_owned()
}

/// Two texts line by line: every added or removed line into `out`, and
/// the listing with context the page shows.
fn text_lines(a: &str, b: &str, out: &mut Section) -> Vec<DiffLine> {
    let diff = TextDiff::configure()
        .timeout(TEXT_DIFF_TIMEOUT)
        .diff_lines(a, b);
    for change in diff.iter_all_changes() {
        let line = bare(change.value());
        let found = match change.tag() {
            ChangeTag::Equal => continue,
            ChangeTag::Delete => Change {
                line: change.old_index().map(|i| i + 1),
                ..Change::new(ChangeKind::Removed, Some(Value::String(line)), None)
            },
            ChangeTag::Insert => Change {
                line: change.new_index().map(|i| i + 1),
                ..Change::new(ChangeKind::Added, None, Some(Value::String(line)))
            },
        };
        out.push(found);
    }
    let mut lines = Vec::new();
    for (n, group) in diff.grouped_ops(CONTEXT_LINES).iter().enumerate() {
        if n > 0 {
            lines.push(DiffLine {
                kind: LineKind::Gap,
                old_number: None,
                new_number: None,
                text: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                if lines.len() >= MAX_LINES {
                    return lines;
                }
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Same,
                    ChangeTag::Delete => LineKind::Removed,
                    ChangeTag::Insert => LineKind::Added,
                };
                lines.push(DiffLine {
                    kind,
                    old_number: change.old_index().map(|i| i + 1),
                    new_number: change.new_index().map(|i| i + 1),
                    text: bare(change.value()),
                });
            }
        }
    }
    lines
}

/// Bodies that are not both text: their sizes and first differing byte.
fn binary(a: &[u8], b: &[u8], out: &mut Section) {
    if a.len() != b.len() {
        out.push(Change::named(
            ChangeKind::Changed,
            "size",
            Some(a.len().into()),
            Some(b.len().into()),
        ));
    }
    if let Some(at) = first_difference(a, b) {
        let byte = |body: &[u8]| body.get(at).map(|x| Value::String(format!("0x{x:02x}")));
        out.push(Change {
            offset: Some(at),
            ..Change::new(ChangeKind::Changed, byte(a), byte(b))
        });
    }
}
