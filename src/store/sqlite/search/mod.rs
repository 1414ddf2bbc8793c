//! Search in SQLite: the FTS5 index and the query language's translation for it.
//!
//! The index (`requests_fts`, filled off the capture path by [`index`]) holds
//! per request its bin, method, IP, path, query, headers, the start of its
//! body and named words (header, query, form and file names tied to their
//! words; see [`named_token`]). The search language (see [`crate::query`]) is
//! translated here: word terms into one FTS5 match expression over the index,
//! exact-value terms (method, uuid, token_id, type, size, created_at,
//! signature) into SQL predicates on `requests`.
//!
//! The index drives whenever it can: the parts of a query it answers form
//! one match expression (its rowid order is arrival order, so the newest 50
//! come first without sorting), and whatever it cannot answer exactly is
//! checked on the rows it yields. Only a query with no word term at all
//! (`size:>1000`) walks the bin's rows instead.

mod index;

use std::ops::Bound;

use rusqlite::types::Value;
use uuid::Uuid;

use crate::model::Timestamp;
use crate::query::{Expr, Term, TextField, Words};
use crate::store::search::ConditionSql;
use crate::store::search::{method_token, named_token, signature_condition, SearchQuery};
pub(super) use index::unindex;

/// How a query's requests are found, with its parameters already pushed.
pub(super) enum Plan {
    /// Every request of the bin.
    Everything,
    /// `requests_fts MATCH ?{param}` yields them, or a superset that
    /// `filter` (SQL over `r`) narrows down.
    Index {
        param: usize,
        filter: Option<String>,
    },
    /// The bin's rows, kept when `filter` holds.
    Rows { filter: String },
}

impl SearchQuery {
    /// The plan for this query's requests in `bin`; its SQL refers to
    /// parameters it pushes onto `params` (numbered from their position).
    pub(super) fn plan(&self, bin: Uuid, params: &mut Vec<Value>) -> Plan {
        let Some(root) = &self.query.root else {
            return Plan::Everything;
        };
        let mut sql = Sql {
            bin,
            now: Timestamp::now().as_micros(),
            params,
        };
        match fts(root, bin) {
            Some(driver) => {
                let filter = residual(root, bin, &mut sql);
                let param = sql.push(Value::Text(in_bin(bin, &driver.expr)));
                Plan::Index { param, filter }
            }
            None => Plan::Rows {
                filter: sql.of(root),
            },
        }
    }
}

/// The one-word token that ties an index row to its bin.
pub(super) fn bin_token(bin: Uuid) -> String {
    format!("b{}", bin.simple())
}

fn in_bin(bin: Uuid, expr: &str) -> String {
    format!("bin : \"{}\" AND ({expr})", bin_token(bin))
}

/// An FTS5 match expression for a node: exactly its requests (`exact`),
/// or a superset of them.
struct Fts {
    expr: String,
    exact: bool,
}

/// An FTS5 string: inner quotes doubled. FTS5 splits it into words and
/// matches them as a phrase; a `*` after it makes the last word a prefix.
fn phrase(words: &[String], prefix: bool) -> String {
    let text = words.join(" ").replace('"', "\"\"");
    format!("\"{text}\"{}", if prefix { " *" } else { "" })
}

fn words_expr(words: &Words) -> String {
    let named = |kind: char, name: &str| {
        let tokens: Vec<String> = if words.words.is_empty() {
            vec![named_token(kind, name, "")]
        } else {
            words
                .words
                .iter()
                .map(|w| named_token(kind, name, w))
                .collect()
        };
        format!("named : {}", phrase(&tokens, words.prefix))
    };
    let plain = || phrase(&words.words, words.prefix);
    match &words.field {
        TextField::Anywhere => format!("{{path query headers body}} : {}", plain()),
        TextField::Content => format!("body : {}", plain()),
        TextField::Path => format!("path : {}", plain()),
        TextField::Url => format!("{{path query}} : {}", plain()),
        TextField::Ip => format!("ip : ^ {}", plain()),
        TextField::Header(name) => named('h', name),
        TextField::QueryParam(name) => named('q', name),
        TextField::FormField(name) => named('f', name),
        TextField::File(name) => named('u', name),
    }
}

