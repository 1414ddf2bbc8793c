//! The API's OpenAPI description as a client generator and a reader use
//! it: `/api/openapi.json` is OpenAPI 3.1 and names every route the router
//! has (read from `src/app.rs`, the one place that lists them) with each
//! of its methods; its schemas say what the server really sends; and
//! `/api/docs` lists every operation in a page that runs under the CSP.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{json, Value};
use support::browser::{self, Browser};
use support::TestApp;

/// Routes that are browser pages, not API: the dashboard, its forms and
/// files, and the socket.io channel only webhook.site's CLI speaks. Each
/// must still be a route (checked), so the list cannot go stale.
const BROWSER_PAGES: [&str; 6] = ["/", "/login", "/unlock/", "/static/", "/new", "/view/"];
const NOT_API: [&str; 1] = ["/socket.io/"];

/// Every `.route("path", method(…).method(…))` in `src/app.rs`: path →
/// upper-case methods.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let file = include_str!("../src/app.rs");
    // Not its unit tests' text.
    let source = file.split("#[cfg(test)]").next().unwrap_or(file);
    let mut routes = BTreeMap::<String, BTreeSet<String>>::new();
    for (at, _) in source.match_indices(".route(") {
        let rest = &source[at + ".route(".len()..];
        // The call's arguments: up to its closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a closed .route(");
        let args = rest[..end].trim_start();
        let path = args
            .strip_prefix('"')
            .and_then(|a| a.split('"').next())
            .expect("a route's path is a string literal");
        let handlers = &args[path.len() + 2..];
        let methods = routes.entry(path.to_owned()).or_default();
        for method in [
            "get", "post", "put", "delete", "patch", "head", "options", "any",
        ] {
            for (i, _) in handlers.match_indices(&format!("{method}(")) {
                let before = handlers[..i].chars().next_back().unwrap_or(' ');
                if !(before.is_alphanumeric() || before == '_' || before == ':') {
                    methods.insert(method.to_ascii_uppercase());
                }
            }
        }
    }
    routes
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let text = response.text().await.expect("the document");
    serde_json::from_str(&text).expect("the document parses as JSON")
}

/// The operation at `path` and `method` (upper case), if documented.
fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> Option<&'a Value> {
    doc["paths"][path]
        .get(method.to_ascii_lowercase())
        .filter(|op| op.is_object())
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_has_every_route_with_each_method() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "OpenAPI 3.1, not {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let routes = router_routes();
    // The scan sees the router (a check on the scan itself).
    let token_routes: Vec<_> = routes.keys().filter(|p| p.starts_with("/token")).collect();
    assert!(
        token_routes.len() >= 13,
        "token routes found: {token_routes:?}"
    );
    assert_eq!(
        routes["/token/{id}"],
        BTreeSet::from(["GET", "PUT", "DELETE"].map(String::from)),
        "methods are read from the handler chain"
    );

    let mut missing = Vec::new();
    for (path, methods) in &routes {
        let page = BROWSER_PAGES
            .iter()
            .chain(&NOT_API)
            .any(|p| path == p || (p.ends_with('/') && p.len() > 1 && path.starts_with(p)));
        if page {
            continue;
        }
        assert!(!methods.is_empty(), "no methods read for {path}");
        for method in methods {
            let Some(op) = operation(&doc, path, method) else {
                missing.push(format!("{method} {path}"));
                continue;
            };
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its responses"
            );
            if path.starts_with("/token") {
                assert!(
                    op["security"].as_array().is_some_and(|s| !s.is_empty()),
                    "{method} {path} names its credentials"
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes of src/app.rs missing from /api/openapi.json: {missing:?}"
    );
    for page in BROWSER_PAGES.iter().chain(&NOT_API) {
        assert!(
            routes
                .keys()
                .any(|r| r == page || r.starts_with(page) && page.len() > 1),
            "{page} is still a route (else drop it from the list)"
        );
    }
    // The captures are the router's fallback, not a `.route`: documented
    // all the same.
    for path in ["/{bin}", "/{bin}/{path}"] {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert!(operation(&doc, path, method).is_some(), "{method} {path}");
        }
    }
    // Nothing documented that the server does not have.
    for path in doc["paths"].as_object().expect("paths").keys() {
        assert!(
            routes.contains_key(path) || path == "/{bin}" || path == "/{bin}/{path}",
            "{path} is documented but not routed"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_document_names_statuses_credentials_and_parameters() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let statuses = |path: &str, method: &str| -> BTreeSet<String> {
        operation(&doc, path, method).unwrap_or_else(|| panic!("{method} {path}"))["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .cloned()
            .collect()
    };
    for (path, method, expected) in [
        (
            "/token",
            "POST",
            &["201", "400", "401", "413", "422", "429"][..],
        ),
        ("/token/{id}", "GET", &["200", "401", "404"]),
        (
            "/token/{id}",
            "PUT",
            &["200", "400", "401", "404", "413", "422"],
        ),
        ("/token/{id}", "DELETE", &["204", "401", "404"]),
        ("/token/{id}/requests", "GET", &["200", "400", "401", "404"]),
        (
            "/token/{id}/request",
            "DELETE",
            &["204", "400", "401", "404"],
        ),
        (
            "/token/{id}/request/{rid}/response",
            "PUT",
            &["200", "404", "413", "422"],
        ),
        ("/{bin}", "POST", &["404", "413", "429"]),
    ] {
        let found = statuses(path, method);
        for status in expected {
            assert!(
                found.contains(*status),
                "{method} {path}: {status} in {found:?}"
            );
        }
    }

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "Api-Key");
    assert_eq!(schemes["bin_password"]["name"], "X-Bin-Password");

    let clear = operation(&doc, "/token/{id}/request", "DELETE").expect("the clear");
    let names: BTreeSet<&str> = clear["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["id", "query", "date_from", "date_to"] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    let list = operation(&doc, "/token/{id}/requests", "GET").expect("the list");
    let names: BTreeSet<&str> = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "id",
        "sorting",
        "per_page",
        "page",
        "query",
        "date_from",
        "date_to",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    // Operation ids are unique (client generators name functions after them).
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            if let Some(id) = op["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            }
        }
    }
    // Every reference points at a schema the document has.
    let text = doc.to_string();
    for (at, _) in text.match_indices("\"$ref\":\"#/components/schemas/") {
        let rest = &text[at + "\"$ref\":\"#/components/schemas/".len()..];
        let name = rest.split('"').next().expect("a name");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{name} is referenced and defined"
        );
    }
    app.stop().await;
}

/// The property names of a schema in the document.
fn properties(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} has properties"))
        .keys()
        .cloned()
        .collect()
}

