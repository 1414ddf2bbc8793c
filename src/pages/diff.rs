//! The compare page: two of a bin's requests side by side, with what
//! differs (see `crate::diff`) as tables and a line listing. Reached from
//! the list's checkboxes (`/view/{bin}/diff?id=…&id=…`, a plain GET form)
//! or by URL: `?a=…&b=…`, and the dashboard's `/view/{bin}?diff=a,b`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use uuid::Uuid;

use crate::api::{compared, requests_to_compare};
use crate::diff::{BodyKind, Change, ChangeKind, DiffLine, Section, MAX_LINES};
use crate::extract::BinPath;
use crate::model::{human_size, CapturedRequest, ListRow};
use crate::store::Store;

/// Longest value shown in a cell; the requests' own pages have the rest.
const SHOWN_CHARS: usize = 300;

/// One request of the two, as its list row shows it.
struct Side {
    id: Uuid,
    method: String,
    row: ListRow,
}

impl Side {
    fn of(req: &CapturedRequest) -> Self {
        Self {
            id: req.id,
            method: req.method.clone(),
            row: ListRow::of(req),
        }
    }
}

/// One change, for reading.
struct Row {
    /// `added`, `removed`, `changed` or `reordered`: the badge and colour.
    kind: &'static str,
    label: String,
    old: String,
    new: String,
}

/// One part of the request and its changes, for reading.
struct SectionView {
    title: &'static str,
    /// The heading's element id, which the summary links to.
    id: &'static str,
    /// What the label column holds ("Name", "JSON path"…).
    label: &'static str,
    equal: bool,
    /// "2 changed, 1 added".
    counts: String,
    rows: Vec<Row>,
    more: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "diff.html")]
struct DiffPage {
    bin: Uuid,
    a: Side,
    b: Side,
    equal: bool,
    sections: Vec<SectionView>,
    body: SectionView,
    body_kind: &'static str,
    /// The parts where nothing differs, in words.
    same: Vec<String>,
    /// The line listing stopped at `diff::MAX_LINES`.
    lines_cut: bool,
    a_size: String,
    b_size: String,
    first_difference: Option<usize>,
    lines: Vec<DiffLine>,
}

/// `GET /view/{bin}/diff`: the ids come as `a` and `b`, as repeated `id`
/// (the list's checkboxes) or as `diff=a,b`.
pub async fn diff_page(
    State(store): State<Store>,
    BinPath(bin): BinPath,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let (mut named, mut ticked) = (Vec::new(), Vec::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "a" | "b" | "diff" => named.push(value.into_owned()),
            "id" => ticked.push(value.into_owned()),
            _ => {}
        }
    }
    // The list is newest first: ticked rows compare the older as A. Ids
    // are UUID v7, so their order is their arrival order.
    ticked.sort();
    named.extend(ticked);
    show(&store, bin.id, named.iter().map(String::as_str)).await
}

/// The compare page of two requests of `bin`, or the page saying why not.
pub async fn show<'a>(
    store: &Store,
    bin: Uuid,
    ids: impl IntoIterator<Item = &'a str>,
) -> Response {
    let (a, b) = match requests_to_compare(store, bin, ids).await {
        Ok(pair) => pair,
        Err(refusal) => return refusal,
    };
    let diff = match compared(&a, &b).await {
        Ok(diff) => diff,
        Err(refusal) => return refusal,
    };
    let sections = vec![
        section(("Method", "diff-method"), "", &diff.method),
        section(("Path", "diff-path"), "", &diff.path),
        section(("Query parameters", "diff-query"), "Name", &diff.query),
        section(("Headers", "diff-headers"), "Name", &diff.headers),
    ];
    let body_label = match diff.body.kind {
        BodyKind::Json => "JSON path",
        BodyKind::Form => "Field",
        BodyKind::Text => "Line",
        BodyKind::Binary => "Where",
        BodyKind::Empty => "",
    };
    let mut body = section(("Body", "diff-body"), body_label, &diff.body.section);
    if !diff.body.lines.is_empty() {
        // A text body reads better as its line listing than as a table.
        body.rows.clear();
    }
    let mut same: Vec<String> = sections
        .iter()
        .filter(|view| view.equal)
        .map(|view| view.title.to_lowercase())
        .collect();
    if body.equal {
        same.push(format!(
            "body ({}, {})",
            diff.body.kind.as_str(),
            human_size(diff.body.a_size)
        ));
    }
    let page = DiffPage {
        bin,
        a: Side::of(&a),
        b: Side::of(&b),
        equal: diff.equal,
        sections,
        body,
        body_kind: diff.body.kind.as_str(),
        same,
        lines_cut: diff.body.lines.len() >= MAX_LINES,
        a_size: human_size(diff.body.a_size),
        b_size: human_size(diff.body.b_size),
        first_difference: diff.body.first_difference,
        lines: diff
            .body
            .lines
            .into_iter()
            .map(|mut line| {
                line.text = shorten(&line.text);
                line
            })
            .collect(),
    };
    ([(header::CACHE_CONTROL, "no-store")], page).into_response()
}

fn section(
    (title, id): (&'static str, &'static str),
    label: &'static str,
    section: &Section,
) -> SectionView {
    let mut counts = Vec::new();
    for kind in [
        ChangeKind::Changed,
        ChangeKind::Added,
        ChangeKind::Removed,
        ChangeKind::Reordered,
    ] {
        let n = section.changes.iter().filter(|c| c.kind == kind).count();
        if n > 0 {
            counts.push(format!("{n} {}", kind.as_str()));
        }
    }
    if section.more > 0 {
        counts.push(format!("{} more", section.more));
    }
    SectionView {
        title,
        id,
        label,
        equal: section.equal,
        counts: counts.join(", "),
        rows: section.changes.iter().map(row).collect(),
        more: section.more,
    }
}

fn row(change: &Change) -> Row {
    let label = if let Some(path) = &change.path {
        path.clone()
    } else if let Some(line) = change.line {
        format!("line {line}")
    } else if let Some(offset) = change.offset {
        format!("byte {offset}")
    } else if let Some(name) = &change.name {
        name.clone()
    } else {
        String::from("order")
    };
    // JSON paths show JSON (so `1000` and `"1000"` differ on the page too);
    // the rest shows text.
    let shown = |value: &Option<Value>| match value {
        None => String::new(),
        Some(Value::String(text)) if change.path.is_none() => shorten(text),
        Some(Value::Array(items)) if change.kind == ChangeKind::Reordered => shorten(
            &items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_owned)
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(value) => shorten(&value.to_string()),
    };
    Row {
        kind: change.kind.as_str(),
        label: shorten(&label),
        old: shown(&change.old),
        new: shown(&change.new),
    }
}

/// `text`, cut to [`SHOWN_CHARS`] characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
