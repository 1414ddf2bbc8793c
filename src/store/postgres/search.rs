//! Search on PostgreSQL: the same query language and the same results as
//! SQLite's FTS5 index, over a `tsvector` column with a GIN index.
//!
//! The words are made here, never by PostgreSQL's text parsers: each
//! request's [`IndexedText`] (the text SQLite's index gets) is split and
//! folded as FTS5's `unicode61 remove_diacritics 2` tokenizer does (runs
//! of letters and digits, lower-cased, diacritics removed), and each word
//! is written with a one-letter prefix naming its field (`p` path, `q`
//! query string, `h` headers, `b` body, `n` named words, `m` method, `i`
//! IP, `j` the IP's first word), with its position, so phrases (`<->`)
//! and prefixes (`:*`) work within one field as FTS5's do. Word terms
//! become `tsquery`s built from the same words; exact-value terms
//! (method, uuid, size, created_at …) become SQL over the row.
//!
//! Limits of `tsvector` that FTS5 does not have: positions stop at 16 383
//! and a word keeps at most 256 of them, so a phrase deep inside a large
//! body may go unfound (single words are still found); a word longer than
//! [`MAX_WORD_BYTES`] is not indexed.

use std::ops::Bound;

use tokio_postgres::types::ToSql;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::model::{CapturedRequest, Timestamp};
use crate::query::{Term, TextField, Words};
use crate::store::search::ConditionSql;
use crate::store::search::{named_token, signature_condition, IndexedText, SearchQuery};

/// A parameter of a query.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// Longest word indexed: PostgreSQL refuses lexemes of 2 KiB and more.
const MAX_WORD_BYTES: usize = 2000;
/// The last position a `tsvector` records.
const MAX_POSITION: usize = 16_383;

/// The words of `text` as the index holds them: runs of letters and
/// digits, lower-cased, without diacritics (`Café` → `cafe`).
pub(super) fn folded_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter_map(|word| {
            let folded: String = word
                .to_lowercase()
                .nfd()
                .filter(|c| !is_combining_mark(*c))
                .collect();
            (!folded.is_empty()).then_some(folded)
        })
}

/// A `tsvector` literal, written word by word.
struct Vector {
    text: String,
    position: usize,
}

impl Vector {
    fn word(&mut self, field: char, word: &str, position: usize) {
        if word.len() > MAX_WORD_BYTES {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push('\'');
        self.text.push(field);
        // Folded words are letters and digits only; quoting is for safety.
        for c in word.chars() {
            match c {
                '\'' => self.text.push_str("''"),
                '\\' => self.text.push_str("\\\\"),
                c => self.text.push(c),
            }
        }
        self.text
            .push_str(&format!("':{}", position.clamp(1, MAX_POSITION)));
    }

    /// The words of one field, at the next positions.
    fn field(&mut self, field: char, text: &str) {
        for word in folded_words(text) {
            self.position += 1;
            self.word(field, &word, self.position);
        }
        // A field never continues the phrase of the one before.
        self.position += 1;
    }
}

/// The `tsvector` (as text) of one request's searchable words.
pub(super) fn words_of(req: &CapturedRequest) -> String {
    let text = IndexedText::of(req);
    let mut vector = Vector {
        text: String::with_capacity(text.body.len() + text.headers.len() + 256),
        position: 0,
    };
    vector.field('m', &text.method);
    // The IP's first word also as `j`, so `ip:` matches from its start.
    let ip_start = vector.position + 1;
    if let Some(first) = folded_words(text.ip).next() {
        vector.word('j', &first, ip_start);
    }
    vector.field('i', text.ip);
    vector.field('p', text.path);
    vector.field('q', &text.query);
    vector.field('h', &text.headers);
    vector.field('n', &text.named);
    // Last: the longest, the one whose positions may run out.
    vector.field('b', text.body);
    vector.text
}

/// The SQL condition over `requests r` that a query's requests meet, with
/// its parameters pushed onto `params` (numbered from their position).
pub(super) fn condition(query: &SearchQuery, bin: Uuid, params: &mut Vec<Param>) -> String {
    let Some(root) = &query.query.root else {
        return String::from("TRUE");
    };
    let mut sql = Sql {
        bin,
        now: Timestamp::now().as_micros(),
        params,
    };
    sql.of(root)
}

impl ConditionSql for Sql<'_> {
    fn term(&mut self, term: &Term) -> String {
        Sql::term(self, term)
    }
}

struct Sql<'a> {
    bin: Uuid,
    now: i64,
    params: &'a mut Vec<Param>,
}

