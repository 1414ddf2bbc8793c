//! The OpenAPI 3.1 description of the JSON API, generated from the
//! handlers' `#[utoipa::path]` annotations and the types' `ToSchema`
//! derives so it cannot drift from the code: `GET /api/openapi.json`, and
//! `GET /api/docs`, the same document as a server-rendered page (the CSP
//! allows no inline script and the network no CDN, so no JavaScript viewer).
//!
//! Routes whose handlers live outside `api` (listen mode's answer, the
//! captures, the live feed, health and metrics) are described by the
//! annotated stubs in `stubs`, so this module is the one place that
//! gathers the whole description.

use std::sync::LazyLock;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi, ToSchema};

use super::{diff, export, requests, resend, tokens, verify, wait};
use crate::error::{is_api_path, API_ROOT};

/// The error shape of every API refusal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// The status in words, `snake_case` (e.g. `not_found`).
    pub error: String,
    /// One line saying why.
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookscope",
        description = "The JSON API of hookscope, a self-hosted request inspector. \
            It follows webhook.site's public token API (same paths, field names and shapes), \
            so its clients work by changing the base URL. A *token* is a bin: its capture URL \
            is `/{bin}` (or its alias)."
    ),
    paths(
        tokens::create,
        tokens::read,
        tokens::update,
        tokens::delete,
        tokens::toggle_cors,
        verify::verify_again,
        requests::list,
        wait::wait,
        export::requests_csv,
        stubs::requests_export,
        requests::clear,
        requests::latest,
        requests::request,
        requests::delete_request,
        requests::raw,
        requests::download,
        diff::diff,
        resend::resend,
        resend::resends,
        resend::record_outcome,
        stubs::put_response,
        stubs::put_response_plural,
        stubs::capture,
        stubs::capture_sub_path,
        stubs::live,
        stubs::healthz,
        stubs::metrics,
        document,
        docs,
    ),
    components(schemas(ApiError)),
    modifiers(&Security, &OneIdPerOperation),
    tags(
        (name = "tokens", description = "Bins (webhook.site's tokens) and their settings"),
        (name = "requests", description = "A bin's captured requests"),
        (name = "capture", description = "Where senders send what is captured"),
        (name = "server", description = "The server itself")
    )
)]
struct ApiDoc;

/// The `Api-Key` and `X-Bin-Password` schemes, and which operations take
/// them: every `/token` route needs the API key when the server has one
/// (`--api-key`), and those of one bin also its password when it has one.
/// Set here once rather than on each of their annotations.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Api-Key",
                "The server's API key, when it is started with --api-key",
            ))),
        );
        components.add_security_scheme(
            "bin_password",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Bin-Password",
                "The bin's password, when it has one",
            ))),
        );
        components.add_security_scheme(
            "bin_password_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("The bin's password as Basic auth (any user name)"))
                    .build(),
            ),
        );
        let none = SecurityRequirement::default;
        let key = || SecurityRequirement::new("api_key", Vec::<String>::new());
        let password = |scheme: &str| SecurityRequirement::new(scheme, Vec::<String>::new());
        for (path, item) in doc.paths.paths.iter_mut() {
            if !is_api_path(path) {
                continue;
            }
            let alternatives = if path == API_ROOT {
                vec![none(), key()]
            } else {
                vec![
                    none(),
                    key(),
                    password("bin_password"),
                    password("bin_password_basic"),
                    key().add("bin_password", Vec::<String>::new()),
                    key().add("bin_password_basic", Vec::<String>::new()),
                ]
            };
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation.security = Some(alternatives.clone());
            }
        }
    }
}

/// Makes operation ids unique, as OpenAPI requires (client generators name
/// functions after them): an annotation listing several methods, like the
/// captures', gives them all its function's name, so each of those gets
/// its method appended.
struct OneIdPerOperation;

impl Modify for OneIdPerOperation {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
                ("trace", &mut item.trace),
            ];
            let mut present: Vec<_> = operations
                .into_iter()
                .filter_map(|(method, op)| Some((method, op.as_mut()?)))
                .collect();
            let ids: Vec<_> = present
                .iter()
                .map(|(_, op)| op.operation_id.clone())
                .collect();
            for (method, op) in &mut present {
                let Some(id) = &mut op.operation_id else {
                    continue;
                };
                if ids
                    .iter()
                    .filter(|other| other.as_ref() == Some(id))
                    .count()
                    > 1
                {
                    id.push('_');
                    id.push_str(method);
                }
            }
        }
    }
}

/// The document, built once: it depends only on the code.
static DOCUMENT: LazyLock<Document> = LazyLock::new(ApiDoc::openapi);

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    DOCUMENT
        .to_pretty_json()
        .expect("the OpenAPI document is plain JSON")
});

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "server",
    summary = "This description",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT_JSON.as_str(),
    )
        .into_response()
}

/// One operation as the docs page lists it.
struct Operation {
    method: String,
    path: String,
    /// For the element id the page links to.
    anchor: String,
    summary: String,
    description: String,
    parameters: Vec<Parameter>,
    body: Option<String>,
    responses: Vec<(String, String)>,
    security: String,
}