fn fts(expr: &Expr, bin: Uuid) -> Option<Fts> {
    match expr {
        Expr::Term(Term::Words(words)) => Some(Fts {
            expr: words_expr(words),
            exact: true,
        }),
        Expr::Term(Term::Everything) => Some(Fts {
            expr: format!("bin : \"{}\"", bin_token(bin)),
            exact: true,
        }),
        // The index holds the method as one token: the whole method, or
        // its start when a `*` ends the value.
        Expr::Term(Term::Method(method)) => {
            let (start, prefix) = match method.strip_suffix('*') {
                Some(start) => (start, true),
                None => (method.as_str(), false),
            };
            (!start.is_empty() && !start.contains('*')).then(|| Fts {
                expr: format!("method : {}", phrase(&[method_token(start)], prefix)),
                exact: true,
            })
        }
        Expr::Term(_) => None,
        Expr::And(children) => {
            let parts: Vec<Option<Fts>> = children.iter().map(|c| fts(c, bin)).collect();
            let exact = parts.iter().all(|p| p.as_ref().is_some_and(|p| p.exact));
            let exprs: Vec<String> = parts
                .into_iter()
                .flatten()
                .map(|p| format!("({})", p.expr))
                .collect();
            (!exprs.is_empty()).then(|| Fts {
                expr: exprs.join(" AND "),
                exact,
            })
        }
        Expr::Or(children) => {
            let parts: Option<Vec<Fts>> = children.iter().map(|c| fts(c, bin)).collect();
            let parts = parts?;
            Some(Fts {
                exact: parts.iter().all(|p| p.exact),
                expr: parts
                    .iter()
                    .map(|p| format!("({})", p.expr))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            })
        }
        // FTS5's NOT is binary: "in the bin, NOT …".
        Expr::Not(inner) => fts(inner, bin).filter(|f| f.exact).map(|f| Fts {
            expr: format!("bin : \"{}\" NOT ({})", bin_token(bin), f.expr),
            exact: true,
        }),
    }
}

/// What a row found by `fts(expr)` must still satisfy; `None`: nothing.
fn residual(expr: &Expr, bin: Uuid, sql: &mut Sql<'_>) -> Option<String> {
    match fts(expr, bin) {
        Some(f) if f.exact => None,
        None => Some(sql.of(expr)),
        Some(_) => match expr {
            Expr::And(children) => {
                let parts: Vec<String> = children
                    .iter()
                    .filter_map(|c| residual(c, bin, sql))
                    .collect();
                (!parts.is_empty()).then(|| format!("({})", parts.join(" AND ")))
            }
            _ => Some(sql.of(expr)),
        },
    }
}

/// Builds exact SQL predicates over `requests r`.
impl ConditionSql for Sql<'_> {
    fn term(&mut self, term: &Term) -> String {
        Sql::term(self, term)
    }
}

struct Sql<'a> {
    bin: Uuid,
    now: i64,
    params: &'a mut Vec<Value>,
}

