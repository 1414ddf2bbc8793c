//! The search language of a bin's request list, and its translation into
//! an SQLite FTS5 match expression.
//!
//! A query is terms separated by spaces; every term must match (AND).
//! `method:VALUE`, `ip:VALUE`, `path:VALUE` and `header.NAME:VALUE` look in
//! one field; any other term (a word, or a "quoted phrase") looks in the
//! body, the path and the header values. Matching is by words, ignoring
//! case and punctuation: `path:/orders/42` finds `/api/orders/42/items`.

use uuid::Uuid;

/// One term of a query, already split from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Method(String),
    Ip(String),
    Path(String),
    Header { name: String, value: String },
    Text(String),
}

/// A parsed search query. Empty when the text held no searchable word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
}

impl SearchQuery {
    pub fn parse(text: &str) -> Self {
        let terms = split_terms(text)
            .into_iter()
            .filter_map(|raw| {
                let term = match raw.split_once(':') {
                    Some((field, value)) => match field.to_ascii_lowercase().as_str() {
                        "method" => Term::Method(value.to_owned()),
                        "ip" => Term::Ip(value.to_owned()),
                        "path" => Term::Path(value.to_owned()),
                        f => match f.strip_prefix("header.").or(f.strip_prefix("headers.")) {
                            Some(name) if !name.is_empty() => Term::Header {
                                name: name.to_owned(),
                                value: value.to_owned(),
                            },
                            _ => Term::Text(raw.clone()),
                        },
                    },
                    None => Term::Text(raw.clone()),
                };
                term.is_searchable().then_some(term)
            })
            .collect();
        Self { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The FTS5 expression matching this query's requests in `bin`.
    pub fn fts_expression(&self, bin: Uuid) -> String {
        let mut parts = vec![format!("bin : \"{}\"", bin_token(bin))];
        for term in &self.terms {
            parts.push(match term {
                Term::Method(v) => format!("method : {}", phrase(v)),
                Term::Ip(v) => format!("ip : {}", phrase(v)),
                Term::Path(v) => format!("path : {}", phrase(v)),
                Term::Header { name, value } => {
                    format!("headers : {}", phrase(&format!("{name} {value}")))
                }
                Term::Text(v) => format!("{{path headers body}} : {}", phrase(v)),
            });
        }
        parts.join(" AND ")
    }
}

impl Term {
    /// A term without any letter or digit has no word to look for.
    fn is_searchable(&self) -> bool {
        let has_word = |s: &str| s.chars().any(char::is_alphanumeric);
        match self {
            Self::Method(v) | Self::Ip(v) | Self::Path(v) | Self::Text(v) => has_word(v),
            Self::Header { name, .. } => has_word(name),
        }
    }
}

/// The one-word token that ties an index row to its bin.
pub fn bin_token(bin: Uuid) -> String {
    format!("b{}", bin.simple())
}

/// An FTS5 string: the text in double quotes, inner quotes doubled. FTS5
/// splits it into words and matches them as a phrase.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Splits on whitespace, keeping "quoted phrases" (and `field:"a b"`) whole;
/// the quotes themselves are dropped.
fn split_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_words_and_phrases() {
        let q = SearchQuery::parse(
            r#"method:POST  hello "two words" header.X-Event:push path:"/a b" ip:127.0.0.1 !!"#,
        );
        assert_eq!(
            q.terms,
            vec![
                Term::Method("POST".into()),
                Term::Text("hello".into()),
                Term::Text("two words".into()),
                Term::Header {
                    name: "x-event".into(),
                    value: "push".into()
                },
                Term::Path("/a b".into()),
                Term::Ip("127.0.0.1".into()),
            ]
        );
    }

    #[test]
    fn quotes_inside_terms_cannot_break_the_expression() {
        let bin = Uuid::nil();
        let q = SearchQuery::parse(r#"a"b OR"#);
        let expr = q.fts_expression(bin);
        assert!(expr.ends_with(r#"{path headers body} : "ab OR""#), "{expr}");
        assert!(SearchQuery::parse("  ").is_empty());
    }
}
