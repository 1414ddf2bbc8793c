//! The search language of a bin's request list (webhook.site's, which is
//! Lucene's): parsed once into a syntax tree that each store translates.
//!
//! ```text
//! query    = or
//! or       = and { ("OR" | "||") and }
//! and      = unary { ["AND" | "&&"] unary }        (terms side by side: AND)
//! unary    = ("NOT" | "-" | "!") unary | ["+"] primary
//! primary  = "(" or ")" | [field ":"] value | field ":" "(" or ")"
//! value    = word | "quoted phrase" | range | (">" | ">=" | "<" | "<=") word
//! range    = ("[" | "{") bound "TO" bound ("]" | "}")     ("*": open)
//! ```
//!
//! Words match words (case and punctuation ignored); a `*` at the end of a
//! word matches any word it starts. `size` and `created_at` take numbers and
//! dates (`2026-11-01`, `2026-11-01T10:00:00`, `now`, `now-1d`, `now-2h`);
//! `method`, `uuid` and `type` match the whole value; `signature` takes
//! `valid`, `invalid`, `none` or a provider's name. Nothing here knows SQL.

use std::fmt;
use std::ops::Bound;

use time::macros::format_description;
use time::{Date, PrimitiveDateTime};
use uuid::Uuid;

use crate::signature::Provider;

/// A parsed query: the whole tree, or `None` when the text was blank
/// (which matches every request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub root: Option<Expr>,
}

/// A node of the syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

/// One condition on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Words in a text field, in this order and side by side.
    Words(Words),
    /// Every request (`*`, `field:*` on a field every request has).
    Everything,
    /// The method, ignoring case; `*` matches any run of characters.
    Method(String),
    Uuid(Uuid),
    /// The bin the request is in (`token_id:`): in a bin's list, all of
    /// them or none.
    TokenId(Uuid),
    /// webhook.site's request type (`web`, `email`, `dns`): ours are all
    /// `web`.
    Type(String),
    /// The request's size in bytes.
    Size(Range<u64>),
    /// When the request was received.
    CreatedAt(Range<Instant>),
    /// The verdict of the bin's signature check (`signature:`).
    Signature(SignatureTerm),
}

/// What `signature:` asks of a request's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureTerm {
    /// Checked and passed (`signature:valid`).
    Valid,
    /// Checked and failed (`signature:invalid`).
    Invalid,
    /// Not checked: the bin had no verifier then (`signature:none`).
    Unchecked,
    /// Checked by this provider's verifier (`signature:github`).
    Provider(Provider),
}

/// Words to find in one text field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub field: TextField,
    /// The words, lower-cased, without punctuation. Empty only for `NAME:*`
    /// on a named field: "has such a header / parameter / form field".
    pub words: Vec<String>,
    /// The last word is a prefix (`pay*`).
    pub prefix: bool,
}

/// Where words are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextField {
    /// A free word: path, query string, header names and values, body.
    Anywhere,
    /// The body (`content:`).
    Content,
    /// The path (`path:`).
    Path,
    /// Path and query string (`url:`).
    Url,
    /// The sender's IP address (`ip:`), from its start.
    Ip,
    /// One header's values (`headers.NAME:`, `hostname:`, `user_agent:`);
    /// the name is lower-case.
    Header(String),
    /// One query parameter's values (`query.NAME:`).
    QueryParam(String),
    /// One form field's values (`request.NAME:`).
    FormField(String),
    /// The file uploaded in one form field (`files.NAME:`): words of its
    /// file name, content type and id.
    File(String),
}

/// Bounds of a range; `Unbounded` for `*` or a missing side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range<T> {
    pub from: Bound<T>,
    pub to: Bound<T>,
}

/// A point in time, in microseconds since the Unix epoch, or relative to
/// the moment the query runs (`now-1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    At(i64),
    FromNow(i64),
}

impl Instant {
    pub fn resolve(self, now_micros: i64) -> i64 {
        match self {
            Self::At(at) => at,
            Self::FromNow(offset) => now_micros.saturating_add(offset),
        }
    }
}

/// Why a query could not be parsed, and where (1-based character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub at: usize,
    pub reason: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query: {} at character {}", self.reason, self.at)
    }
}

impl std::error::Error for QueryError {}

