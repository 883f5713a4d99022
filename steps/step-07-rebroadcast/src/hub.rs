//! The hub: where one client's message becomes everyone's message.
//!
//! The Node lesson's `io.emit("message", ...)` sends to every connected
//! socket. Here every connection subscribes to one
//! [`tokio::sync::broadcast`] channel, and publishing is a single `send` into
//! it. Because there is one channel, every client sees the messages in the
//! same order. See `notes/07-rebroadcast.md` for the picture and the lag
//! policy.

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::{ids::ConnectionId, protocol::ServerEvent};

/// How many messages the hub keeps for a client that has not taken them yet.
///
/// A client that falls further behind than this skips ahead to the oldest
/// message still kept and is told how many it missed (see the
/// `RecvError::Lagged` arm in `talk_until_closed`, in `lib.rs`). The
/// buffer is one ring shared by all clients, not one per client, so the hub
/// never holds more than this many frames, however many clients stall.
pub const HUB_CAPACITY: usize = 256;

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
}

impl Hub {
    /// A hub that keeps up to [`HUB_CAPACITY`] messages for slow clients.
    pub fn new() -> Self {
        // The channel also returns a first receiver; we drop it, since each
        // connection subscribes for itself.
        let (sender, _receiver) = broadcast::channel(HUB_CAPACITY);
        Hub { sender }
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
        let event = ServerEvent::Message {
            from: from.clone(),
            text,
        };
        let frame = Utf8Bytes::from(event.to_json());
        // `send` fails only when nobody is subscribed; the sender always is,
        // so that cannot happen here, and if it did there would be nobody to
        // tell.
        self.sender.send(frame).unwrap_or(0)
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}
