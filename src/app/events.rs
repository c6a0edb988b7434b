//! The platform event hub: one broadcast channel; each SSE client holds its own bounded
//! receiver, and a client that falls behind is dropped (it resumes with `Last-Event-ID` from
//! the events table).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::events::Event;

/// How many events a slow client may fall behind before it is disconnected.
pub const CLIENT_BUFFER: usize = 256;

pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventHub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(CLIENT_BUFFER);
        EventHub { tx }
    }
}

impl EventHub {
    /// Publishes an event that is already stored (so a reconnecting client can find it).
    pub fn publish(&self, e: Event) {
        let _ = self.tx.send(Arc::new(e));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// How many streams are listening now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}