impl Query {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            next: 0,
            end: text.chars().count() + 1,
        };
        if parser.tokens.is_empty() {
            return Ok(Self::default());
        }
        let root = parser.or(None)?;
        if let Some(token) = parser.peek() {
            return Err(match token.kind {
                Kind::Close => parser.error_at(token.at, "unbalanced parenthesis"),
                _ => parser.error_at(token.at, "unexpected text"),
            });
        }
        Ok(Self { root: Some(root) })
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }
}

/// The `signature:` value `text` names, ignoring case.
fn signature_term(text: &str) -> Option<SignatureTerm> {
    let lower = text.trim().to_ascii_lowercase();
    Some(match lower.as_str() {
        "valid" => SignatureTerm::Valid,
        "invalid" => SignatureTerm::Invalid,
        "none" => SignatureTerm::Unchecked,
        name => SignatureTerm::Provider(provider_named(name)?),
    })
}

/// The provider whose [`Provider::name`] is `name`.
pub fn provider_named(name: &str) -> Option<Provider> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// Splits text into the words that are searched for: runs of letters and
/// digits, lower-cased. The store indexes text with the same rule.
pub fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    /// A run of text, quotes and escapes resolved. `quoted` marks text
    /// that was (partly) in quotes, `plain` how many of its first
    /// characters were neither quoted nor escaped (where a field name, a
    /// range bracket or a comparison may be), `wildcard` whether it ends in
    /// an unquoted, unescaped `*`.
    Text {
        text: String,
        quoted: bool,
        plain: usize,
        wildcard: bool,
    },
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// 1-based character position of its start.
    at: usize,
}

fn error(at: usize, reason: impl Into<String>) -> QueryError {
    QueryError {
        at,
        reason: reason.into(),
    }
}

/// Tokens: parentheses, and text runs (`field:value`, `"a phrase"`,
/// `field:"a phrase"`, `[1 TO 5]` comes out as `[1`, `TO`, `5]`). A
/// backslash makes the next character plain text.
fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' || c == ')' {
            let kind = if c == '(' { Kind::Open } else { Kind::Close };
            tokens.push(Token { kind, at: i + 1 });
            i += 1;
            continue;
        }
        let start = i;
        let mut word = String::new();
        let mut quoted = false;
        let mut plain = None;
        let mut wildcard = false;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() || c == '(' || c == ')' {
                // `field:(a b)` opens a group after the colon.
                break;
            }
            wildcard = false;
            match c {
                '\\' => {
                    plain.get_or_insert(word.chars().count());
                    let Some(&next) = chars.get(i + 1) else {
                        return Err(error(i + 1, "a backslash with nothing after it"));
                    };
                    word.push(next);
                    i += 2;
                }
                '"' => {
                    plain.get_or_insert(word.chars().count());
                    let open = i;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(error(open + 1, "unclosed quote")),
                            Some('"') => break,
                            Some('\\') if i + 1 < chars.len() => {
                                word.push(chars[i + 1]);
                                i += 2;
                            }
                            Some(&c) => {
                                word.push(c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    quoted = true;
                }
                '*' => {
                    word.push('*');
                    wildcard = true;
                    i += 1;
                }
                c => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        tokens.push(Token {
            kind: Kind::Text {
                plain: plain.unwrap_or(word.chars().count()),
                text: word,
                quoted,
                wildcard,
            },
            at: start + 1,
        });
    }
    Ok(tokens)
}

/// A field as written before the colon.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Text(TextField),
    Method,
    Uuid,
    TokenId,
    Type,
    Size,
    CreatedAt,
    Signature,
}