/// Whether `schema` (types, `oneOf`/`anyOf`, references) admits `value`'s
/// JSON type: enough to check a round trip, not a full validator.
fn admits(doc: &Value, schema: &Value, value: &Value) -> bool {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.rsplit('/').next().expect("a schema name");
        return admits(doc, &doc["components"]["schemas"][name], value);
    }
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return options.iter().any(|option| admits(doc, option, value));
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match &schema["type"] {
        Value::String(t) => t == kind || (t == "number" && kind == "integer"),
        Value::Array(types) => types
            .iter()
            .any(|t| t == kind || (t == "number" && kind == "integer")),
        _ => true,
    }
}

fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_schemas_are_what_the_server_sends() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let bin = app.create_token(json!({})).await;
    assert_eq!(keys(&bin), properties(&doc, "BinJson"), "a bin");
    let id = bin["uuid"].as_str().expect("uuid");
    // What GET returns validates as a PUT body (clients send it back).
    let input = &doc["components"]["schemas"]["BinInput"]["properties"];
    for (field, value) in bin.as_object().expect("a bin") {
        if let Some(schema) = input.get(field) {
            assert!(
                admits(&doc, schema, value),
                "BinInput.{field} admits {value}"
            );
        }
    }

    app.client
        .post(app.url(&format!("/{id}/hook?x=1")))
        .body("hello")
        .send()
        .await
        .expect("capture");
    let page = app.json(&format!("/token/{id}/requests")).await;
    assert_eq!(keys(&page), properties(&doc, "RequestPage"), "a page");
    let request = &page["data"][0];
    let documented = properties(&doc, "RequestJson");
    let sent = keys(request);
    assert!(
        sent.is_subset(&documented),
        "fields sent but not documented: {:?}",
        sent.difference(&documented).collect::<Vec<_>>()
    );
    let missing = app.get(&format!("/token/{id}/request/not-a-request")).await;
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.expect("the error as JSON");
    assert_eq!(keys(&error), properties(&doc, "ApiError"), "an error");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_every_operation_and_runs_under_the_csp() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let response = app.get("/api/docs").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let page = response.text().await.expect("the page");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let entry = format!(
                "<span class=\"method\">{}</span> <code>{path}</code>",
                method.to_ascii_uppercase()
            );
            assert!(page.contains(&entry), "the page lists {entry}");
        }
    }
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "nothing inline"
    );
    // Every page links to it.
    let dashboard = app.html(&format!("/view/{}", app.new_bin().await)).await;
    assert!(
        dashboard.contains("href=\"/api/docs\""),
        "the header links the docs"
    );

    let browser = Browser::start().await;
    browser.goto(&app.url("/api/docs")).await;
    browser
        .until(
            "the page to load",
            "return document.readyState === 'complete';",
        )
        .await;
    let console = browser.console().await;
    assert!(
        !console
            .iter()
            .any(|line| line.contains("Content Security Policy")),
        "no CSP violation: {console:?}"
    );
    let styled = browser
        .eval("return getComputedStyle(document.querySelector('.api-op')).borderTopStyle;")
        .await;
    assert_eq!(styled, json!("solid"), "the stylesheet applies");
    // The console check can fail: an inline style is refused and reported.
    browser
        .eval(
            "const s = document.createElement('style');
             s.textContent = 'body { color: red; }';
             document.head.append(s);
             return true;",
        )
        .await;
    let mut console = Vec::new();
    let deadline = Instant::now() + browser::PAGE_DEADLINE;
    while !console
        .iter()
        .any(|line: &String| line.contains("Content Security Policy"))
    {
        assert!(
            Instant::now() < deadline,
            "the planted violation is reported: {console:?}"
        );
        tokio::time::sleep(browser::POLL).await;
        console.extend(browser.console().await);
    }
    let color = browser
        .eval("return getComputedStyle(document.body).color;")
        .await;
    assert_ne!(
        color,
        json!("rgb(255, 0, 0)"),
        "the inline style was refused"
    );

    browser.goto(&app.url("/api/docs")).await;
    browser
        .until(
            "the page to load",
            "return document.readyState === 'complete';",
        )
        .await;
    let violations = browser::serious_violations(&browser).await;
    assert_eq!(violations, Vec::<String>::new(), "axe-core on /api/docs");
    browser.quit().await;
    app.stop().await;
}