struct Parameter {
    name: String,
    location: String,
    required: bool,
    description: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "api_docs.html")]
struct DocsPage {
    title: String,
    description: String,
    operations: Vec<Operation>,
    schemas: Vec<(String, Vec<String>)>,
}

/// `GET /api/docs`: every operation of the document, readable.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "server",
    summary = "This description as a page",
    responses((status = 200, description = "An HTML page", content_type = "text/html"))
)]
pub async fn docs() -> impl IntoResponse {
    let doc = serde_json::to_value(&*DOCUMENT).expect("the OpenAPI document is plain JSON");
    DocsPage {
        title: text(&doc["info"]["title"]),
        description: text(&doc["info"]["description"]),
        operations: operations(&doc),
        schemas: schemas(&doc),
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A `$ref` or an inline schema in a few words.
fn schema_name(schema: &Value) -> String {
    if let Some(name) = schema["$ref"].as_str() {
        return name.rsplit('/').next().unwrap_or(name).to_owned();
    }
    match &schema["type"] {
        Value::String(kind) if kind == "array" => {
            format!("array of {}", schema_name(&schema["items"]))
        }
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds.iter().map(text).collect::<Vec<_>>().join(" or "),
        _ => match schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
            Some(options) => options
                .iter()
                .map(schema_name)
                .collect::<Vec<_>>()
                .join(" or "),
            None => String::from("any"),
        },
    }
}

/// `content` of a body or response: its media types and schemas.
fn content(content: &Value) -> String {
    content
        .as_object()
        .into_iter()
        .flatten()
        .map(|(media, body)| match body.get("schema") {
            Some(schema) => format!("{media}: {}", schema_name(schema)),
            None => media.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !op.is_object() || op.get("responses").is_none() {
                continue;
            }
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Parameter {
                    name: text(&p["name"]),
                    location: text(&p["in"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    description: text(&p["description"]),
                })
                .collect();
            let body = op.get("requestBody").map(|b| {
                let required = if b["required"].as_bool() == Some(true) {
                    ""
                } else {
                    " (optional)"
                };
                format!("{}{required}", content(&b["content"]))
            });
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| {
                    let what = content(&r["content"]);
                    let described = text(&r["description"]);
                    let line = if what.is_empty() {
                        described
                    } else {
                        format!("{described} — {what}")
                    };
                    (status.clone(), line)
                })
                .collect();
            let security = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|alt| {
                    let names: Vec<&str> = alt
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(name, _)| name.as_str())
                        .collect();
                    if names.is_empty() {
                        String::from("none")
                    } else {
                        names.join(" + ")
                    }
                })
                .collect::<Vec<_>>()
                .join(" | ");
            let method = method.to_ascii_uppercase();
            found.push(Operation {
                anchor: format!("{method}{path}")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect(),
                method,
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                parameters,
                body,
                responses,
                security,
            });
        }
    }
    found
}

/// Each schema and its properties (`name: type`).
fn schemas(doc: &Value) -> Vec<(String, Vec<String>)> {
    doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            let properties = schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(field, s)| format!("{field}: {}", schema_name(s)))
                .collect();
            (name.clone(), properties)
        })
        .collect()
}

/// Annotated stubs: for the routes whose handlers live outside `api`, and
/// for the second path of a handler routed twice (an annotation gives a
/// function one path). Never called: only their descriptions are used.
#[expect(dead_code, reason = "descriptions only; the handlers are stubs")]
mod stubs {
    use super::ApiError;

