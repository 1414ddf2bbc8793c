//! The router: the one place that lists every route.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Uri};
use axum::middleware;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower::Layer as _;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::headers::DEFAULT_HEADERS;
use crate::state::AppState;
use crate::store::Store;
use crate::{api, assets, auth, capture, error, listen, live, pages};

/// Every route, behind [`alias_to_id`]: a page under `/view/{alias}`,
/// `/live/{alias}` or `/unlock/{alias}` is routed as under the bin's id.
pub fn router(state: AppState) -> Router {
    let routes = routes(state.clone());
    Router::new().fallback_service(middleware::from_fn_with_state(state, alias_to_id).layer(routes))
}

/// First path segments whose routes take a bin as their second segment
/// and accept its alias there. (The token API takes only the id, as
/// webhook.site's does.)
const BIN_PAGE_ROOTS: [&str; 3] = ["view", "live", "unlock"];

/// Rewrites `/view/{alias}/…` (and the other [`BIN_PAGE_ROOTS`]) to
/// `/view/{bin id}/…` before routing, so every handler and layer behind
/// it, the bin password check first, sees one bin id whichever way the
/// bin was named.
async fn alias_to_id(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(uri) = aliased_uri(&state.store, req.uri()).await {
        *req.uri_mut() = uri;
    }
    next.run(req).await
}

