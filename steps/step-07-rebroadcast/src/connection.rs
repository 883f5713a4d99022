//! The life of one connection, from its `connect` greeting to its last frame:
//! the lesson's `io.on("connection", (socket) => ...)` callback as a struct.
//!
//! A [`Connection`] owns everything that belongs to one client: its socket,
//! its id, its feed from the chat hub and whether it is closing.
//! [`Connection::run`] is one `select!` loop that waits for whichever comes
//! first — the next chat message from the hub or the client's next frame —
//! and hands it to one method per branch. Each method says how the loop goes
//! on: [`ControlFlow::Continue`], or [`ControlFlow::Break`] with the
//! [`Ending`] that is logged as the reason.
//!
//! Why this shape: every later step adds to a connection (a client event in
//! step 06, a chat feed in 07, a heartbeat and limits in 08). Here each of
//! those is a field, a branch with its method, or one arm of
//! [`Connection::on_event`], and `run` stays one screen. This step adds a
//! field (the feed), its branch ([`Connection::forward`]) and the `message`
//! arm; the demo ticker of steps 05–06 is gone. Read
//! `notes/07-rebroadcast.md` beside this file.

use std::{fmt, ops::ControlFlow};

use axum::{
    Error,
    extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite;
use tracing::{debug, info, warn};

use crate::{
    MAX_MESSAGE_BYTES,
    hub::Hub,
    ids::ConnectionId,
    protocol::{self, ClientEvent, ProtocolError, ServerEvent},
};

/// Why a connection ended, logged as the `reason` of "user disconnected".
///
/// An enum rather than a string built where it happens: the log words live in
/// one place ([`fmt::Display`] below), a test can match a variant, and a later
/// step that finds a new way to end adds a variant, not a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The connection failed before the client got its `connect` event.
    LostBeforeGreeting,
    /// The client sent a close frame: the polite goodbye of a closed tab.
    ClientClosed,
    /// The TCP connection ended without a close frame (a killed browser, a
    /// lost network) or broke the WebSocket rules.
    NoCloseFrame,
    /// A write to the client failed.
    LostWhileSending,
    /// The chat hub closed. Every connection holds the hub, so it outlives
    /// them all; this would mean there is nothing left to forward.
    HubClosed,
    /// The client sent more than [`MAX_MESSAGE_BYTES`] in one message.
    MessageTooBig,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ending::LostBeforeGreeting => "connection lost before the connect event",
            Ending::ClientClosed => "client closed the connection",
            Ending::NoCloseFrame => "connection ended without a close frame",
            Ending::LostWhileSending => "connection lost while sending",
            Ending::HubClosed => "the chat hub closed",
            Ending::MessageTooBig => "message too big",
        })
    }
}

/// What a branch of the loop decides: go on, or end with this reason.
type Next = ControlFlow<Ending>;

/// A connection's view of the hub: the frames published since it
/// subscribed, oldest first.
type Feed = broadcast::Receiver<Utf8Bytes>;

/// One client's connection and everything that belongs to it.
pub struct Connection {
    /// The upgraded socket: frames from the client in, events out.
    socket: WebSocket,
    /// This connection's id, sent in `connect` and written in every log line.
    id: ConnectionId,
    /// The chat everyone publishes into.
    hub: Hub,
    /// This connection's view of the hub: the frames published since it
    /// subscribed, oldest first.
    feed: Feed,
    /// Set when the client has sent its close frame. From then on the only
    /// thing we may still send is the closing reply, so the chat falls
    /// silent.
    closing: bool,
}

impl Connection {
    /// A connection for `socket`, subscribed to `hub`.
    pub fn new(socket: WebSocket, id: ConnectionId, hub: Hub) -> Self {
        // Subscribe first, before the client hears "connect" (in `run`): from
        // that moment it may count on seeing every message, so the feed must
        // already exist. Subscribing after the greeting would leave a gap in
        // which a message published by someone else reaches everyone but
        // this client.
        let feed = hub.subscribe();
        Connection {
            socket,
            id,
            hub,
            feed,
            closing: false,
        }
    }

    /// Greets the client with its id, then forwards every chat message from
    /// the hub to this client and answers this client's frames, until the
    /// connection ends. Returns why it ended.
    pub async fn run(mut self) -> Ending {
        let hello = ServerEvent::Connect {
            id: self.id.clone(),
        };
        if self.send(hello).await.is_err() {
            return Ending::LostBeforeGreeting;
        }
        loop {
            // Wait for whichever comes first: the next chat message from the
            // hub, or the client's next frame. Both waits can be abandoned
            // safely when the other one wins: a message or a frame that has
            // not arrived yet is not lost, it is picked up on the next turn of
            // the loop.
            let next = tokio::select! {
                // `biased`: look at the feed first. A client whose own
                // messages are waiting to come back is sent those before we
                // read more from it, so nobody can publish faster than they
                // receive.
                biased;
                published = self.feed.recv(), if !self.closing => self.forward(published).await,
                received = self.socket.recv() => self.on_frame(received).await,
            };
            if let ControlFlow::Break(ending) = next {
                return ending;
            }
        }
    }