impl Field {
    fn named(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let named = |prefix: &str| {
            lower
                .strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(str::to_owned)
        };
        Some(match lower.as_str() {
            "content" | "body" => Self::Text(TextField::Content),
            "path" => Self::Text(TextField::Path),
            "url" => Self::Text(TextField::Url),
            "ip" => Self::Text(TextField::Ip),
            "hostname" => Self::Text(TextField::Header("host".into())),
            "user_agent" => Self::Text(TextField::Header("user-agent".into())),
            "method" => Self::Method,
            "uuid" => Self::Uuid,
            "token_id" => Self::TokenId,
            "type" => Self::Type,
            "size" => Self::Size,
            "signature" => Self::Signature,
            // A captured request is never changed after it is stored.
            "created_at" | "updated_at" => Self::CreatedAt,
            _ => {
                if let Some(name) = named("headers.").or_else(|| named("header.")) {
                    Self::Text(TextField::Header(name))
                } else if let Some(name) = named("query.") {
                    Self::Text(TextField::QueryParam(name))
                } else if let Some(name) = named("request.") {
                    Self::Text(TextField::FormField(name))
                } else if let Some(name) = named("files.") {
                    Self::Text(TextField::File(name))
                } else {
                    return None;
                }
            }
        })
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Position just past the text, for "missing …" errors at its end.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn error_at(&self, at: usize, reason: &str) -> QueryError {
        error(at, reason)
    }

    /// The next token when it is this bare (unquoted) keyword.
    fn keyword(&self, words: &[&str]) -> bool {
        matches!(
            self.peek(),
            Some(Token { kind: Kind::Text { text, quoted: false, .. }, .. })
                if words.contains(&text.as_str())
        )
    }

    fn or(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        let mut alternatives = vec![self.and(field)?];
        while self.keyword(&["OR", "||"]) {
            self.next += 1;
            alternatives.push(self.and(field)?);
        }
        Ok(flatten(alternatives, Expr::Or))
    }

    fn and(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        let mut all = vec![self.unary(field)?];
        loop {
            if self.keyword(&["AND", "&&"]) {
                self.next += 1;
            } else if self.keyword(&["OR", "||"])
                || matches!(
                    self.peek(),
                    None | Some(Token {
                        kind: Kind::Close,
                        ..
                    })
                )
            {
                break;
            }
            all.push(self.unary(field)?);
        }
        Ok(flatten(all, Expr::And))
    }

    fn unary(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.error_at(self.end, "missing a term after an operator"));
        };
        match token.kind {
            Kind::Text {
                ref text,
                quoted: false,
                ..
            } if text == "NOT" || text == "!" || text == "-" => {
                self.next += 1;
                Ok(Expr::Not(Box::new(self.unary(field)?)))
            }
            Kind::Text {
                ref text,
                quoted,
                plain,
                wildcard,
            } if plain >= 1
                && text.len() > 1
                && (text.starts_with('-') || text.starts_with('+')) =>
            {
                // `-word` and `+word`: drop the sign, keep the rest as a token.
                self.tokens[self.next] = Token {
                    kind: Kind::Text {
                        text: text[1..].to_owned(),
                        quoted,
                        plain: plain - 1,
                        wildcard,
                    },
                    at: token.at + 1,
                };
                if text.starts_with('-') {
                    Ok(Expr::Not(Box::new(self.primary(field)?)))
                } else {
                    self.primary(field)
                }
            }
            _ => self.primary(field),
        }
    }

    fn primary(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.error_at(self.end, "missing a term"));
        };
        self.next += 1;
        match token.kind {
            Kind::Open => self.group(token.at, field),
            Kind::Close => Err(self.error_at(token.at, "unbalanced parenthesis")),
            Kind::Text {
                text,
                quoted,
                plain,
                wildcard,
            } => {
                if !quoted && ["AND", "OR", "&&", "||"].contains(&text.as_str()) {
                    return Err(self.error_at(token.at, &format!("{text} needs a term before it")));
                }
                if field.is_none() {
                    if let Some((name, value)) = split_field(&text, plain) {
                        let Some(named) = Field::named(name) else {
                            return Err(self.error_at(
                                token.at,
                                &format!(
                                    "unknown field {name:?} (write \\: to search for a colon)"
                                ),
                            ));
                        };
                        let name_len = name.chars().count() + 1;
                        let value_at = token.at + name_len;
                        let plain = plain.saturating_sub(name_len);
                        if value.is_empty() && !quoted {
                            return match self.peek() {
                                Some(Token {
                                    kind: Kind::Open,
                                    at,
                                }) => {
                                    let at = *at;
                                    self.next += 1;
                                    self.group(at, Some(&named))
                                }
                                _ => {
                                    Err(self.error_at(value_at, "missing a value after the colon"))
                                }
                            };
                        }
                        return self.value(&named, value, plain, wildcard, value_at);
                    }
                }
                let field = field.cloned().unwrap_or(Field::Text(TextField::Anywhere));
                self.value(&field, &text, plain, wildcard, token.at)
            }
        }
    }

    /// After `(`: the group up to its `)`.
    fn group(&mut self, open_at: usize, field: Option<&Field>) -> Result<Expr, QueryError> {
        if matches!(
            self.peek(),
            Some(Token {
                kind: Kind::Close,
                ..
            })
        ) {
            return Err(self.error_at(open_at, "empty parentheses"));
        }
        let inner = self.or(field)?;
        match self.peek() {
            Some(Token {
                kind: Kind::Close, ..
            }) => {
                self.next += 1;
                Ok(inner)
            }
            _ => Err(self.error_at(open_at, "unbalanced parenthesis")),
        }
    }

    /// `field:value` once the field is known; `text` is the value as
    /// written (it may be the start of a range, `[1`).
    fn value(
        &mut self,
        field: &Field,
        text: &str,
        plain: usize,
        wildcard: bool,
        at: usize,
    ) -> Result<Expr, QueryError> {
        if plain > 0 && (text.starts_with('[') || text.starts_with('{')) {
            return self.range(field, text, at).map(Expr::Term);
        }
        {
            for (op, from, to) in [
                (">=", true, false),
                ("<=", false, true),
                (">", true, false),
                ("<", false, true),
            ] {
                if let Some(rest) = text.strip_prefix(op).filter(|_| plain >= op.len()) {
                    let at_value = at + op.len();
                    if rest.is_empty() {
                        return Err(self.error_at(at_value, &format!("missing a value after {op}")));
                    }
                    let inclusive = op.len() == 2;
                    let bound = |v| {
                        if inclusive {
                            Bound::Included(v)
                        } else {
                            Bound::Excluded(v)
                        }
                    };
                    return match field {
                        Field::Size => {
                            let n = number(rest, at_value)?;
                            Ok(Expr::Term(Term::Size(Range {
                                from: if from { bound(n) } else { Bound::Unbounded },
                                to: if to { bound(n) } else { Bound::Unbounded },
                            })))
                        }
                        Field::CreatedAt => {
                            let (start, end) = instant(rest, at_value)?;
                            // `>day` is after the whole day; `<=day` up to its end.
                            let lower = if inclusive { start } else { end };
                            let upper = if inclusive { end } else { start };
                            Ok(Expr::Term(Term::CreatedAt(Range {
                                from: if from {
                                    if inclusive {
                                        Bound::Included(lower)
                                    } else {
                                        Bound::Excluded(lower)
                                    }
                                } else {
                                    Bound::Unbounded
                                },
                                to: if to {
                                    if inclusive {
                                        Bound::Included(upper)
                                    } else {
                                        Bound::Excluded(upper)
                                    }
                                } else {
                                    Bound::Unbounded
                                },
                            })))
                        }
                        _ => {
                            Err(self
                                .error_at(at, &format!("{op} works only on size and created_at")))
                        }
                    };
                }
            }
        }
        let term = match field {
            Field::Text(text_field) => words(text_field.clone(), text, plain, wildcard, at)?,
            Field::Method => {
                if text.is_empty() {
                    return Err(self.error_at(at, "missing a method"));
                }
                Term::Method(text.to_ascii_uppercase())
            }
            Field::Uuid => match Uuid::try_parse(text.trim()) {
                Ok(id) => Term::Uuid(id),
                Err(_) => return Err(self.error_at(at, "uuid: needs a request id (a UUID)")),
            },
            Field::TokenId => match Uuid::try_parse(text.trim()) {
                Ok(id) => Term::TokenId(id),
                Err(_) => return Err(self.error_at(at, "token_id: needs a token id (a UUID)")),
            },
            Field::Type => Term::Type(text.to_ascii_lowercase()),
            Field::Signature => match signature_term(text) {
                Some(term) => Term::Signature(term),
                None => {
                    return Err(self.error_at(
                        at,
                        "signature: takes valid, invalid, none or a provider \
                         (github, stripe, slack, shopify, standard, hmac)",
                    ))
                }
            },
            Field::Size => {
                let n = number(text, at)?;
                Term::Size(Range {
                    from: Bound::Included(n),
                    to: Bound::Included(n),
                })
            }
            Field::CreatedAt => {
                let (start, end) = instant(text, at)?;
                Term::CreatedAt(Range {
                    from: Bound::Included(start),
                    to: Bound::Included(end),
                })
            }
        };
        Ok(Expr::Term(term))
    }

    /// `[a TO b]`, `{a TO b}` and mixes; `text` is the first token (`[a`).
    fn range(&mut self, field: &Field, first: &str, at: usize) -> Result<Term, QueryError> {
        let inclusive_from = first.starts_with('[');
        let mut low = first[1..].to_owned();
        let low_at = at + 1;
        // `[a TO b]` is three tokens; `[a` may stand alone when `a` is empty.
        if low.is_empty() {
            low = self
                .range_part(at, "missing the lower bound of the range")?
                .0;
        }
        match self.peek() {
            Some(Token {
                kind:
                    Kind::Text {
                        text,
                        quoted: false,
                        ..
                    },
                ..
            }) if text == "TO" => self.next += 1,
            _ => return Err(self.error_at(at, "a range needs TO between its bounds: [a TO b]")),
        }
        let (mut high, high_at) = self.range_part(at, "missing the upper bound of the range")?;
        let inclusive_to = if let Some(rest) = high.strip_suffix(']') {
            high = rest.to_owned();
            true
        } else if let Some(rest) = high.strip_suffix('}') {
            high = rest.to_owned();
            false
        } else {
            match self.peek() {
                Some(Token {
                    kind:
                        Kind::Text {
                            text,
                            quoted: false,
                            ..
                        },
                    ..
                }) if text == "]" || text == "}" => {
                    let inclusive = text == "]";
                    self.next += 1;
                    inclusive
                }
                _ => return Err(self.error_at(at, "unclosed range: end it with ] or }")),
            }
        };
        if high.is_empty() {
            return Err(self.error_at(high_at, "missing the upper bound of the range"));
        }
        let bound = |inclusive: bool, v| {
            if inclusive {
                Bound::Included(v)
            } else {
                Bound::Excluded(v)
            }
        };
        match field {
            Field::Size => {
                let parse = |text: &str, at| -> Result<Bound<u64>, QueryError> {
                    Ok(if text == "*" {
                        Bound::Unbounded
                    } else {
                        Bound::Included(number(text, at)?)
                    })
                };
                let from = match parse(&low, low_at)? {
                    Bound::Included(n) => bound(inclusive_from, n),
                    other => other,
                };
                let to = match parse(&high, high_at)? {
                    Bound::Included(n) => bound(inclusive_to, n),
                    other => other,
                };
                Ok(Term::Size(Range { from, to }))
            }
            Field::CreatedAt => {
                let from = if low == "*" {
                    Bound::Unbounded
                } else {
                    let (start, end) = instant(&low, low_at)?;
                    // `{day TO …`: after the whole day.
                    if inclusive_from {
                        Bound::Included(start)
                    } else {
                        Bound::Excluded(end)
                    }
                };
                let to = if high == "*" {
                    Bound::Unbounded
                } else {
                    let (start, end) = instant(&high, high_at)?;
                    if inclusive_to {
                        Bound::Included(end)
                    } else {
                        Bound::Excluded(start)
                    }
                };
                Ok(Term::CreatedAt(Range { from, to }))
            }
            _ => Err(self.error_at(at, "ranges work only on size and created_at")),
        }
    }

    fn range_part(
        &mut self,
        range_at: usize,
        missing: &str,
    ) -> Result<(String, usize), QueryError> {
        match self.peek().cloned() {
            Some(Token {
                kind: Kind::Text { text, .. },
                at,
            }) => {
                self.next += 1;
                Ok((text, at))
            }
            _ => Err(self.error_at(range_at, missing)),
        }
    }
}

