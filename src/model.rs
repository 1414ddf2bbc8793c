//! The product's nouns — [`Bin`] and [`CapturedRequest`] — and the JSON
//! shape of a request shared by the API and the live feed.

use std::fmt;

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::multipart;
use crate::signature::{self, Verdict, Verifier};

/// Microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self(i64::try_from(nanos / 1_000).unwrap_or(i64::MAX))
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC, as webhook.site formats its times.
    pub fn to_sql_datetime(self) -> String {
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        self.to_datetime()
            .format(&format)
            .unwrap_or_else(|_| String::from("1970-01-01 00:00:00"))
    }

    /// RFC 3339 with milliseconds, for `<time datetime>` and humans.
    pub fn to_rfc3339(self) -> String {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        self.to_datetime()
            .format(&format)
            .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000Z"))
    }
}

/// One capture URL. Identified by a random UUID v4 (webhook.site's "token").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    pub id: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub settings: BinSettings,
    /// Who created the bin (webhook.site's `ip` and `user_agent`).
    pub creator_ip: Option<String>,
    pub creator_user_agent: Option<String>,
}

impl Bin {
    pub fn new() -> Self {
        Self::with_settings(BinSettings::default())
    }

    pub fn with_settings(settings: BinSettings) -> Self {
        let now = Timestamp::now();
        Self {
            id: Uuid::new_v4(),
            created_at: now,
            updated_at: now,
            settings,
            creator_ip: None,
            creator_user_agent: None,
        }
    }

    /// When the bin expires, if it has an expiry.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.settings.expiry.map(|secs| {
            Timestamp(
                self.created_at
                    .0
                    .saturating_add(i64::from(secs).saturating_mul(1_000_000)),
            )
        })
    }

    /// Whether the bin has outlived its expiry at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
}

impl Default for Bin {
    fn default() -> Self {
        Self::new()
    }
}

/// What a bin answers and how much it keeps. Every capture answers with
/// these; a change takes effect for the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinSettings {
    /// A second capture URL, `/{alias}`, besides `/{bin}` (and the bin's
    /// name on the dashboard); see [`alias_problem`] for what it may be.
    /// One stored before aliases were URLs may break those rules: it stays
    /// a name only.
    pub alias: Option<String>,
    pub description: Option<String>,
    /// Status of the answer, 100–599.
    pub default_status: u16,
    /// Body of the answer.
    pub default_content: String,
    pub default_content_type: String,
    /// Extra answer headers, in order.
    pub response_headers: Vec<(String, String)>,
    /// Seconds to wait (after the request is stored) before answering;
    /// capped by the server's `max_response_delay_secs`.
    pub timeout: u32,
    /// Seconds a capture waits for the local app's answer, relayed by a
    /// forwarder (webhook.site's `listen`); 0: the server's default.
    pub answer_wait_secs: u32,
    /// Answer CORS preflights and add `Access-Control-Allow-*` headers.
    pub cors: bool,
    /// Most requests kept; the oldest are pruned. `None`: the server's cap.
    pub request_limit: Option<u32>,
    /// Seconds after creation when the bin is deleted. `None`: never.
    pub expiry: Option<u32>,
    /// The argon2 PHC string of the password that guards the bin's
    /// dashboard, live feed and API. `None`: no password.
    pub password_hash: Option<String>,
    /// Signature checks run on every capture (see [`signature::verify`]);
    /// their secrets never leave the server.
    pub verifiers: Vec<Verifier>,
}

impl Default for BinSettings {
    fn default() -> Self {
        Self {
            alias: None,
            description: None,
            default_status: 200,
            default_content: String::from("OK\n"),
            default_content_type: String::from("text/plain; charset=utf-8"),
            response_headers: Vec::new(),
            timeout: 0,
            answer_wait_secs: 0,
            cors: false,
            request_limit: None,
            expiry: None,
            password_hash: None,
            verifiers: Vec::new(),
        }
    }
}

/// Longest alias. webhook.site allows 3–32 of `[A-Za-z-]`; ours is a
/// superset, so every alias made there works here.
pub const MAX_ALIAS_LEN: usize = 64;

/// First path segments an alias may not take: every top-level route (a
/// test in `app` checks the router against this list) and a few names
/// browsers and crawlers ask for on their own. The one list of them.
pub const RESERVED_ALIASES: &[&str] = &[
    "api",
    "favicon.ico",
    "healthz",
    "live",
    "login",
    "metrics",
    "new",
    "robots.txt",
    "socket.io",
    "static",
    "token",
    "unlock",
    "view",
];

