//! hookscope: a self-hosted request inspector.
//!
//! Anything sent to a bin's URL is captured byte for byte into SQLite and
//! pushed live to every open dashboard of that bin. `main.rs` only parses the
//! command line; everything else lives here so tests can drive the real server.
#![forbid(unsafe_code)]

pub mod answers;
pub mod api;
pub mod app;
pub mod auth;
pub mod capture;
pub mod config;
pub mod cookies;
pub mod error;
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
pub mod retention;
pub mod server;
pub mod state;
pub mod store;
pub mod wire;

mod assets;

pub use config::Config;
pub use server::serve;
pub use state::AppState;
