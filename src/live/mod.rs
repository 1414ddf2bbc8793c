//! Live feed: the [`Hub`], the websocket that streams a bin's requests to
//! dashboards and forwarders, and the smee-compatible event stream.

mod hub;
mod socket;
pub mod sse;

pub use hub::{Hub, Published, Subscription};
pub use socket::{feed_message, handle};