/// `a` for one, `wrap([a, b])` for more.
fn flatten(mut items: Vec<Expr>, wrap: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        wrap(items)
    }
}

/// `name:value` → `(name, value)` when the text before the first colon
/// looks like a field name; `12:30` and `https://…` stay plain text.
fn split_field(text: &str, plain: usize) -> Option<(&str, &str)> {
    let (name, value) = text.split_once(':')?;
    if name.chars().count() >= plain {
        return None;
    }
    let quoted = value.chars().count() + name.chars().count() + 1 > plain;
    let looks_like_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !looks_like_name || (value.starts_with("//") && !quoted) {
        return None;
    }
    Some((name, value))
}

/// The words of a text field's value; a `*` may end the last one.
fn words(
    field: TextField,
    text: &str,
    plain: usize,
    wildcard: bool,
    at: usize,
) -> Result<Term, QueryError> {
    let quoted = plain < text.chars().count();
    let named = matches!(
        field,
        TextField::Header(_)
            | TextField::QueryParam(_)
            | TextField::FormField(_)
            | TextField::File(_)
    );
    if !quoted && wildcard && text == "*" {
        return Ok(if named {
            Term::Words(Words {
                field,
                words: Vec::new(),
                prefix: true,
            })
        } else {
            Term::Everything
        });
    }
    let prefix = wildcard;
    let body = if prefix {
        text.strip_suffix('*').unwrap_or(text)
    } else {
        text
    };
    // A `*` written plainly anywhere but at the end; quoted or escaped
    // ones are punctuation.
    if let Some(star) = body.chars().take(plain).position(|c| c == '*') {
        {
            let at = at + star;
            return Err(error(
                at,
                "a * wildcard works only at the end of a word (pay*)",
            ));
        }
    }
    let words = words_of(body);
    if words.is_empty() {
        return Err(error(
            at,
            format!("{text:?} has no letter or digit to search for"),
        ));
    }
    if prefix && !body.ends_with(|c: char| c.is_alphanumeric()) {
        return Err(error(
            at,
            "a * wildcard works only at the end of a word (pay*)",
        ));
    }
    Ok(Term::Words(Words {
        field,
        words,
        prefix,
    }))
}

