//! `GET /live/{bin}`: a websocket that sends each new request of the bin as
//! `{"type":"request","request":{…},"row":{…}}`. With `?after={request id}`
//! it first sends every stored request after that one, so a client that
//! reconnects misses nothing (the nil UUID asks for the whole history).
//! What it sends is the bin's [`Feed`]. When the feed lagged it first sends
//! `{"type":"lagged"}` (the dashboard reloads, a forwarder resumes from its
//! cursor; other clients may just read on: what they missed follows).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::feed::{Feed, JoinError, Start, Update, LAGGED_MESSAGE};
use crate::error::AppError;
use crate::extract::BinPath;
use crate::state::AppState;

/// How often an idle socket is pinged so proxies keep it open.
const PING_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
pub struct LiveParams {
    after: Option<Uuid>,
    /// A forwarder that relays its app's answers: captures wait for them
    /// (`?listen=true`, webhook.site's word).
    #[serde(default, rename = "listen")]
    answers: bool,
}

/// Every live transport refuses a viewer the same way.
impl From<JoinError> for AppError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::TooManyViewers(max) => AppError::TooManyViewers(max),
            JoinError::Store(e) => AppError::Store(e),
        }
    }
}

pub async fn handle(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Query(params): Query<LiveParams>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let bin = bin.id;
    let start = params.after.map_or(Start::Now, Start::After);
    // Joined before answering the upgrade: once the client sees its
    // handshake complete, every later capture reaches it.
    let feed = super::join(&state, bin, start).await?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _answering = params.answers.then(|| state.pending.answerer(bin));
        if let Err(e) = send_feed(feed, &state, socket).await {
            tracing::debug!(error = %e, "live feed ended");
        }
    }))
}

async fn send_feed(
    mut feed: Feed,
    state: &AppState,
    mut socket: WebSocket,
) -> Result<(), axum::Error> {
    let public_base = state.config.public_base();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return Ok(());
            }
            update = feed.next() => match update {
                Some(Update::Request(published)) => {
                    let text = published.feed_message(public_base);
                    socket.send(Message::Text(text.into())).await?;
                }
                Some(Update::Lagged | Update::Missed) => {
                    socket.send(Message::Text(LAGGED_MESSAGE.into())).await?;
                }
                None => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => socket.send(Message::Ping(Default::default())).await?,
        }
    }
}
