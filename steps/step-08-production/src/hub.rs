//! The hub: where one client's message becomes everyone's message.
//!
//! The Node lesson's `io.emit("message", ...)` sends to every connected
//! socket. Here every connection subscribes to one
//! [`tokio::sync::broadcast`] channel, and publishing is a single `send` into
//! it. Because there is one channel, every client sees the messages in the
//! same order. See `notes/07-rebroadcast.md` for the picture, and
//! `notes/08-production.md` for what step 08 does with a client that falls
//! behind.
//!
//! The hub also keeps the one limit that belongs to the whole chat rather
//! than to one client: `MAX_PUBLISHED_BYTES_PER_SECOND`. Every client
//! receives every message, so what the hub publishes in a second is what
//! each client must take in that second, however many clients send.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::{
    ids::ConnectionId,
    protocol::ServerEvent,
    rate_limit::{TokenBucket, Verdict},
};

/// One broadcast channel of ready-to-send frames.
///
/// Cloning a `Hub` gives another handle to the same channel (it is part of
/// the cloned `AppState`).
#[derive(Clone, Debug)]
pub struct Hub {
    /// The frames travel as `Utf8Bytes`: a reference-counted buffer, so the
    /// JSON is written once per message and every client's copy is the same
    /// bytes, not a new string per client.
    sender: broadcast::Sender<Utf8Bytes>,
    /// The chat's byte budget, shared by every connection (see
    /// [`Hub::publish_within`]). A `std::sync::Mutex`: it is held for a
    /// subtraction, never across an `.await`. `None` until the first
    /// message is published within a budget.
    published_bytes: Arc<Mutex<Option<TokenBucket>>>,
}

/// The chat's byte budget is spent for now: the message was not published.
#[derive(Debug, PartialEq, Eq)]
pub struct ChatBusy;

impl Hub {
    /// A hub that keeps up to `capacity` messages for clients that have not
    /// taken them yet (`Config::queue_capacity`, 256 by default).
    ///
    /// A client that falls further behind than this is disconnected as too
    /// slow (see `too_far_behind` in `connection.rs`). The buffer is one
    /// ring shared by all clients, not one per client, so the hub never
    /// holds more than `capacity` frames, however many clients stall.
    pub fn new(capacity: usize) -> Self {
        // The channel also returns a first receiver; we drop it, since each
        // connection subscribes for itself.
        let (sender, _receiver) = broadcast::channel(capacity);
        Hub {
            sender,
            published_bytes: Arc::default(),
        }
    }

    /// A new feed of every message published from now on (and none before).
    pub fn subscribe(&self) -> broadcast::Receiver<Utf8Bytes> {
        self.sender.subscribe()
    }

    /// Sends `text` from `from` to every subscribed connection, the sender's
    /// own included. Returns how many connections it was sent to.
    ///
    /// This never waits: the channel stores the frame once and each
    /// connection's task takes it when it is ready, so a slow client cannot
    /// slow down the one who publishes.
    pub fn publish(&self, from: &ConnectionId, text: String) -> usize {
        self.send(message_frame(from, text))
    }

    /// Publishes like [`Hub::publish`] if the frame fits in what is left of
    /// the chat's budget of `bytes_per_second` (`MAX_PUBLISHED_BYTES_PER_SECOND`,
    /// bursts of the same size); otherwise publishes nothing and returns
    /// [`ChatBusy`].
    ///
    /// The budget counts the frame every client receives, envelope and
    /// sender's id included. It is made full by the first message published
    /// through it: the hub is made (in `AppState::new`) with only its ring's
    /// size, and every connection of one server passes the same limit.
    pub fn publish_within(
        &self,
        from: &ConnectionId,
        text: String,
        bytes_per_second: u32,
        now: Instant,
    ) -> Result<usize, ChatBusy> {
        let frame = message_frame(from, text);
        let verdict = {
            // A poisoned lock only means another thread panicked while
            // counting; the count is still a number, so carry on with it.
            let mut budget = self
                .published_bytes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            budget
                .get_or_insert_with(|| TokenBucket::new(bytes_per_second, now))
                .check_cost(frame.len(), now)
        };
        match verdict {
            Verdict::Allow => Ok(self.send(frame)),
            Verdict::Drop { .. } => Err(ChatBusy),
        }
    }

    /// Sends one ready frame to every subscribed connection.
    fn send(&self, frame: Utf8Bytes) -> usize {
        // `send` fails only when nobody is subscribed; the sender always is,
        // so that cannot happen here, and if it did there would be nobody to
        // tell.
        self.sender.send(frame).unwrap_or(0)
    }
}

/// The frame of one chat message, serialised once for every client.
fn message_frame(from: &ConnectionId, text: String) -> Utf8Bytes {
    let event = ServerEvent::Message {
        from: from.clone(),
        text,
    };
    Utf8Bytes::from(event.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chat's budget is shared: once the messages of two senders have
    /// spent it, a third sender's message is refused too, and nothing of it
    /// reaches the feed; time refills the budget for everyone.
    #[test]
    fn the_published_byte_budget_is_shared_by_every_sender() {
        // Arrange: a budget of about two messages of 400 bytes.
        let hub = Hub::new(16);
        let mut feed = hub.subscribe();
        let senders: Vec<ConnectionId> = (0..3)
            .map(|_| ConnectionId::new().expect("the OS gives random bytes"))
            .collect();
        let text = || "x".repeat(400);
        let start = Instant::now();

        // Act
        let first = hub.publish_within(&senders[0], text(), 1000, start);
        let second = hub.publish_within(&senders[1], text(), 1000, start);
        let third = hub.publish_within(&senders[2], text(), 1000, start);
        let later = start + std::time::Duration::from_secs(1);
        let after_a_second = hub.publish_within(&senders[2], text(), 1000, later);

        // Assert
        assert_eq!((first, second), (Ok(1), Ok(1)));
        assert_eq!(third, Err(ChatBusy));
        assert_eq!(after_a_second, Ok(1));
        let published = std::iter::from_fn(|| feed.try_recv().ok()).count();
        assert_eq!(published, 3);
    }
}
