//! hookscope: a self-hosted request inspector.
//!
//! Anything sent to a bin's URL is captured byte for byte into SQLite (or
//! PostgreSQL, for several instances) and pushed live to every open
//! dashboard of that bin. `main.rs` only parses the command line;
//! everything else lives here so tests can drive the real server.
//!
//! # Module map, bottom-up
//!
//! Each module imports only from its own layer or those below, and no two
//! modules import each other; `tests/layers.rs` keeps it so.
//!
//! 1. Plain values and formats
//!    - `signature`: would a request pass its sender's signature check.
//!    - `model`: the nouns (bin, captured request) and their JSON shapes.
//!    - `multipart`, `query`: a body's parts; the search language, parsed.
//!    - `http1`, `wire`: HTTP/1 framing; heads exactly as they came.
//!    - `cookies`, `headers`: cookie parsing; headers every answer carries.
//!    - `diff`: what differs between two captured requests.
//! 2. Storage
//!    - `store`: one narrow API (bins, requests, search, answers,
//!      housekeeping) over two backends: SQLite (the default; `sqlite/`)
//!      and PostgreSQL for several instances (`postgres/`); each commits
//!      captures in groups from one writer.
//! 3. Settings
//!    - `config`: every flag; `metrics`: counters for `/metrics`.
//! 4. Domain services
//!    - `limits`: rate limits. `auth`: secrets and their proofs.
//!    - `answers`: captures waiting for the local app's relayed answer.
//!    - `live::hub`, `live::feed`: fan-out of new requests; the one live
//!      core (viewer limit, backfill, catch-up) every transport uses.
//!    - `retention`: background deletion of expired bins and requests.
//!    - `exchange`: one HTTP/1.1 exchange with another server, bytes
//!      exactly as given (forward and resend use it).
//!    - `resend`: sends a stored request again to a URL, never as an open
//!      proxy (allow-list, forbidden addresses checked after DNS).
//! 5. HTTP edge
//!    - `error`: the handlers' error, rendered as JSON, page or text.
//!    - `state`: what handlers share. `extract`: `BinPath`, `SameOrigin`,
//!      the API key.
//!    - `capture`: `ANY /{bin}/…`. `pages`, `api`, `live` (websocket,
//!      SSE), `assets`: the other handlers.
//!    - `forward`: the `hookscope forward` client; `wait`: the
//!      `hookscope wait` client (a long poll of the token API).
//! 6. `app`: the router, the one list of routes.
//! 7. `server`: the accept loop (captures by id go straight to `capture`).
#![forbid(unsafe_code)]

pub mod answers;
pub mod api;
pub mod app;
pub mod auth;
pub mod capture;
pub mod config;
pub mod cookies;
pub mod diff;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod forward;
pub mod headers;
pub mod http1;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod model;
pub mod multipart;
pub mod pages;
pub mod query;
pub mod resend;
pub mod retention;
pub mod server;
pub mod signature;
pub mod state;
pub mod store;
pub mod wait;
pub mod wire;

mod assets;

pub use config::Config;
pub use server::serve;
pub use state::AppState;