/// Why `alias` cannot be a capture URL, or `None` when it can: 1 to
/// [`MAX_ALIAS_LEN`] of `A-Z a-z 0-9 . _ -`, not starting with `.`, not a
/// UUID (those name bins), not a [reserved](RESERVED_ALIASES) first
/// segment. Aliases are unique ignoring ASCII case, and found that way.
pub fn alias_problem(alias: &str) -> Option<String> {
    if alias.is_empty() || alias.len() > MAX_ALIAS_LEN {
        return Some(format!("must be 1 to {MAX_ALIAS_LEN} characters long"));
    }
    if let Some(c) = alias
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "may hold only letters, digits, '.', '_' and '-' (it becomes a URL), not {c:?}"
        ));
    }
    if alias.starts_with('.') {
        return Some("may not start with '.'".into());
    }
    if Uuid::try_parse(alias).is_ok() {
        return Some("may not be a UUID (those are bin ids)".into());
    }
    if RESERVED_ALIASES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(alias))
    {
        return Some(format!("{alias:?} is taken by hookscope's own pages"));
    }
    None
}

/// One header field exactly as received: name in its original case, value
/// as bytes (HTTP allows obs-text that is not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The value for display: UTF-8 with invalid bytes replaced.
    pub fn value_lossy(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }

    /// Name and value pairs for display, in order.
    pub fn pairs_lossy(headers: &[Header]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| (h.name.clone(), h.value_lossy()))
            .collect()
    }
}

/// One captured HTTP request, stored exactly as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    /// UUID v7: time-ordered, so ids sort in arrival order.
    pub id: Uuid,
    pub bin: Uuid,
    pub received_at: Timestamp,
    /// The method as sent, extension methods included (`PROPFIND`, `TOKEN`).
    pub method: String,
    /// The full path as received, `/{bin}` prefix included, still
    /// percent-encoded.
    pub path: String,
    /// The raw query string without `?`; `None` when the URL had no `?`.
    pub query: Option<String>,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Remote socket address of the sender, `ip:port`.
    pub remote_addr: String,
    /// Header fields in arrival order, duplicates kept.
    pub headers: Vec<Header>,
    pub body: Bytes,
    /// What the bin's verifiers made of it when it was checked (on
    /// capture, or again on demand); `None` when the bin had none.
    pub signature: Option<Verdict>,
}

impl CapturedRequest {
    /// Checks this request, as stored, against `verifiers`.
    pub fn verify(&self, verifiers: &[Verifier]) -> Option<Verdict> {
        if verifiers.is_empty() {
            return None;
        }
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_slice()))
            .collect();
        signature::verify(
            verifiers,
            signature::Message {
                headers: &headers,
                body: &self.body,
                received_at_secs: self.received_at.as_micros().div_euclid(1_000_000),
            },
        )
    }

    pub fn size(&self) -> usize {
        self.body.len()
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    pub fn header_str(&self, name: &str) -> Option<String> {
        self.header(name).map(Header::value_lossy)
    }

    /// The sender's IP address without the port.
    pub fn ip(&self) -> &str {
        client_ip(&self.remote_addr)
    }

    /// The path below the bin: `/{bin}/a/b` → `/a/b`, `/{bin}` → ``.
    pub fn sub_path(&self) -> &str {
        sub_path_of(&self.path)
    }

    /// Scheme and host this request was sent to: the configured public
    /// base URL, else `http://` and its Host header.
    pub fn base_url(&self, public_base: Option<&str>) -> String {
        base_url(public_base, self.header("host").map(|h| h.value.as_slice()))
    }

    /// Path and query as on the request line.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// Query parameters decoded, in order, repeated keys kept.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The body as text when it is valid UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The form this request's body carries: the fields of a urlencoded
    /// body, or the text fields and file parts of a multipart one (nothing
    /// for other bodies, or ones over [`multipart::PARSE_LIMIT`]).
    pub fn form(&self) -> Form {
        let content_type = self.header_str("content-type").unwrap_or_default();
        let mut form = Form::default();
        if self.body.len() > multipart::PARSE_LIMIT {
            return form;
        }
        match multipart::essence(&content_type).as_str() {
            "application/x-www-form-urlencoded" => {
                form.fields = form_urlencoded::parse(&self.body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            }
            "multipart/form-data" => {
                for (i, part) in multipart::parts(&self.body, &content_type)
                    .into_iter()
                    .enumerate()
                {
                    if part.is_text() {
                        let value = String::from_utf8_lossy(&part.bytes).into_owned();
                        form.fields.push((part.name, value));
                    } else {
                        let number = i + 1;
                        form.files.push(FilePart {
                            id: multipart::file_id(self.id, number),
                            number,
                            part,
                        });
                    }
                }
            }
            _ => {}
        }
        form
    }

    /// The file part whose id (see [`multipart::file_id`]) is `id`.
    pub fn file(&self, id: Uuid) -> Option<FilePart> {
        self.form().files.into_iter().find(|file| file.id == id)
    }
}

/// The form in a request's body, in order, repeated names kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// Field names and values: a urlencoded body's pairs, or a multipart
    /// body's text parts (decoded as UTF-8).
    pub fields: Vec<(String, String)>,
    /// A multipart body's file parts (see [`multipart::Part::is_text`]).
    pub files: Vec<FilePart>,
}

