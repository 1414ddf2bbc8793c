//! `GET /live/{bin}`: a websocket that sends each new request of the bin as
//! `{"type":"request","request":{…}}`. With `?after={request id}` it first
//! sends every stored request after that one, so a client that reconnects
//! misses nothing (the nil UUID asks for the whole history); then it
//! streams live requests, skipping those already sent.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::AppError;
use crate::extract::BinPath;
use crate::live::Subscription;
use crate::metrics::METRICS;
use crate::model::{CapturedRequest, RequestJson};
use crate::state::AppState;
use crate::store::Store;

/// Stored requests sent per read while catching a client up.
const BACKFILL_CHUNK: u32 = 500;
/// How often an idle socket is pinged so proxies keep it open.
const PING_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
pub struct LiveParams {
    after: Option<Uuid>,
    /// A forwarder in listen mode: captures wait for its answers.
    #[serde(default)]
    listen: bool,
}

#[derive(Serialize)]
struct FeedMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request: &'a RequestJson,
}

/// The live-feed text for one request.
pub fn feed_message(req: &CapturedRequest, public_base: Option<&str>) -> String {
    let request = RequestJson::new(req, &req.base_url(public_base));
    serde_json::to_string(&FeedMessage {
        kind: "request",
        request: &request,
    })
    .expect("a request always serializes")
}

const LAGGED: &str = r#"{"type":"lagged"}"#;

pub async fn handle(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<LiveParams>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let bin = bin.id;
    // Checked before the upgrade; viewers joining at the same instant may
    // pass it together, so the limit can be exceeded by a few, never more.
    let max = state.config.max_viewers_per_bin;
    if state.hub.viewers(bin) >= max {
        return Err(AppError::TooManyViewers(max));
    }
    // Subscribe before answering the upgrade: once the client sees its
    // handshake complete, every later capture reaches it.
    let subscription = state.hub.subscribe(bin);
    Ok(upgrade.on_upgrade(move |socket| async move {
        METRICS.viewer_joined();
        let _listening = params.listen.then(|| state.pending.listener(bin));
        let feed = Feed {
            bin,
            after: params.after,
            state,
            subscription,
        };
        if let Err(e) = feed.run(socket).await {
            tracing::debug!(error = %e, "live feed ended");
        }
        METRICS.viewer_left();
    }))
}

struct Feed {
    bin: Uuid,
    after: Option<Uuid>,
    state: AppState,
    subscription: Subscription,
}

impl Feed {
    async fn run(self, mut socket: WebSocket) -> Result<(), axum::Error> {
        let Feed {
            bin,
            after,
            state,
            mut subscription,
        } = self;
        let public_base = state.config.public_base().map(str::to_owned);
        // Subscribed before the backlog is read, so nothing falls in between.
        let sent_up_to = match after {
            Some(after) => {
                backfill(
                    &mut socket,
                    &state.store,
                    bin,
                    after,
                    public_base.as_deref(),
                )
                .await?
            }
            None => None,
        };
        let shutdown: CancellationToken = (*state.shutdown).clone();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = socket.send(Message::Close(None)).await;
                    return Ok(());
                }
                published = subscription.receiver.recv() => match published {
                    // Ids are assigned in commit order, so anything at or
                    // below the backlog's last id was in the backlog.
                    Ok(p) if sent_up_to.is_some_and(|last| p.id <= last) => {}
                    Ok(p) => socket.send(Message::Text((&*p.message).into())).await?,
                    Err(RecvError::Lagged(_)) => socket.send(Message::Text(LAGGED.into())).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                incoming = socket.recv() => match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => socket.send(Message::Ping(Default::default())).await?,
            }
        }
    }
}

/// Sends every stored request after `after`; returns the last id sent.
async fn backfill(
    socket: &mut WebSocket,
    store: &Store,
    bin: Uuid,
    after: Uuid,
    public_base: Option<&str>,
) -> Result<Option<Uuid>, axum::Error> {
    let mut last = Some(after);
    loop {
        let batch = match store.requests_after(bin, last, BACKFILL_CHUNK).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "live feed backlog read failed");
                socket.send(Message::Text(LAGGED.into())).await?;
                return Ok(last);
            }
        };
        for req in &batch {
            socket
                .send(Message::Text(feed_message(req, public_base).into()))
                .await?;
            last = Some(req.id);
        }
        if batch.len() < BACKFILL_CHUNK as usize {
            return Ok(last);
        }
    }
}
