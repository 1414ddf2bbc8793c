//! The router: the one place that lists every route.

use axum::extract::Request;
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::extract::require_api_key;
use crate::headers::add_default_headers;
use crate::state::AppState;
use crate::{api, assets, capture, error, live, pages};

/// Every route. Handlers that take a bin find it (by id, or alias where a
/// route says `{bin}`) and check its password through `extract::BinPath`.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/unlock/{bin}", post(pages::unlock))
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
            require_api_key,
        ));

    // One bin's dashboard and live feed (its password: `BinPath`).
    let bin_pages = Router::new()
        .route("/view/{bin}", get(pages::view))
        .route("/view/{bin}/diff", get(pages::diff_page))
        .route("/view/{bin}/{request}/body", get(pages::download_body))
        .route("/view/{bin}/{request}/text", get(pages::body_text))
        .route("/view/{bin}/{request}/curl", get(pages::curl_text))
        .route("/view/{bin}/{request}/part/{n}", get(pages::download_part))
        .route("/view/{bin}/{request}/delete", post(pages::delete_request))
        .route("/view/{bin}/{request}/resend", post(pages::resend_form))
        .route("/view/{bin}/clear", post(pages::clear))
        .route(
            "/view/{bin}/settings",
            get(pages::settings).post(pages::save_settings),
        )
        .route("/view/{bin}/verifiers", post(pages::add_verifier))
        .route(
            "/view/{bin}/verifiers/{n}/remove",
            post(pages::remove_verifier),
        )
        .route("/view/{bin}/verify", post(pages::verify_again))
        .route("/view/{bin}/export.json", get(pages::export_json))
        .route("/view/{bin}/export.har", get(pages::export_har))
        .route("/view/{bin}/export.csv", get(pages::export_csv))
        .route("/live/{bin}", get(live::handle));

    // webhook.site's token API (see `api`): the API key, then the bin's
    // password.
    let api = Router::new()
        .route(
            "/token/{id}",
            get(api::read).put(api::update).delete(api::delete),
        )
        .route("/token/{id}/cors/toggle", put(api::toggle_cors))
        // Signature verification: check stored requests again.
        .route("/token/{id}/verify", post(api::verify_again))
        .route("/token/{id}/requests", get(api::list))
        // A long poll for the first matching request (`hookscope wait`).
        .route("/token/{id}/requests/wait", get(api::wait))
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
        .route("/token/{id}/diff", get(api::diff))
        // Resends: send a stored request again; list them; record what a
        // forwarder's replay got.
        .route(
            "/token/{id}/request/{rid}/resend",
            post(api::resend::resend),
        )
        .route(
            "/token/{id}/request/{rid}/resends",
            get(api::resend::resends).post(api::resend::record_outcome),
        )
        .route(
            "/token/{id}/request/{rid}/download/{file_id}",
            get(api::download),
        )
        // Listen mode: a forwarder supplies the answer of a waiting capture.
        .route("/token/{id}/request/{rid}/response", put(api::put_response))
        // The plural form webhook.site's documentation gives for it (its CLI
        // sends the singular one above).
        .route(
            "/token/{id}/requests/{rid}/response",
            put(api::put_response),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
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

    pages
        .merge(creation)
        .merge(bin_pages)
        .merge(api)
        .merge(echo)
        .layer(middleware::from_fn(error::negotiate))
        .layer(middleware::map_response(with_default_headers))
        // The per-request span is at debug level: at info it was a large
        // share of a request's CPU time (bench/RESULTS.md). `RUST_LOG=debug`
        // brings it back with the request and response events.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("fallback", |p| p.as_str());
            tracing::debug_span!("http", method = %req.method(), route)
        }))
        // Captures are everything else. They skip the layers above (see
        // `capture::handle`, which applies the same rules itself: the
        // layers were a large share of a capture's CPU time).
        .merge(capture)
        .with_state(state)
}

async fn with_default_headers(mut response: Response) -> Response {
    add_default_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use crate::model::{alias_problem, RESERVED_ALIASES};

    /// Every route path this file lists.
    fn route_paths() -> Vec<String> {
        let file = include_str!("app.rs");
        // Not this test's own text.
        let source = file.split("#[cfg(test)]").next().unwrap_or(file);
        let mut paths = Vec::new();
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + ".route(".len()..].trim_start();
            if let Some(path) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                paths.push(path.to_owned());
            }
        }
        paths
    }

    /// The first segment of every route this file lists.
    fn route_roots() -> Vec<String> {
        route_paths()
            .iter()
            .filter_map(|path| path.trim_start_matches('/').split('/').next())
            .filter(|root| !root.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// No route that names a bin forgets its password: each one, with
    /// every method it has, refuses a client without it.
    #[tokio::test]
    async fn every_route_that_names_a_bin_asks_for_its_password() {
        use axum::body::Body;
        use axum::extract::ConnectInfo;
        use axum::http::{Method, Request, StatusCode};
        use tower::ServiceExt as _;

        let dir = tempfile::tempdir().expect("temp dir");
        let state =
            crate::AppState::open(crate::Config::with_db(dir.path().join("r.db"))).expect("state");
        let mut bin = crate::model::Bin::new();
        bin.settings.password_hash = crate::auth::hash_password(String::from("secret"))
            .await
            .expect("hash");
        state.store.create_bin(bin.clone()).await.expect("bin");
        let router = super::router(state);
        let mut checked = 0;
        for path in route_paths() {
            if !(path.contains("{bin}") || path.contains("{id}")) || path == "/unlock/{bin}" {
                continue;
            }
            let other = uuid::Uuid::now_v7().to_string();
            let url = path
                .replace("{bin}", &bin.id.to_string())
                .replace("{id}", &bin.id.to_string())
                .replace("{n}", "1")
                .replace("{request}", &other)
                .replace("{rid}", &other)
                .replace("{file_id}", &other);
            let mut refused = 0;
            for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
                let mut req = Request::builder()
                    .method(method.clone())
                    .uri(&url)
                    .header("content-type", "application/json")
                    .body(Body::from("{}"))
                    .expect("request");
                req.extensions_mut()
                    .insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 1))));
                let status = router.clone().oneshot(req).await.expect("answer").status();
                match status {
                    StatusCode::UNAUTHORIZED => refused += 1,
                    StatusCode::METHOD_NOT_ALLOWED => {}
                    other => panic!("{method} {path} answered {other} without the password"),
                }
            }
            assert!(refused > 0, "{path} refused nothing");
            checked += 1;
        }
        assert!(checked >= 20, "the scan found {checked} routes");
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
