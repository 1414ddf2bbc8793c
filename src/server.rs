//! The accept loop: hyper connections (HTTP/1 with tapped heads, HTTP/2)
//! serving the router, with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::ServiceExt as _;
use uuid::Uuid;

use crate::answers::AppAnswer;
use crate::app;
use crate::capture;
use crate::state::AppState;
use crate::store::Notice;
use crate::wire::{HeadTap, TappedStream};

/// hyper's smallest read buffer; `max_buf_size` panics below it.
const MIN_HEAD_BUFFER: usize = 8192;
/// The most header fields hyper accepts unless told otherwise.
const HYPER_MAX_HEADERS: usize = 100;

/// The most a request head may hold, as hyper is told and the tap knows.
#[derive(Clone, Copy)]
struct HeadLimits {
    fields: usize,
    bytes: usize,
}

/// Serves hookscope on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish (up to the grace period),
/// closes live feeds and commits everything queued to the store.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = app::router(state.clone());
    let config = state.config.clone();
    let head_limits = HeadLimits {
        fields: config.max_headers,
        bytes: config.max_header_bytes.max(MIN_HEAD_BUFFER),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let mut http1 = builder.http1();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_secs))
        .max_buf_size(head_limits.bytes);
    // hyper parses up to its default count on the stack; any other limit
    // costs a heap array per request.
    if config.max_headers != HYPER_MAX_HEADERS {
        http1.max_headers(config.max_headers);
    }
    let others = state.store.notices().map(|notices| {
        (
            tokio::spawn(follow_other_instances(notices, state.clone())),
            tokio::spawn(announce_answerers(state.clone())),
        )
    });
    let housekeeping = crate::retention::spawn(
        state.store.clone(),
        state.limits.clone(),
        config.retention_days,
        state.shutdown.clone(),
    );
    let graceful = GracefulShutdown::new();
    let indexer = {
        let state = state.clone();
        tokio::spawn(async move { state.store.run_indexer(&state.shutdown).await })
    };
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let connection = serve_connection(
            &builder,
            stream,
            remote,
            (router.clone(), state.clone()),
            head_limits,
        );
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    state.shutdown.cancel();
    let _ = indexer.await;
    if let Some((notices, answerers)) = others {
        let _ = notices.await;
        let _ = answerers.await;
    }
    let _ = housekeeping.await;
    if tokio::time::timeout(
        Duration::from_secs(config.shutdown_grace_secs),
        graceful.shutdown(),
    )
    .await
    .is_err()
    {
        tracing::warn!("grace period over; dropping remaining connections");
    }
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    remote: SocketAddr,
    (router, state): (axum::Router, AppState),
    head_limits: HeadLimits,
) -> impl hyper_util::server::graceful::GracefulConnection<
    Error = Box<dyn std::error::Error + Send + Sync>,
> {
    let _ = stream.set_nodelay(true);
    // The tap knows hyper's limits to explain its refusals (`wire`).
    let tap = HeadTap::new(head_limits.fields, head_limits.bytes);
    let io = TokioIo::new(TappedStream::new(stream, tap.clone()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let extensions = req.extensions_mut();
        extensions.insert(ConnectInfo(remote));
        if let Some(head) = tap.next_head() {
            extensions.insert(head);
        }
        let req = req.map(axum::body::Body::new);
        let (router, state) = (router.clone(), state.clone());
        async move {
            // A capture skips the router: its fallback route would match
            // the path against every route and note it as a parameter.
            if capture::takes(req.uri().path()) {
                Ok(capture::handle(State(state), req).await)
            } else {
                router.oneshot(req).await
            }
        }
    });
    builder
        .serve_connection_with_upgrades(io, service)
        .into_owned()
}

/// Several instances on one database: what another instance commits
/// reaches this one's live viewers (which read it from the store), and a
/// relayed answer for a capture waiting here is taken and handed over.
async fn follow_other_instances(mut notices: mpsc::Receiver<Notice>, state: AppState) {
    loop {
        let notice = tokio::select! {
            () = state.shutdown.cancelled() => return,
            notice = notices.recv() => notice,
        };
        match notice {
            Some(Notice::Committed(bin)) => state.hub.ring(bin),
            Some(Notice::Missed) => state.hub.ring_all(),
            Some(Notice::Answer(id)) if state.pending.waits(id) => {
                let state = state.clone();
                tokio::spawn(async move { hand_over_relayed_answer(&state, id).await });
            }
            Some(Notice::Answer(_)) => {}
            None => return,
        }
    }
}

async fn hand_over_relayed_answer(state: &AppState, id: Uuid) {
    match state.store.take_relayed_answer(id).await {
        Ok(Some((bin, sent))) => match AppAnswer::from_sent(&sent) {
            Some(answer) => {
                state.pending.answer(bin, id, answer);
            }
            None => tracing::warn!(%id, "a relayed answer has an invalid status"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, %id, "could not take a relayed answer"),
    }
}

/// How often this instance's relaying forwarders are announced again to
/// the other instances (their note lapses unless refreshed).
const PRESENCE_EVERY: Duration = Duration::from_secs(10);

/// Several instances on one database: tells the others which bins have a
/// relaying forwarder here, so their captures wait for its answers.
async fn announce_answerers(state: AppState) {
    let mut changes = state.pending.presence_changes();
    let mut refresh = tokio::time::interval(PRESENCE_EVERY);
    loop {
        let (bins, present) = tokio::select! {
            () = state.shutdown.cancelled() => break,
            change = changes.recv() => match change {
                Some((bin, present)) => (vec![bin], present),
                None => break,
            },
            _ = refresh.tick() => (state.pending.answered_bins(), true),
        };
        for bin in bins {
            if let Err(e) = state.store.answerer_present(bin, present).await {
                tracing::warn!(error = %e, %bin, "could not announce a relaying forwarder");
            }
        }
    }
    for bin in state.pending.answered_bins() {
        let _ = state.store.answerer_present(bin, false).await;
    }
}