impl Sql<'_> {
    /// Pushes a parameter; returns its number.
    fn push(&mut self, value: Value) -> usize {
        self.params.push(value);
        self.params.len()
    }

    fn term(&mut self, term: &Term) -> String {
        match term {
            Term::Words(words) => {
                let n = self.push(Value::Text(in_bin(self.bin, &words_expr(words))));
                format!("r.seq IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?{n})")
            }
            Term::Everything => String::from("1"),
            Term::Method(method) if method.contains('*') => {
                let n = self.push(Value::Text(glob_pattern(method)));
                format!("upper(r.method) GLOB ?{n}")
            }
            Term::Method(method) => {
                let n = self.push(Value::Text(method.clone()));
                format!("upper(r.method) = ?{n}")
            }
            Term::Uuid(id) => {
                let n = self.push(Value::Blob(id.as_bytes().to_vec()));
                format!("r.id = ?{n}")
            }
            Term::TokenId(id) => if *id == self.bin { "1" } else { "0" }.to_owned(),
            Term::Type(kind) => {
                // Every request captured here came over HTTP.
                if kind == "web" || kind == "*" {
                    "1"
                } else {
                    "0"
                }
                .to_owned()
            }
            Term::Size(range) => {
                let range = map_range(range, |n| i64::try_from(*n).unwrap_or(i64::MAX));
                self.range("r.size", range)
            }
            Term::CreatedAt(range) => {
                let now = self.now;
                let range = map_range(range, |at| at.resolve(now));
                self.range("r.received_at", range)
            }
            Term::Signature(term) => signature_condition(*term),
        }
    }

    fn range(&mut self, column: &str, (from, to): (Bound<i64>, Bound<i64>)) -> String {
        let mut parts = Vec::new();
        for (bound, inclusive, exclusive) in [(from, ">=", ">"), (to, "<=", "<")] {
            match bound {
                Bound::Included(v) => {
                    let n = self.push(Value::Integer(v));
                    parts.push(format!("{column} {inclusive} ?{n}"));
                }
                Bound::Excluded(v) => {
                    let n = self.push(Value::Integer(v));
                    parts.push(format!("{column} {exclusive} ?{n}"));
                }
                Bound::Unbounded => {}
            }
        }
        if parts.is_empty() {
            String::from("1")
        } else {
            format!("({})", parts.join(" AND "))
        }
    }
}

fn map_range<T>(range: &crate::query::Range<T>, f: impl Fn(&T) -> i64) -> (Bound<i64>, Bound<i64>) {
    let map = |b: &Bound<T>| match b {
        Bound::Included(v) => Bound::Included(f(v)),
        Bound::Excluded(v) => Bound::Excluded(f(v)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (map(&range.from), map(&range.to))
}

/// `PO*` → a GLOB pattern where only `*` is special.
fn glob_pattern(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '?' => "[?]".to_owned(),
            '[' => "[[]".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> (String, Option<String>, Vec<Value>) {
        let mut params = Vec::new();
        let q = SearchQuery::parse(text).expect("parses");
        match q.plan(Uuid::nil(), &mut params) {
            Plan::Everything => (String::from("everything"), None, params),
            Plan::Index { param, filter } => {
                let Value::Text(expr) = &params[param - 1] else {
                    panic!("match expression is text");
                };
                (expr.clone(), filter, params)
            }
            Plan::Rows { filter } => (String::from("rows"), Some(filter), params),
        }
    }

    #[test]
    fn word_terms_become_one_match_expression() {
        let (expr, filter, _) = plan(r#"invoice -refund (a OR headers.X-Event:pu*)"#);
        assert_eq!(
            expr,
            format!(
                "bin : \"{b}\" AND (({{path query headers body}} : \"invoice\") AND \
                 (bin : \"{b}\" NOT ({{path query headers body}} : \"refund\")) AND \
                 (({{path query headers body}} : \"a\") OR (named : \"h6xxeventpu\" *)))",
                b = bin_token(Uuid::nil())
            )
        );
        assert_eq!(filter, None);
    }

    #[test]
    fn exact_fields_filter_what_the_index_yields() {
        let (expr, filter, params) = plan("method:post size:>10 invoice");
        assert!(expr.contains("(method : \"post\") AND"), "{expr}");
        assert_eq!(filter.as_deref(), Some("((r.size > ?1))"));
        assert_eq!(params[0], Value::Integer(10));
        let (expr, filter, _) = plan("method:P*T OR invoice");
        assert_eq!(expr, "rows");
        assert_eq!(
            filter.as_deref(),
            Some(
                "(upper(r.method) GLOB ?1 OR r.seq IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?2))"
            )
        );
        let (how, filter, _) = plan("size:[1 TO 5] OR uuid:00000000-0000-0000-0000-000000000000");
        assert_eq!(how, "rows");
        assert_eq!(
            filter.as_deref(),
            Some("((r.size >= ?1 AND r.size <= ?2) OR r.id = ?3)")
        );
        assert_eq!(plan("").0, "everything");
    }

    #[test]
    fn quotes_cannot_break_the_expression() {
        let (expr, _, _) = plan(r#"a\"b"#);
        assert!(
            expr.ends_with(r#"{path query headers body} : "a b")"#),
            "{expr}"
        );
    }
}
