//! The hub: in-process fan-out of new requests to the live viewers of their
//! bin. One broadcast channel per bin, created by the first viewer and
//! dropped with the last. Publishing never waits: a viewer that falls more
//! than the channel's capacity behind is told it lagged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;
use uuid::Uuid;

/// Messages a viewer may fall behind before it is told it lagged.
const CHANNEL_CAPACITY: usize = 256;

/// One published request: its id (so a viewer can skip what it already
/// sent) and its live-feed message, serialized once for every viewer.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: Uuid,
    pub message: Arc<str>,
}

type Channels = HashMap<Uuid, broadcast::Sender<Published>>;

#[derive(Clone, Default)]
pub struct Hub {
    channels: Arc<Mutex<Channels>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts receiving what is published to `bin` from now on.
    pub fn subscribe(&self, bin: Uuid) -> Subscription {
        let receiver = self
            .lock()
            .entry(bin)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Subscription {
            receiver,
            bin,
            hub: self.clone(),
        }
    }

    /// Live viewers of `bin` right now.
    pub fn viewers(&self, bin: Uuid) -> usize {
        self.lock()
            .get(&bin)
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Sends to the viewers of `bin`. `message` is only built when someone
    /// is watching, so captures into unwatched bins never serialize JSON.
    pub fn publish(&self, bin: Uuid, id: Uuid, message: impl FnOnce() -> String) {
        let Some(sender) = self.lock().get(&bin).cloned() else {
            return;
        };
        let published = Published {
            id,
            message: Arc::from(message()),
        };
        // An error only means the last viewer left in the meantime.
        let _ = sender.send(published);
    }

    fn lock(&self) -> MutexGuard<'_, Channels> {
        // No code path can leave the map half-updated, so poisoning is moot.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A viewer's end of a bin's channel; leaving drops the channel when it was
/// the last viewer.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Published>,
    bin: Uuid,
    hub: Hub,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.hub.lock();
        // This subscription's receiver is still alive here, hence `<= 1`.
        if channels
            .get(&self.bin)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.bin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_viewers_of_the_bin_receive_and_the_last_one_out_drops_the_channel() {
        let hub = Hub::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut viewer = hub.subscribe(a);
        let mut other = hub.subscribe(b);
        let id = Uuid::now_v7();
        hub.publish(a, id, || "hello".into());
        assert_eq!(
            &*viewer.receiver.recv().await.expect("message").message,
            "hello"
        );
        assert!(other.receiver.try_recv().is_err());
        drop(viewer);
        assert_eq!(hub.viewers(a), 0);
        assert!(hub.lock().get(&a).is_none());
        hub.publish(a, id, || unreachable!("nobody watches"));
    }
}