impl Sql<'_> {
    fn push(&mut self, value: Param) -> usize {
        self.params.push(value);
        self.params.len()
    }

    fn term(&mut self, term: &Term) -> String {
        match term {
            Term::Words(words) => match tsquery(words) {
                Some(query) => {
                    let n = self.push(Box::new(query));
                    format!("r.words @@ ${n}::text::tsquery")
                }
                None => String::from("FALSE"),
            },
            Term::Everything => String::from("TRUE"),
            Term::Method(method) if method.contains('*') => {
                let n = self.push(Box::new(like_pattern(method)));
                format!("upper(r.method) LIKE ${n}")
            }
            Term::Method(method) => {
                let n = self.push(Box::new(method.clone()));
                format!("upper(r.method) = ${n}")
            }
            Term::Uuid(id) => {
                let n = self.push(Box::new(*id));
                format!("r.id = ${n}")
            }
            Term::TokenId(id) => if *id == self.bin { "TRUE" } else { "FALSE" }.to_owned(),
            Term::Type(kind) => {
                // Every request captured here came over HTTP.
                if kind == "web" || kind == "*" {
                    "TRUE"
                } else {
                    "FALSE"
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
            let (value, op) = match bound {
                Bound::Included(v) => (v, inclusive),
                Bound::Excluded(v) => (v, exclusive),
                Bound::Unbounded => continue,
            };
            let n = self.push(Box::new(value));
            parts.push(format!("{column} {op} ${n}"));
        }
        if parts.is_empty() {
            String::from("TRUE")
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

/// `PO*` → a LIKE pattern where only `*` is special.
fn like_pattern(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '*' => "%".to_owned(),
            '%' | '_' | '\\' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect()
}

/// The `tsquery` (as text) for a words term: its words, side by side in
/// one of the fields it names; `None` when it has no word left to match.
fn tsquery(words: &Words) -> Option<String> {
    let plain: Vec<String> = words.words.iter().flat_map(|w| folded_words(w)).collect();
    let named = |kind: char, name: &str| -> Vec<String> {
        let tokens: Vec<String> = if words.words.is_empty() {
            vec![named_token(kind, name, "")]
        } else {
            words
                .words
                .iter()
                .map(|w| named_token(kind, name, w))
                .collect()
        };
        tokens.iter().flat_map(|t| folded_words(t)).collect()
    };
    let in_fields = |fields: &[char], tokens: &[String]| -> Option<String> {
        let phrases: Vec<String> = fields
            .iter()
            .filter_map(|&field| phrase(tokens, words.prefix, |_| field))
            .collect();
        (!phrases.is_empty()).then(|| format!("({})", phrases.join(" | ")))
    };
    match &words.field {
        TextField::Anywhere => in_fields(&['p', 'q', 'h', 'b'], &plain),
        TextField::Content => in_fields(&['b'], &plain),
        TextField::Path => in_fields(&['p'], &plain),
        TextField::Url => in_fields(&['p', 'q'], &plain),
        TextField::Ip => phrase(&plain, words.prefix, |n| if n == 0 { 'j' } else { 'i' }),
        TextField::Header(name) => in_fields(&['n'], &named('h', name)),
        TextField::QueryParam(name) => in_fields(&['n'], &named('q', name)),
        TextField::FormField(name) => in_fields(&['n'], &named('f', name)),
        TextField::File(name) => in_fields(&['n'], &named('u', name)),
    }
}

/// `'pa' <-> 'pb':*`: the tokens side by side, each with the field
/// letter `field(its index)`, the last one a prefix when `prefix`.
fn phrase(tokens: &[String], prefix: bool, field: impl Fn(usize) -> char) -> Option<String> {
    if tokens.is_empty() {
        return None;
    }
    let last = tokens.len() - 1;
    let parts: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let token = token.replace('\\', "\\\\").replace('\'', "''");
            let star = if prefix && n == last { ":*" } else { "" };
            format!("'{}{token}'{star}", field(n))
        })
        .collect();
    Some(format!("({})", parts.join(" <-> ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Expr;

    #[test]
    fn words_are_folded_as_sqlite_folds_them() {
        let words: Vec<String> = folded_words("Café  naïve-ÉCOLE x_y 42").collect();
        assert_eq!(words, ["cafe", "naive", "ecole", "x", "y", "42"]);
        // Decomposed accents fold the same way.
        let words: Vec<String> = folded_words("cafe\u{301}").collect();
        assert_eq!(words, ["cafe"]);
    }

    #[test]
    fn a_field_never_continues_the_phrase_of_the_one_before() {
        let mut vector = Vector {
            text: String::new(),
            position: 0,
        };
        vector.field('p', "/a/b");
        vector.field('q', "c");
        assert_eq!(vector.text, "'pa':1 'pb':2 'qc':4");
    }

    #[test]
    fn word_terms_become_phrases_in_their_fields() {
        let query =
            SearchQuery::parse("\"Hello wor*\" ip:127.0* headers.X-Event:push").expect("parses");
        let mut params = Vec::new();
        let sql = condition(&query, Uuid::nil(), &mut params);
        assert_eq!(
            sql,
            "(r.words @@ $1::text::tsquery AND r.words @@ $2::text::tsquery \
             AND r.words @@ $3::text::tsquery)"
        );
        assert_eq!(params.len(), 3);
        let words = |text: &str| {
            let Ok(query) = SearchQuery::parse(text) else {
                panic!("{text} parses");
            };
            let Some(Expr::Term(Term::Words(words))) = query.query.root else {
                panic!("{text} is one words term");
            };
            tsquery(&words).expect("has words")
        };
        assert_eq!(
            words("\"Hello world\""),
            "(('phello' <-> 'pworld') | ('qhello' <-> 'qworld') | \
             ('hhello' <-> 'hworld') | ('bhello' <-> 'bworld'))"
        );
        assert_eq!(words("content:pay*"), "(('bpay':*))");
        assert_eq!(words("ip:127.0*"), "('j127' <-> 'i0':*)");
        assert_eq!(words("headers.X-Event:push"), "(('nh6xxeventpush'))");
    }

    #[test]
    fn like_patterns_keep_only_the_star_special() {
        assert_eq!(like_pattern("P_S%*"), "P\\_S\\%%");
    }
}
