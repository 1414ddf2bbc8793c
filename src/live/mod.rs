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
