//! Live feed: the [`hub::Hub`] (fan-out of new requests), the [`feed::Feed`] every
//! live transport shares (viewer limit, backfill, catching up after a lag),
//! and two transports: the websocket that streams a bin's requests to
//! dashboards and forwarders, and the smee-compatible event stream. The
//! third, webhook.site CLI's channel, is `api::echo`.

pub mod feed;
pub mod hub;
mod socket;
pub mod sse;

pub use socket::handle;

use uuid::Uuid;

use crate::state::AppState;
use feed::{Feed, JoinError, Start};

/// A new viewer of `bin`'s feed, counted against `--max-viewers-per-bin`
/// whichever transport it came by.
pub async fn join(state: &AppState, bin: Uuid, start: Start) -> Result<Feed, JoinError> {
    Feed::join(
        &state.hub,
        &state.store,
        bin,
        state.config.max_viewers_per_bin,
        start,
    )
    .await
}
