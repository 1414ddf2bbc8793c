//! What both backends share of search: the parsed query ([`SearchQuery`]),
//! the text of a request that goes into an index ([`IndexedText`]), and the
//! tokens that stand for a method or a named value. Each backend translates
//! a query for its own index (`sqlite::search`, `postgres::search`); both
//! index the same text, so the same query finds the same requests.

use crate::model::CapturedRequest;
pub use crate::query::Term;
use crate::query::{Expr, Query, QueryError, SignatureTerm};

/// A parsed search query. Empty when the text was blank: it then matches
/// every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub(super) query: Query,
}

impl SearchQuery {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        Query::parse(text).map(|query| Self { query })
    }

    pub fn is_empty(&self) -> bool {
        self.query.is_empty()
    }
}

/// Most bytes of a body put into the search index.
pub(super) const INDEXED_BODY_BYTES: usize = 64 * 1024;

/// The method as one index token that only it has: upper-cased, then
/// ASCII letters and digits but `X` kept (lower-cased), and `X` and every
/// other character written as `x` and six hex digits (`M-SEARCH` →
/// `mx00002dsearch`). A prefix of a method gives a prefix of its token.
pub(super) fn method_token(method: &str) -> String {
    let mut token = String::with_capacity(method.len());
    for c in method.to_uppercase().chars() {
        if c.is_ascii_alphanumeric() && c != 'X' {
            token.push(c.to_ascii_lowercase());
        } else {
            token.push_str(&format!("x{:06x}", u32::from(c)));
        }
    }
    token
}

/// The token tying one word of a named value to its name: `h` (header),
/// `q` (query parameter), `f` (form field) or `u` (uploaded file), the
/// name's length, `x`, the name, then the word (`h12xcontenttypejson`).
/// Names and words are reduced to lower-case letters and digits; the
/// length keeps `ab`+`c` apart from `a`+`bc`. With an empty word it stands
/// for the name alone.
pub(super) fn named_token(kind: char, name: &str, word: &str) -> String {
    let name: String = crate::query::words_of(name).concat();
    format!("{kind}{}x{name}{word}", name.chars().count())
}

/// The text of the index's `named` column for some named values: each
/// value's words as [`named_token`]s, after the name's own token.
pub(super) fn named_text<'a>(
    kind: char,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    out: &mut String,
) {
    for (name, value) in pairs {
        out.push_str(&named_token(kind, name, ""));
        for word in crate::query::words_of(value) {
            out.push(' ');
            out.push_str(&named_token(kind, name, &word));
        }
        out.push('\n');
    }
}

/// What the search index holds of one request, field by field: its method
/// (one token), IP, path, decoded query string, header names and values,
/// the start of its body when that is UTF-8, and the words of its headers,
/// query parameters, form fields and uploaded files (name, content type,
/// id) tied to their names.
pub(super) struct IndexedText<'a> {
    pub method: String,
    pub ip: &'a str,
    pub path: &'a str,
    pub query: String,
    pub headers: String,
    pub body: &'a str,
    pub named: String,
}

impl<'a> IndexedText<'a> {
    pub(super) fn of(req: &'a CapturedRequest) -> Self {
        let headers = crate::model::Header::pairs_lossy(&req.headers);
        let query = req.query_pairs();
        let form = req.form();
        let mut plain_headers = String::new();
        for (name, value) in &headers {
            plain_headers.push_str(&format!("{name} {value}\n"));
        }
        let mut plain_query = String::new();
        for (name, value) in &query {
            plain_query.push_str(&format!("{name} {value}\n"));
        }
        let mut named = String::new();
        fn pairs(list: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
            list.iter().map(|(n, v)| (n.as_str(), v.as_str()))
        }
        named_text('h', pairs(&headers), &mut named);
        named_text('q', pairs(&query), &mut named);
        named_text('f', pairs(&form.fields), &mut named);
        let files: Vec<(String, String)> = form
            .files
            .iter()
            .map(|file| {
                let part = &file.part;
                let about = [part.file_name.as_deref(), part.content_type.as_deref()]
                    .into_iter()
                    .flatten()
                    .fold(file.id.to_string(), |text, more| format!("{text} {more}"));
                (part.name.clone(), about)
            })
            .collect();
        named_text('u', pairs(&files), &mut named);
        let body = &req.body[..req.body.len().min(INDEXED_BODY_BYTES)];
        let body = match std::str::from_utf8(body) {
            Ok(text) => text,
            // Cut inside a character: index up to the last whole one.
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => "",
        };
        Self {
            method: method_token(&req.method),
            ip: req.ip(),
            path: &req.path,
            query: plain_query,
            headers: plain_headers,
            body,
            named,
        }
    }
}

/// `signature:` as a condition on `requests r`, the same SQL on both
/// backends. Never NULL, so `-signature:valid` keeps unchecked requests.
/// The provider's name is one of ours (lower-case letters), safe inline.
pub(super) fn signature_condition(term: SignatureTerm) -> String {
    let checked = "r.signature_provider IS NOT NULL";
    match term {
        SignatureTerm::Valid => format!("({checked} AND r.signature_valid IS TRUE)"),
        SignatureTerm::Invalid => format!("({checked} AND r.signature_valid IS NOT TRUE)"),
        SignatureTerm::Unchecked => String::from("r.signature_provider IS NULL"),
        SignatureTerm::Provider(provider) => {
            format!(
                "({checked} AND r.signature_provider = '{}')",
                provider.name()
            )
        }
    }
}

/// A backend's SQL for the terms of a search. AND, OR, NOT and parentheses
/// around the terms are the same SQL on every backend: [`ConditionSql::of`]
/// writes them once.
pub(super) trait ConditionSql {
    /// One term as a condition on the backend's `requests r`.
    fn term(&mut self, term: &Term) -> String;

    /// `expr` as a condition: its boolean structure as SQL's, its terms by
    /// [`ConditionSql::term`].
    fn of(&mut self, expr: &Expr) -> String {
        let join = |sql: &mut Self, children: &[Expr], op: &str| {
            let parts: Vec<String> = children.iter().map(|c| sql.of(c)).collect();
            format!("({})", parts.join(op))
        };
        match expr {
            Expr::And(children) => join(self, children, " AND "),
            Expr::Or(children) => join(self, children, " OR "),
            Expr::Not(inner) => format!("NOT ({})", self.of(inner)),
            Expr::Term(term) => self.term(term),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_tokens_are_one_word_each() {
        assert_eq!(method_token("post"), "post");
        assert_eq!(method_token("M-SEARCH"), "mx00002dsearch");
        assert_ne!(method_token("X"), method_token("x000058"));
        assert_eq!(crate::query::words_of(&method_token("M-SEARCH")).len(), 1);
    }

    #[test]
    fn named_tokens_tie_words_to_their_name() {
        assert_eq!(
            named_token('h', "Content-Type", "json"),
            "h11xcontenttypejson"
        );
        let mut text = String::new();
        named_text('q', [("page", "2 of 3")], &mut text);
        assert_eq!(text, "q4xpage q4xpage2 q4xpageof q4xpage3\n");
    }
}