/// One file part of a multipart body, with the id the API names it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    pub id: Uuid,
    /// Position of the part in the body, from 1 (the dashboard's
    /// `/part/{n}`).
    pub number: usize,
    pub part: multipart::Part,
}

/// One entry of the request object's `files`: webhook.site's `id`,
/// `filename`, `size` and `content_type`, plus the form field `name` (the
/// object's key, repeated so a list of same-named files still says it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileJson {
    pub id: Uuid,
    pub name: String,
    /// `null` for a part sent without a file name (a field whose bytes are
    /// not text).
    pub filename: Option<String>,
    /// Bytes in the part's body.
    pub size: usize,
    /// The part's own `Content-Type`; `null` when it sent none.
    pub content_type: Option<String>,
}

impl FileJson {
    pub fn new(file: &FilePart) -> Self {
        Self {
            id: file.id,
            name: file.part.name.clone(),
            filename: file.part.file_name.clone(),
            size: file.part.bytes.len(),
            content_type: file.part.content_type.clone(),
        }
    }
}

/// What a capture awaiting a relayed answer answered its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentResponse {
    /// The local app's answer relayed by a forwarder (else the bin's
    /// default, because none came in time).
    pub from_app: bool,
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Bytes,
}

/// [`SentResponse`] in a request object: `content` as in the request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SentResponseJson {
    pub from: &'static str,
    pub status: u16,
    /// `[name, value]` pairs in order.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    pub content: String,
    pub content_encoding: ContentEncoding,
}

impl SentResponseJson {
    pub fn new(sent: &SentResponse) -> Self {
        let (content, content_encoding) = body_content(&sent.body);
        Self {
            from: if sent.from_app { "app" } else { "default" },
            status: sent.status,
            headers: Header::pairs_lossy(&sent.headers),
            content,
            content_encoding,
        }
    }
}

/// A body as JSON text: itself when UTF-8, else base64.
pub fn body_content(body: &[u8]) -> (String, ContentEncoding) {
    match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), ContentEncoding::Utf8),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(body),
            ContentEncoding::Base64,
        ),
    }
}

/// The part of a capture path below the bin: `/{bin}/a/b` → `/a/b`,
/// `/{bin}` → ``.
pub fn sub_path_of(path: &str) -> &str {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "",
    }
}

/// A remote address (`ip:port`, `[v6]:port`) without its port.
pub fn client_ip(remote_addr: &str) -> &str {
    match remote_addr.rsplit_once(':') {
        Some((ip, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            ip.trim_start_matches('[').trim_end_matches(']')
        }
        _ => remote_addr,
    }
}

/// One line of a bin's request list as the dashboard shows it. The server
/// renders its list from these and the live feed sends one with each new
/// request, so a row added live reads exactly as it will after a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListRow {
    /// The method as a CSS class (`m-post`); odd methods get `m-other`.
    pub method_class: &'static str,
    /// Path below the bin (`/` for the bin itself) and the raw query.
    pub target: String,
    /// Received time, UTC, as `YYYY-MM-DD HH:MM:SS`.
    pub received: String,
    /// Received time as RFC 3339, for `<time datetime>`.
    pub received_iso: String,
    /// Body size for people (`17 B`, `2.5 KiB`).
    pub size: String,
    /// A badge for the body's type, when it has a `Content-Type`.
    pub kind: Option<TypeBadge>,
    pub ip: String,
    /// The signature check's verdict, shown as a badge.
    pub signature: Option<SignatureJson>,
}

/// A short name for a body's type (`json`, `form`…) and the full
/// `Content-Type` it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeBadge {
    pub name: String,
    pub content_type: String,
}

