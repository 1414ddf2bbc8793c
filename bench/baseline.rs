//! The benchmark's baseline: plain axum answering "ok" to a POST to
//! `/{bin}`, reading the body as hookscope does, storing nothing.
//!
//! `cargo run --release --example baseline -- 127.0.0.1:9091`

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9091".to_owned());
    let app = Router::new().route("/{bin}", post(|_body: Bytes| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
