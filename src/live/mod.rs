//! Live feed: the [`Hub`] and the websocket that streams a bin's requests
//! to dashboards and forwarders.

mod hub;
mod socket;

pub use hub::{Hub, Published, Subscription};
pub use socket::{feed_message, handle};