impl ListRow {
    /// The row of a request, from the parts a list reads (a list does not
    /// load bodies or headers, only the size and the content type).
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per column a list reads; a struct would only repeat RequestSummary"
    )]
    pub fn new(
        method: &str,
        path: &str,
        query: Option<&str>,
        received_at: Timestamp,
        size: usize,
        content_type: Option<&str>,
        remote_addr: &str,
        signature: Option<&Verdict>,
    ) -> Self {
        let path = match sub_path_of(path) {
            "" => "/",
            sub => sub,
        };
        Self {
            method_class: method_class(method),
            target: match query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            },
            received: received_at.to_sql_datetime(),
            received_iso: received_at.to_rfc3339(),
            size: human_size(size),
            kind: content_type.map(|t| TypeBadge {
                name: type_name(t),
                content_type: t.to_owned(),
            }),
            ip: client_ip(remote_addr).to_owned(),
            signature: signature.map(SignatureJson::new),
        }
    }

    pub fn of(req: &CapturedRequest) -> Self {
        Self::new(
            &req.method,
            &req.path,
            req.query.as_deref(),
            req.received_at,
            req.size(),
            req.header_str("content-type").as_deref(),
            &req.remote_addr,
            req.signature.as_ref(),
        )
    }
}

/// The colour class of a method: the common ones have their own.
pub fn method_class(method: &str) -> &'static str {
    match method.to_ascii_uppercase().as_str() {
        "GET" => "m-get",
        "POST" => "m-post",
        "PUT" => "m-put",
        "PATCH" => "m-patch",
        "DELETE" => "m-delete",
        "HEAD" => "m-head",
        "OPTIONS" => "m-options",
        _ => "m-other",
    }
}

/// A badge-sized name for a `Content-Type`: `json`, `form`, `xml`…
fn type_name(content_type: &str) -> String {
    let mime = multipart::essence(content_type);
    let kind = match mime.as_str() {
        "application/x-www-form-urlencoded" => "form",
        "multipart/form-data" => "multipart",
        "application/octet-stream" => "binary",
        m if m.ends_with("json") => "json",
        m if m.ends_with("xml") => "xml",
        m => m.rsplit('/').next().unwrap_or(m),
    };
    kind.trim_start_matches("x-").chars().take(16).collect()
}

/// A byte count for people: `512 B`, `2.5 KiB`, `1.0 MiB`.
pub fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// Groups pairs into a JSON object; a key seen more than once maps to an
/// array of its values in order (webhook.site's `query` shape).
pub fn pairs_to_object(pairs: impl IntoIterator<Item = (String, String)>) -> Map<String, Value> {
    group_by_key(pairs.into_iter().map(|(k, v)| (k, Value::String(v))))
}