fn number(text: &str, at: usize) -> Result<u64, QueryError> {
    text.trim().parse().map_err(|_| {
        error(
            at,
            format!("size needs a whole number of bytes, not {text:?}"),
        )
    })
}

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A date value as the first and last microsecond it stands for: a day is
/// the whole day, a time its whole second, `now…` one instant.
fn instant(text: &str, at: usize) -> Result<(Instant, Instant), QueryError> {
    let bad = || {
        error(
            at,
            format!(
                "created_at needs a date like 2026-11-01, 2026-11-01T10:00:00, now or now-1d, not {text:?}"
            ),
        )
    };
    let text = text.trim();
    if let Some(math) = text.strip_prefix("now") {
        let offset = if math.is_empty() {
            0
        } else {
            let (sign, rest) = if let Some(rest) = math.strip_prefix('-') {
                (-1, rest)
            } else if let Some(rest) = math.strip_prefix('+') {
                (1, rest)
            } else {
                return Err(bad());
            };
            let unit_at = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let (count, unit) = rest.split_at(unit_at);
            let count: i64 = count.parse().map_err(|_| bad())?;
            let seconds = match unit {
                "s" => 1,
                "m" => 60,
                "h" | "H" => 3_600,
                "d" => 86_400,
                "w" => 7 * 86_400,
                _ => return Err(bad()),
            };
            sign * count.saturating_mul(seconds * MICROS_PER_SECOND)
        };
        let at = Instant::FromNow(offset);
        return Ok((at, at));
    }
    let full = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let spaced = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let day = format_description!("[year]-[month]-[day]");
    let (start, span) = if let Ok(at) =
        PrimitiveDateTime::parse(text, full).or_else(|_| PrimitiveDateTime::parse(text, spaced))
    {
        (at, MICROS_PER_SECOND)
    } else if let Ok(date) = Date::parse(text, day) {
        (date.midnight(), 86_400 * MICROS_PER_SECOND)
    } else {
        return Err(bad());
    };
    let micros = start.assume_utc().unix_timestamp() * MICROS_PER_SECOND;
    Ok((Instant::At(micros), Instant::At(micros + span - 1)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn parse(text: &str) -> Expr {
        Query::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .root
            .expect("not blank")
    }

    fn word(w: &str) -> Expr {
        Expr::Term(Term::Words(Words {
            field: TextField::Anywhere,
            words: vec![w.into()],
            prefix: false,
        }))
    }

    fn failure(text: &str) -> String {
        Query::parse(text).expect_err(text).to_string()
    }

    #[test]
    fn blank_text_is_the_empty_query() {
        assert!(Query::parse("").expect("blank").is_empty());
        assert!(Query::parse("   ").expect("blank").is_empty());
    }

    #[test]
    fn side_by_side_is_and_and_binds_tighter_than_or() {
        assert_eq!(
            parse("a b OR c"),
            Expr::Or(vec![Expr::And(vec![word("a"), word("b")]), word("c")])
        );
        assert_eq!(parse("a AND b"), Expr::And(vec![word("a"), word("b")]));
        assert_eq!(
            parse("a && (b || c)"),
            Expr::And(vec![word("a"), Expr::Or(vec![word("b"), word("c")])])
        );
        // Lower-case operators are words.
        assert_eq!(
            parse("a or b"),
            Expr::And(vec![word("a"), word("or"), word("b")])
        );
    }

    #[test]
    fn not_minus_and_bang_negate_one_term() {
        let not_b = Expr::Not(Box::new(word("b")));
        assert_eq!(parse("a NOT b"), Expr::And(vec![word("a"), not_b.clone()]));
        assert_eq!(parse("a -b"), Expr::And(vec![word("a"), not_b.clone()]));
        assert_eq!(parse("a ! b"), Expr::And(vec![word("a"), not_b.clone()]));
        assert_eq!(parse("+a -b"), Expr::And(vec![word("a"), not_b]));
        assert_eq!(
            parse("NOT (a OR b)"),
            Expr::Not(Box::new(Expr::Or(vec![word("a"), word("b")])))
        );
    }

    #[test]
    fn fields_phrases_and_wildcards() {
        assert_eq!(
            parse(r#"headers.Content-Type:"application/json""#),
            Expr::Term(Term::Words(Words {
                field: TextField::Header("content-type".into()),
                words: vec!["application".into(), "json".into()],
                prefix: false,
            }))
        );
        assert_eq!(
            parse("header.x-event:pu*"),
            Expr::Term(Term::Words(Words {
                field: TextField::Header("x-event".into()),
                words: vec!["pu".into()],
                prefix: true,
            }))
        );
        assert_eq!(
            parse("query.page:*"),
            Expr::Term(Term::Words(Words {
                field: TextField::QueryParam("page".into()),
                words: vec![],
                prefix: true,
            }))
        );
        assert_eq!(parse("*"), Expr::Term(Term::Everything));
        assert_eq!(
            parse("signature:VALID"),
            Expr::Term(Term::Signature(SignatureTerm::Valid))
        );
        assert_eq!(
            parse("signature:none"),
            Expr::Term(Term::Signature(SignatureTerm::Unchecked))
        );
        assert_eq!(
            parse("signature:Stripe"),
            Expr::Term(Term::Signature(SignatureTerm::Provider(Provider::Stripe)))
        );
        assert_eq!(
            parse("method:post"),
            Expr::Term(Term::Method("POST".into()))
        );
        assert_eq!(
            parse("user_agent:curl hostname:example"),
            Expr::And(vec![
                Expr::Term(Term::Words(Words {
                    field: TextField::Header("user-agent".into()),
                    words: vec!["curl".into()],
                    prefix: false,
                })),
                Expr::Term(Term::Words(Words {
                    field: TextField::Header("host".into()),
                    words: vec!["example".into()],
                    prefix: false,
                })),
            ])
        );
        assert_eq!(
            parse("method:(GET OR PUT)"),
            Expr::Or(vec![
                Expr::Term(Term::Method("GET".into())),
                Expr::Term(Term::Method("PUT".into())),
            ])
        );
        // Not fields: times, URLs, escaped colons.
        assert_eq!(
            parse("12:30"),
            Expr::Term(Term::Words(Words {
                field: TextField::Anywhere,
                words: vec!["12".into(), "30".into()],
                prefix: false,
            }))
        );
        assert!(matches!(
            parse("https://example.com"),
            Expr::Term(Term::Words(_))
        ));
        assert!(matches!(parse(r"foo\:bar"), Expr::Term(Term::Words(_))));
    }

    #[test]
    fn ranges_and_comparisons() {
        assert_eq!(
            parse("size:[100 TO 2000]"),
            Expr::Term(Term::Size(Range {
                from: Bound::Included(100),
                to: Bound::Included(2000)
            }))
        );
        assert_eq!(
            parse("size:{100 TO *]"),
            Expr::Term(Term::Size(Range {
                from: Bound::Excluded(100),
                to: Bound::Unbounded
            }))
        );
        assert_eq!(
            parse("size:>1000"),
            Expr::Term(Term::Size(Range {
                from: Bound::Excluded(1000),
                to: Bound::Unbounded
            }))
        );
        assert_eq!(
            parse("size:<=5"),
            Expr::Term(Term::Size(Range {
                from: Bound::Unbounded,
                to: Bound::Included(5)
            }))
        );
        let day = 1_793_491_200 * MICROS_PER_SECOND; // 2026-11-01
        assert_eq!(
            parse("created_at:[2026-11-01 TO now-1d]"),
            Expr::Term(Term::CreatedAt(Range {
                from: Bound::Included(Instant::At(day)),
                to: Bound::Included(Instant::FromNow(-86_400 * MICROS_PER_SECOND)),
            }))
        );
        assert_eq!(
            parse("created_at:2026-11-01"),
            Expr::Term(Term::CreatedAt(Range {
                from: Bound::Included(Instant::At(day)),
                to: Bound::Included(Instant::At(day + 86_400 * MICROS_PER_SECOND - 1)),
            }))
        );
        assert_eq!(
            parse("created_at:>now-2h"),
            Expr::Term(Term::CreatedAt(Range {
                from: Bound::Excluded(Instant::FromNow(-7_200 * MICROS_PER_SECOND)),
                to: Bound::Unbounded,
            }))
        );
    }

    /// Pieces of queries, well- and ill-formed, for property tests.
    pub const QUERY_PIECES: &[&str] = &[
        "size:",
        "created_at:",
        "method:",
        "headers.x-a:",
        "query.q:",
        "uuid:",
        "token_id:",
        "signature:",
        "valid",
        "github",
        "{",
        "]",
        "}",
        " TO ",
        "*",
        "now-1d",
        "now",
        "2026-11-01",
        "\"",
        "(",
        ")",
        " ",
        "-",
        "NOT ",
        " AND ",
        " OR ",
        "!",
        "+",
        ">",
        ">=",
        "<",
        "\\",
        "a",
        "pay*",
        "é",
        "7",
        ":",
        "nowé",
        "ip:",
        "type:web",
        "path:/a/b",
    ];

    proptest::proptest! {
        /// Whatever is typed, parsing answers (a tree or a reason) and
        /// never panics; a reason points inside the text or just past it.
        #[test]
        fn any_query_like_text_parses_or_says_where(parts in proptest::collection::vec(
            proptest::sample::select(QUERY_PIECES), 0..12,
        )) {
            let text = parts.concat();
            if let Err(e) = Query::parse(&text) {
                proptest::prop_assert!(e.at >= 1 && e.at <= text.chars().count() + 1, "{e}");
            }
        }

        #[test]
        fn any_text_parses_or_says_where(text in "[a-zA-Z0-9 :()\\[\\]{}\"*<>=.!+\\-\\\\é_]{0,24}") {
            if let Err(e) = Query::parse(&text) {
                proptest::prop_assert!(e.at >= 1 && e.at <= text.chars().count() + 1, "{e}");
            }
        }
    }

    #[test]
    fn malformed_queries_say_what_and_where() {
        assert_eq!(
            failure("method:POST AND (a OR b"),
            "query: unbalanced parenthesis at character 17"
        );
        assert_eq!(
            failure("a b)"),
            "query: unbalanced parenthesis at character 4"
        );
        assert_eq!(failure("\"open"), "query: unclosed quote at character 1");
        assert_eq!(
            failure("a AND"),
            "query: missing a term after an operator at character 6"
        );
        assert_eq!(
            failure("OR a"),
            "query: OR needs a term before it at character 1"
        );
        assert!(failure("size:[1 TO 5").contains("unclosed range"));
        assert!(failure("size:[1 5]").contains("needs TO"));
        assert!(failure("size:big").contains("whole number"));
        assert!(failure("created_at:yesterday").contains("created_at needs a date"));
        assert!(failure("created_at:nowé1d").contains("created_at needs a date"));
        assert!(failure("method:>3").contains("only on size and created_at"));
        assert!(failure("foo:bar").contains("unknown field \"foo\""));
        assert!(failure("p*y").contains("only at the end of a word"));
        assert!(failure("*pay").contains("only at the end of a word"));
        assert!(failure("!!!").contains("no letter or digit"));
        assert!(failure("uuid:nope").contains("UUID"));
        assert!(failure("()").contains("empty parentheses"));
        assert!(failure("method:").contains("missing a value"));
    }
}
