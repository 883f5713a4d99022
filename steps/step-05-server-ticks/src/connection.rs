//! The life of one connection, from its `connect` greeting to its last frame:
//! the lesson's `io.on("connection", (socket) => ...)` callback as a struct.
//!
//! A [`Connection`] owns everything that belongs to one client: its socket,
//! its id, its ticker and whether it is closing. [`Connection::run`] is one
//! `select!` loop that waits for whichever comes first — the next tick or the
//! client's next frame — and hands it to one method per branch. Each method
//! says how the loop goes on: [`ControlFlow::Continue`], or
//! [`ControlFlow::Break`] with the [`Ending`] that is logged as the reason.
//!
//! Why this shape: every later step adds to a connection (a client event in
//! step 06, a chat feed in 07, a heartbeat and limits in 08). Here each of
//! those is a field, a branch with its method, or one arm of
//! [`Connection::on_event`], and `run` stays one screen. Read
//! `notes/05-server-ticks.md` beside this file.

use std::{fmt, ops::ControlFlow, time::Duration};

use axum::{
    Error,
    extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
};
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};
use tokio_tungstenite::tungstenite;
use tracing::{debug, warn};

use crate::{
    MAX_MESSAGE_BYTES,
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
            Ending::MessageTooBig => "message too big",
        })
    }
}

/// What a branch of the loop decides: go on, or end with this reason.
type Next = ControlFlow<Ending>;

/// One client's connection and everything that belongs to it.
pub struct Connection {
    /// The upgraded socket: frames from the client in, events out.
    socket: WebSocket,
    /// This connection's id, sent in `connect` and written in every log line.
    id: ConnectionId,
    /// When the next `fromServer` is due. A field of the connection, not a
    /// task of its own: when the connection ends, the ticker is dropped with
    /// it. Nothing can keep ticking for a socket that is gone (the lesson's
    /// `setInterval` does; see the note).
    ticks: Interval,
    /// Set when the client has sent its close frame. From then on the only
    /// thing we may still send is the closing reply, so the ticker falls
    /// silent.
    closing: bool,
}

impl Connection {
    /// A connection for `socket`, ticking every `tick_interval`.
    pub fn new(socket: WebSocket, id: ConnectionId, tick_interval: Duration) -> Self {
        Connection {
            socket,
            id,
            ticks: ticker(tick_interval),
            closing: false,
        }
    }

    /// Greets the client with its id, then sends it `fromServer` on every
    /// tick and answers its frames, until the connection ends. Returns why it
    /// ended.
    pub async fn run(mut self) -> Ending {
        let hello = ServerEvent::Connect {
            id: self.id.clone(),
        };
        if self.send(hello).await.is_err() {
            return Ending::LostBeforeGreeting;
        }
        loop {
            // Wait for whichever comes first: the next tick, or the client's
            // next frame. Both waits can be abandoned safely when the other
            // one wins: a tick or a frame that has not arrived yet is not
            // lost, it is picked up on the next turn of the loop.
            let next = tokio::select! {
                _ = self.ticks.tick(), if !self.closing => self.on_tick().await,
                received = self.socket.recv() => self.on_frame(received).await,
            };
            if let ControlFlow::Break(ending) = next {
                return ending;
            }
        }
    }

    /// A tick: the lesson's `socket.emit("fromServer")`.
    async fn on_tick(&mut self) -> Next {
        self.send_or_end(ServerEvent::FromServer).await
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

    /// One client event, one arm. The server understands no event from the
    /// client yet, so there is no arm (steps 06 and 07 add them).
    async fn on_event(&mut self, event: ClientEvent) -> Next {
        match event {}
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

/// A ticker that fires every `period`, the first time one `period` from now.
///
/// Like `setInterval`: `tokio::time::interval` would fire at once, so a
/// client would get `fromServer` in the same instant as `connect`. And if the
/// server falls behind (a slow client, a busy machine), `Delay` sends the
/// next tick one full `period` later instead of a burst of ticks to catch up,
/// which a page would show as several `div`s at once.
fn ticker(period: Duration) -> Interval {
    let mut ticks = interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
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
            (Ending::MessageTooBig, "message too big"),
        ];
        for (ending, words) in cases {
            assert_eq!(ending.to_string(), words, "{ending:?}");
        }
    }
}