/// Groups values by key into a JSON object: a key seen once maps to its
/// value, a key seen more than once to an array of its values in order.
/// Values must not themselves be arrays (strings and objects here).
fn group_by_key(pairs: impl IntoIterator<Item = (String, Value)>) -> Map<String, Value> {
    let mut object = Map::new();
    for (key, value) in pairs {
        match object.get_mut(&key) {
            None => {
                object.insert(key, value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    object
}

/// How `content` carries the body in [`RequestJson`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentEncoding {
    /// The body is valid UTF-8 and `content` is that text.
    Utf8,
    /// The body is not UTF-8 and `content` is its standard base64.
    Base64,
}

/// The JSON object for one request: webhook.site's request fields, plus
/// hookscope's exact-bytes extras (`raw_headers`, `query_string`, `path`,
/// `http_version`, `content_encoding`). The API and the live feed both send
/// this shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestJson {
    pub uuid: Uuid,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub token_id: Uuid,
    pub ip: String,
    pub hostname: Option<String>,
    pub method: String,
    pub user_agent: Option<String>,
    pub content: String,
    pub content_encoding: ContentEncoding,
    #[schema(value_type = Object)]
    pub query: Map<String, Value>,
    /// Form fields (webhook.site's `request`): a urlencoded body's pairs or
    /// a multipart body's text parts, keyed by name; a repeated name maps
    /// to an array of its values in order, as in `query`.
    #[schema(value_type = Object)]
    pub request: Map<String, Value>,
    /// Lower-cased name → its values in order.
    #[schema(value_type = Object)]
    pub headers: Map<String, Value>,
    /// `[name, value]` pairs as received, in order.
    #[schema(value_type = Vec<Vec<String>>)]
    pub raw_headers: Vec<(String, String)>,
    /// Only when some header value is not UTF-8 (so `raw_headers` had to
    /// replace bytes): every header again, in order, values in standard
    /// base64, so a client can rebuild them exactly (`hookscope forward`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Vec<String>>>)]
    pub raw_headers_base64: Option<Vec<(String, String)>>,
    pub url: String,
    pub path: String,
    pub query_string: Option<String>,
    pub http_version: String,
    pub size: usize,
    /// File parts of a multipart body, keyed by form field name, each a
    /// [`FileJson`]; a repeated name maps to an array of them in order.
    #[schema(value_type = Object)]
    pub files: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
    pub sorting: i64,
    /// For a capture awaiting a relayed answer (API only): what its sender was answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<SentResponseJson>,
    /// The bin's signature check; `null` when the bin has no verifier.
    pub signature: Option<SignatureJson>,
}

/// A [`Verdict`] in a request object and a list row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SignatureJson {
    /// `github`, `stripe`, `slack`, `shopify`, `standard` or `hmac`.
    pub provider: &'static str,
    pub valid: bool,
    /// One line: why it failed, or which signature matched.
    pub reason: String,
}

impl SignatureJson {
    pub fn new(verdict: &Verdict) -> Self {
        Self {
            provider: verdict.provider.name(),
            valid: verdict.valid,
            reason: verdict.reason.clone(),
        }
    }
}

impl RequestJson {
    /// `base_url` is the scheme and host the request was sent to (e.g.
    /// `https://hooks.example.com`); `url` is that plus path and query.
    pub fn new(req: &CapturedRequest, base_url: &str) -> Self {
        let (content, content_encoding) = body_content(&req.body);
        let mut headers = Map::new();
        for h in &req.headers {
            let values = headers
                .entry(h.name.to_ascii_lowercase())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = values {
                values.push(Value::String(h.value_lossy()));
            }
        }
        let created = req.received_at.to_sql_datetime();
        let form = req.form();
        let files = form.files.iter().map(|file| {
            let entry =
                serde_json::to_value(FileJson::new(file)).expect("a file entry is plain JSON");
            (file.part.name.clone(), entry)
        });
        Self {
            uuid: req.id,
            kind: "web",
            token_id: req.bin,
            ip: req.ip().to_owned(),
            hostname: req.header_str("host"),
            method: req.method.clone(),
            user_agent: req.header_str("user-agent"),
            content,
            content_encoding,
            query: pairs_to_object(req.query_pairs()),
            request: pairs_to_object(form.fields),
            headers,
            raw_headers: Header::pairs_lossy(&req.headers),
            raw_headers_base64: req
                .headers
                .iter()
                .any(|h| std::str::from_utf8(&h.value).is_err())
                .then(|| {
                    req.headers
                        .iter()
                        .map(|h| {
                            let value = base64::engine::general_purpose::STANDARD.encode(&h.value);
                            (h.name.clone(), value)
                        })
                        .collect()
                }),
            url: format!("{base_url}{}", req.path_and_query()),
            path: req.path.clone(),
            query_string: req.query.clone(),
            http_version: req.version.clone(),
            size: req.size(),
            files: group_by_key(files),
            updated_at: created.clone(),
            created_at: created,
            sorting: req.received_at.as_micros(),
            response: None,
            signature: req.signature.as_ref().map(SignatureJson::new),
        }
    }
}

impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.id.fmt(f)
    }
}

/// Scheme and host a request was sent to, for URLs shown to users: the
/// configured public base URL, else `http://` and its Host header.
pub fn base_url(public_base: Option<&str>, host: Option<&[u8]>) -> String {
    match (public_base, host) {
        (Some(base), _) => base.to_owned(),
        (None, Some(host)) => format!("http://{}", String::from_utf8_lossy(host)),
        (None, None) => String::from("http://localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_row_shows_the_path_below_the_bin_and_sizes_for_people() {
        let bin = Uuid::new_v4();
        let row = ListRow::new(
            "patch",
            &format!("/{bin}/a/b"),
            Some("x=1"),
            Timestamp(1_700_000_000_000_000),
            1536,
            Some("application/vnd.api+json; charset=utf-8"),
            "[::1]:8080",
            None,
        );
        assert_eq!(row.method_class, "m-patch");
        assert_eq!(row.target, "/a/b?x=1");
        assert_eq!(row.size, "1.5 KiB");
        assert_eq!(row.ip, "::1");
        assert_eq!(
            row.kind,
            Some(TypeBadge {
                name: "json".into(),
                content_type: "application/vnd.api+json; charset=utf-8".into(),
            })
        );
        let bare = ListRow::new(
            "BREW",
            &format!("/{bin}"),
            None,
            Timestamp(0),
            0,
            None,
            "",
            None,
        );
        assert_eq!(
            (bare.method_class, bare.target.as_str(), bare.size.as_str()),
            ("m-other", "/", "0 B")
        );
        assert_eq!(bare.kind, None);
        assert_eq!(human_size(3 * 1024 * 1024 * 1024 * 1024), "3072.0 GiB");
        assert_eq!(client_ip("10.0.0.1:80"), "10.0.0.1");
    }
}
