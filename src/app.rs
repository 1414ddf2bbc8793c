//! Application state and the router: the one place that lists every route.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Request};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware;
use axum::routing::{any, get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::config::Config;
use crate::error::AppError;
use crate::limits::Limits;
use crate::live::Hub;
use crate::store::{Store, StoreError};
use crate::{assets, capture, error, live, pages};

/// Everything handlers share. Cheap to clone; handlers ask for the parts
/// they use through `FromRef`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub config: Arc<Config>,
    pub limits: Limits,
    /// Cancelled when the server shuts down: long-lived streams end.
    /// Behind an `Arc`: the state is cloned for every request, and cloning
    /// a token takes a lock.
    pub shutdown: Arc<CancellationToken>,
}

impl AppState {
    /// Opens the database named in `config` and builds the state.
    pub fn open(config: Config) -> Result<Self, StoreError> {
        let store = Store::open(&config.db, config.durability)?.with_max_bins(config.max_bins);
        Ok(Self {
            store,
            hub: Hub::new(),
            limits: Limits::new(&config),
            config: Arc::new(config),
            shutdown: Arc::new(CancellationToken::new()),
        })
    }
}

/// The Content-Security-Policy of every page: scripts and styles only from
/// our own files, nothing inline, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::home))
        .route("/new", post(pages::new_bin))
        .route("/view/{bin}", get(pages::view))
        .route("/view/{bin}/{request}/body", get(pages::download_body))
        .route("/live/{bin}", get(live::handle))
        .route("/static/{file}", get(assets::serve))
        .route("/healthz", get(pages::healthz))
        .route("/metrics", get(pages::metrics));

    let capture = Router::new()
        .route("/{bin}", any(capture::handle))
        .route("/{bin}/{*path}", any(capture::handle))
        .fallback(capture::handle);

    pages
        .merge(capture)
        .layer(middleware::from_fn(error::negotiate))
        .layer(default_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(default_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(default_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(default_header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        // The per-request span is at debug level: at info it cost about a
        // sixth of a capture's CPU time (bench/RESULTS.md). `RUST_LOG=debug`
        // brings it back with the request and response events.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("fallback", |p| p.as_str());
            tracing::debug_span!("http", method = %req.method(), route)
        }))
        .with_state(state)
}

/// A header set on every response where the handler did not set it.
fn default_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// A bin id from a URL segment; anything that is not a UUID is no bin.
pub fn parse_bin(segment: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(segment).map_err(|_| AppError::UnknownBin)
}

/// How long shutdown waits for in-flight requests.
pub fn shutdown_grace(config: &Config) -> Duration {
    Duration::from_secs(config.shutdown_grace_secs)
}