    /// api::requests_csv, by webhook.site's name for the export.
    #[utoipa::path(
        get,
        path = "/token/{id}/requests/export",
        tag = "requests",
        summary = "The bin's requests as CSV (webhook.site's path)",
        description = "The same as `GET /token/{id}/requests.csv`.",
        params(("id" = uuid::Uuid, Path, description = "The bin's id"), super::export::CsvParams),
        responses(
            (status = 200, description = "CSV, one row per request", content_type = "text/csv"),
            (status = 400, description = "A malformed query, date or sorting", body = ApiError),
            (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
            (status = 404, description = "No bin with this id", body = ApiError)
        )
    )]
    fn requests_export() {}

    /// api::answers::put_response.
    #[utoipa::path(
        put,
        path = "/token/{id}/request/{rid}/response",
        tag = "requests",
        summary = "Answer a capture waiting in listen mode",
        description = "A forwarder supplies the answer (`status`, `headers`, `content`) of a \
            capture that waits for it because the bin's `listen` is set \
            (`hookscope forward --listen`, webhook.site's CLI).",
        params(
            ("id" = uuid::Uuid, Path, description = "The bin's id"),
            ("rid" = uuid::Uuid, Path, description = "The waiting request's id")
        ),
        request_body(content = Object, content_type = "application/json",
            description = "`{\"status\": 200, \"headers\": {\"Name\": \"value\" or [\"values\"]}, \"content\": \"…\"}`"),
        responses(
            (status = 200, description = "The answer went to the waiting capture"),
            (status = 400, description = "The body is not valid JSON", body = ApiError),
            (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
            (status = 404, description = "No capture waits for this request (answered already or timed out)", body = ApiError),
            (status = 413, description = "The body is over the limit", body = ApiError),
            (status = 422, description = "A field has a wrong value", body = ApiError)
        )
    )]
    fn put_response() {}

    /// The same, by the plural path webhook.site's documentation gives.
    #[utoipa::path(
        put,
        path = "/token/{id}/requests/{rid}/response",
        tag = "requests",
        summary = "Answer a capture waiting in listen mode (webhook.site's documented spelling)",
        description = "The same as `PUT /token/{id}/request/{rid}/response`.",
        params(
            ("id" = uuid::Uuid, Path, description = "The bin's id"),
            ("rid" = uuid::Uuid, Path, description = "The waiting request's id")
        ),
        request_body(content = Object, content_type = "application/json"),
        responses(
            (status = 200, description = "The answer went to the waiting capture"),
            (status = 400, description = "The body is not valid JSON", body = ApiError),
            (status = 401, description = "API key or bin password missing or wrong", body = ApiError),
            (status = 404, description = "No capture waits for this request", body = ApiError),
            (status = 413, description = "The body is over the limit", body = ApiError),
            (status = 422, description = "A field has a wrong value", body = ApiError)
        )
    )]
    fn put_response_plural() {}

    /// capture::handle, `ANY /{bin}`.
    #[utoipa::path(
        method(get, post, put, patch, delete, head, options),
        path = "/{bin}",
        tag = "capture",
        summary = "Capture a request (any method)",
        description = "Any method (PROPFIND and other extension methods too: OpenAPI can only \
            list the standard ones) is captured byte for byte, and answered with the bin's \
            configured response (`default_status`, `default_content`, \
            `default_content_type`, `response_headers`, CORS, delay). The answer carries \
            `X-Request-Id` and `X-Token-Id`.",
        params(("bin" = String, Path, description = "The bin's id or its alias")),
        request_body(content = Vec<u8>, content_type = "*/*", description = "Anything; stored as received"),
        responses(
            (status = "default", description = "The bin's configured answer (200 unless set)"),
            (status = 404, description = "No bin with this id or alias"),
            (status = 413, description = "The body is over the limit; nothing is stored"),
            (status = 429, description = "Too many requests from this sender or to this bin")
        )
    )]
    fn capture() {}

    /// capture::handle, `ANY /{bin}/{*path}`.
    #[utoipa::path(
        method(get, post, put, patch, delete, head, options),
        path = "/{bin}/{path}",
        tag = "capture",
        summary = "Capture a request on a sub-path (any method)",
        description = "As `/{bin}`, with the full path kept. A first segment that is a status \
            (100–599), as in `/{bin}/404`, is answered with that status instead of the bin's \
            default, as on webhook.site.",
        params(
            ("bin" = String, Path, description = "The bin's id or its alias"),
            ("path" = String, Path, description = "Any sub-path, slashes included")
        ),
        request_body(content = Vec<u8>, content_type = "*/*", description = "Anything; stored as received"),
        responses(
            (status = "default", description = "The bin's configured answer, or the status from the path"),
            (status = 404, description = "No bin with this id or alias"),
            (status = 413, description = "The body is over the limit; nothing is stored"),
            (status = 429, description = "Too many requests from this sender or to this bin")
        )
    )]
    fn capture_sub_path() {}

    /// live::handle.
    #[utoipa::path(
        get,
        path = "/live/{bin}",
        tag = "requests",
        summary = "The live feed of a bin (websocket)",
        description = "A websocket (send `Upgrade: websocket`); with `Accept: text/event-stream` \
            the same feed as server-sent events. Each text message is \
            `{\"type\":\"request\",\"request\":{…},\"row\":{…}}`, the request object as the API \
            returns it (`RequestJson`) and the dashboard's list text for it; \
            `{\"type\":\"lagged\"}` means the reader fell behind and should reload (what it \
            missed follows, for a reader that reads on). A bin with a password needs it (`X-Bin-Password`, \
            Basic auth or the dashboard's cookie).",
        params(("bin" = String, Path, description = "The bin's id or its alias")),
        responses(
            (status = 101, description = "Switched to the websocket; messages as described"),
            (status = 200, description = "The event stream (`Accept: text/event-stream`)", content_type = "text/event-stream"),
            (status = 401, description = "The bin's password is missing or wrong"),
            (status = 404, description = "No bin with this id or alias"),
            (status = 429, description = "The bin has its maximum of live viewers")
        )
    )]
    fn live() {}

    /// pages::healthz.
    #[utoipa::path(
        get,
        path = "/healthz",
        tag = "server",
        summary = "Whether the database answers",
        responses(
            (status = 200, description = "`ok`", content_type = "text/plain"),
            (status = 503, description = "The database does not answer")
        )
    )]
    fn healthz() {}

    /// pages::metrics.
    #[utoipa::path(
        get,
        path = "/metrics",
        tag = "server",
        summary = "Prometheus metrics",
        responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
    )]
    fn metrics() {}
}