    /// A chat message from the hub, for this client: the lesson's
    /// `io.emit("message", ...)` arriving at this socket.
    async fn forward(&mut self, published: Result<Utf8Bytes, RecvError>) -> Next {
        let frame = match published {
            Ok(frame) => frame,
            Err(RecvError::Lagged(missed)) => {
                // Our policy for a client that fell more than `HUB_CAPACITY`
                // messages behind: it skips to the oldest message still kept,
                // and we tell it how many it missed. Never end its feed in
                // silence.
                warn!("{} fell behind and missed {missed} messages", self.id);
                missed_messages(missed)
            }
            Err(RecvError::Closed) => return ControlFlow::Break(Ending::HubClosed),
        };
        // A client that does not read makes this wait, once its TCP buffers
        // are full. That holds up this connection's task only: the hub keeps
        // taking messages for everyone else.
        match self.socket.send(Message::Text(frame)).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(Ending::LostWhileSending),
        }
    }

    /// A frame from the client, or `None` when the connection is over (after
    /// a close frame, or cut).
    async fn on_frame(&mut self, received: Option<Result<Message, Error>>) -> Next {
        let Some(received) = received else {
            return ControlFlow::Break(self.ended());
        };
        match received {
            Ok(Message::Text(text)) => self.on_text(text).await,
            Ok(Message::Binary(_)) => self.send_or_end(ProtocolError::BinaryFrame.into()).await,
            // Pings are answered with pongs by the WebSocket library itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => ControlFlow::Continue(()),
            // The client said goodbye. We keep reading: the library sends our
            // closing reply on the next read, and then `recv` returns `None`.
            Ok(Message::Close(_)) => {
                self.closing = true;
                ControlFlow::Continue(())
            }
            Err(error) if is_message_too_big(&error) => {
                // We cannot read past the rest of the oversized message (that
                // would mean buffering it), so we say why and hang up.
                let id = &self.id;
                warn!("closing {id}: it sent more than {MAX_MESSAGE_BYTES} bytes in one message");
                self.refuse_message_too_big().await;
                ControlFlow::Break(Ending::MessageTooBig)
            }
            // A TCP connection that vanished (browser killed, laptop lid
            // closed, network gone) ends here, not with a close frame; so does
            // a frame that breaks the WebSocket rules. Either way the library
            // can read no further.
            Err(error) => {
                debug!("connection {} ended: {error}", self.id);
                ControlFlow::Break(self.ended())
            }
        }
    }

    /// A text frame: one event in the JSON envelope, or an `error` event back
    /// saying what was wrong with it. One bad frame does not end the
    /// connection.
    async fn on_text(&mut self, text: Utf8Bytes) -> Next {
        match protocol::parse_client_frame(&text) {
            Ok(event) => self.on_event(event).await,
            Err(error) => self.send_or_end(error.into()).await,
        }
    }

    /// One client event, one arm: a new event is a variant of
    /// [`ClientEvent`] and an arm here, and nothing else changes.
    async fn on_event(&mut self, event: ClientEvent) -> Next {
        match event {
            // The lesson's `socket.on("message", (text) => io.emit(...))`.
            ClientEvent::Message { text } => {
                let receivers = self.hub.publish(&self.id, text);
                info!("message from {} sent to {receivers} clients", self.id);
                // It comes back to this client through its feed, in the same
                // order as everyone else sees it.
                ControlFlow::Continue(())
            }
        }
    }

    /// Why the connection ended, once the socket can be read no further.
    fn ended(&self) -> Ending {
        if self.closing {
            Ending::ClientClosed
        } else {
            Ending::NoCloseFrame
        }
    }

    /// Sends `event`, and ends the connection if that fails.
    async fn send_or_end(&mut self, event: ServerEvent) -> Next {
        match self.send(event).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(Ending::LostWhileSending),
        }
    }

    /// Sends one event to this client as a text frame.
    async fn send(&mut self, event: ServerEvent) -> Result<(), Error> {
        self.socket
            .send(Message::Text(event.to_json().into()))
            .await
    }

    /// Closes the connection with code 1009, "message too big".
    ///
    /// The WebSocket library only reports the error to us; without this, the
    /// client would see its connection cut with no reason given.
    async fn refuse_message_too_big(&mut self) {
        let close = CloseFrame {
            code: close_code::SIZE,
            reason: format!("message too big: the limit is {MAX_MESSAGE_BYTES} bytes").into(),
        };
        // If the client is already gone there is nobody left to tell.
        let _ = self.socket.send(Message::Close(Some(close))).await;
    }
}

/// The `error` frame for a client that fell behind and skipped `missed`
/// messages.
fn missed_messages(missed: u64) -> Utf8Bytes {
    let error = ServerEvent::Error {
        message: format!(
            "you fell behind and missed {missed} messages; the chat continues from here"
        ),
    };
    error.to_json().into()
}

/// Whether reading failed because the client sent more than
/// [`MAX_MESSAGE_BYTES`].
///
/// axum wraps the WebSocket library's error; we look inside for
/// tungstenite's own "capacity" error, the one its size limits raise.
fn is_message_too_big(error: &Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each ending is logged in the words the notes and the earlier steps
    /// use: the log line is part of the contract.
    #[test]
    fn endings_read_as_the_log_has_always_said() {
        let cases = [
            (
                Ending::LostBeforeGreeting,
                "connection lost before the connect event",
            ),
            (Ending::ClientClosed, "client closed the connection"),
            (
                Ending::NoCloseFrame,
                "connection ended without a close frame",
            ),
            (Ending::LostWhileSending, "connection lost while sending"),
            (Ending::HubClosed, "the chat hub closed"),
            (Ending::MessageTooBig, "message too big"),
        ];
        for (ending, words) in cases {
            assert_eq!(ending.to_string(), words, "{ending:?}");
        }
    }
}