async fn aliased_uri(store: &Store, uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let mut segments = path.strip_prefix('/')?.splitn(3, '/');
    let (root, alias) = (segments.next()?, segments.next()?);
    if !BIN_PAGE_ROOTS.contains(&root) || Uuid::try_parse(alias).is_ok() {
        return None;
    }
    let bin = match store.bin_by_alias(alias).await {
        Ok(bin) => bin?,
        Err(e) => {
            // The route then answers as for an unknown bin.
            tracing::warn!(error = %e, "could not read the bin of an alias");
            return None;
        }
    };
    let mut rewritten = format!("/{root}/{}", bin.id);
    if let Some(rest) = segments.next() {
        rewritten.push('/');
        rewritten.push_str(rest);
    }
    if let Some(query) = uri.query() {
        rewritten.push('?');
        rewritten.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(rewritten.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn routes(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/unlock/{bin}", post(auth::unlock))
        .route("/static/{file}", get(assets::serve))
        .route("/healthz", get(pages::healthz))
        .route("/metrics", get(pages::metrics))
        // The JSON API's OpenAPI description, and the same as a page.
        .route("/api/openapi.json", get(api::openapi::document))
        .route("/api/docs", get(api::openapi::docs));

    // Making bins: the API key, when the server has one (`GET /` checks it
    // itself: it only makes a bin for visitors without one).
    let creation = Router::new()
        .route("/new", post(pages::new_bin))
        .route("/token", post(api::create))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ));

    // One bin's dashboard and live feed: its password, when it has one.
    let bin_pages = Router::new()
        .route("/view/{bin}", get(pages::view))
        .route("/view/{bin}/{request}/body", get(pages::download_body))
        .route("/view/{bin}/{request}/text", get(pages::body_text))
        .route("/view/{bin}/{request}/curl", get(pages::curl_text))
        .route("/view/{bin}/{request}/part/{n}", get(pages::download_part))
        .route("/view/{bin}/{request}/delete", post(pages::delete_request))
        .route("/view/{bin}/clear", post(pages::clear))
        .route(
            "/view/{bin}/settings",
            get(pages::settings).post(pages::save_settings),
        )
        .route("/view/{bin}/export.json", get(pages::export_json))
        .route("/view/{bin}/export.har", get(pages::export_har))
        .route("/view/{bin}/export.csv", get(pages::export_csv))
        .route("/live/{bin}", get(live::handle))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_bin_password,
        ));

    // webhook.site's token API (see `api`): the API key, then the bin's
    // password.
    let api = Router::new()
        .route(
            "/token/{id}",
            get(api::read).put(api::update).delete(api::delete),
        )
        .route("/token/{id}/cors/toggle", put(api::toggle_cors))
        .route("/token/{id}/requests", get(api::list))
        .route("/token/{id}/requests.csv", get(api::requests_csv))
        // webhook.site's name for the same export.
        .route("/token/{id}/requests/export", get(api::requests_csv))
        .route("/token/{id}/request", delete(api::clear))
        .route("/token/{id}/request/latest", get(api::latest))
        .route(
            "/token/{id}/request/{rid}",
            get(api::request).delete(api::delete_request),
        )
        .route("/token/{id}/request/{rid}/raw", get(api::raw))
        .route(
            "/token/{id}/request/{rid}/download/{file_id}",
            get(api::download),
        )
        // Listen mode: a forwarder supplies the answer of a waiting capture.
        .route(
            "/token/{id}/request/{rid}/response",
            put(listen::put_response),
        )
        // The plural form webhook.site's documentation gives for it (its CLI
        // sends the singular one above).
        .route(
            "/token/{id}/requests/{rid}/response",
            put(listen::put_response),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_bin_password,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ));

    // webhook.site's live channel for its CLI (socket.io 2 long-polling;
    // see `api::echo`): keys and passwords come in its subscriptions.
    let echo = Router::new()
        .route("/socket.io/", get(api::echo::poll).post(api::echo::send))
        .layer(axum::Extension(api::echo::EchoSessions::default()));

    // Captures, `ANY /{bin}` and `ANY /{bin}/{*path}`, are everything no
    // route above takes: as the fallback they skip the router's path
    // parameters and matched path, which `capture` does not use.
    let capture = Router::new().fallback(capture::handle);

    let mut layered = pages
        .merge(creation)
        .merge(bin_pages)
        .merge(api)
        .merge(echo)
        .layer(middleware::from_fn(error::negotiate));
    for (name, value) in DEFAULT_HEADERS {
        layered = layered.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    layered
        // The per-request span is at debug level: at info it cost about a
        // sixth of a request's CPU time (bench/RESULTS.md). `RUST_LOG=debug`
        // brings it back with the request and response events.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("fallback", |p| p.as_str());
            tracing::debug_span!("http", method = %req.method(), route)
        }))
        // Captures skip the layers above: they cost a quarter of a
        // capture's CPU time (bench/RESULTS.md), and `capture` sets the
        // same headers and renders its errors itself.
        .merge(capture)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use crate::model::{alias_problem, RESERVED_ALIASES};

    /// The first segment of every route this file lists.
    fn route_roots() -> Vec<String> {
        let file = include_str!("app.rs");
        // Not this test's own text.
        let source = file.split("#[cfg(test)]").next().unwrap_or(file);
        let mut roots = Vec::new();
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + ".route(".len()..].trim_start();
            let Some(path) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else {
                continue;
            };
            let root = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default();
            if !root.is_empty() {
                roots.push(root.to_owned());
            }
        }
        roots
    }

    #[test]
    fn every_top_level_route_is_a_reserved_alias() {
        let roots = route_roots();
        // The scan sees the routes (a sanity check on the scan itself).
        for known in ["view", "live", "token", "static", "healthz", "new"] {
            assert!(
                roots.iter().any(|r| r == known),
                "{known} not found in {roots:?}"
            );
        }
        for root in &roots {
            assert!(
                RESERVED_ALIASES.contains(&root.as_str()),
                "the route root {root:?} is missing from model::RESERVED_ALIASES"
            );
            assert!(
                alias_problem(root).is_some(),
                "{root} is refused as an alias"
            );
        }
        for root in super::BIN_PAGE_ROOTS {
            assert!(roots.iter().any(|r| r == root), "{root} is a route");
        }
    }

    #[test]
    fn aliases_follow_the_documented_rules() {
        let long = "a".repeat(crate::model::MAX_ALIAS_LEN);
        for ok in ["my-webhook", "a", "Stripe_2.test", long.as_str(), "v1.2"] {
            assert_eq!(alias_problem(ok), None, "{ok}");
        }
        let too_long = "a".repeat(crate::model::MAX_ALIAS_LEN + 1);
        for bad in [
            "",
            too_long.as_str(),
            ".hidden",
            "with space",
            "slash/inside",
            "percent%20",
            "ünï",
            "0190a0a0-0000-7000-8000-000000000000",
            "0190a0a000007000800000000000000f",
            "VIEW",
            "Token",
        ] {
            assert!(alias_problem(bad).is_some(), "{bad:?} is refused");
        }
    }
}
