//! Step 04 — upgrade to a WebSocket, give every connection an id, and log
//! when it connects and disconnects.
//!
//! The Node lesson's `io.on("connection", (socket) => ...)` becomes a route,
//! `GET /ws`, that turns the HTTP request into a WebSocket and hands it to
//! [`handle_connection`], which runs for as long as that browser tab stays
//! connected. Run it with `cargo run -p step-04-connect-logging`, open
//! <http://localhost:3000> in two tabs, and read `notes/04-connect-logging.md`
//! beside this file.
//!
//! # Layout
//! - `lib.rs` (this file): the router and the life of one connection.
//! - [`protocol`]: the JSON envelope `{"event", "data"}`, both ways.
//! - [`ids`]: connection ids, unique and unguessable.

pub mod ids;
pub mod protocol;

use std::path::{Path, PathBuf};

use axum::{
    Router,
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use tokio_tungstenite::tungstenite;
use tower_http::{
    services::{ServeDir, ServeFile},
    trace::TraceLayer,
};
use tracing::{debug, info, warn};

use crate::{
    ids::ConnectionId,
    protocol::{ProtocolError, ServerEvent},
};

/// The largest message a client may send: 16 KiB.
///
/// The server refuses anything bigger as soon as it reads the frame's length,
/// before reading the frame itself, so a client cannot make it hold megabytes
/// in memory. The client then gets a close frame with code 1009 ("message too
/// big") and `socket.js` reconnects.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// This step's page: `public/step-04-connect-logging/` at the root of the
/// repository, found from the crate's own directory so `cargo run` works from
/// anywhere.
pub fn public_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/step-04-connect-logging")
}

/// The browser client shared by steps 04 to 08: `public/socket.js`.
pub fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/socket.js")
}

/// The whole application: the WebSocket at `/ws`, the client script at
/// `/socket.js`, and every other path a file of the page in `folder`.
pub fn app(folder: impl AsRef<Path>) -> Router {
    Router::new()
        .route("/ws", get(upgrade_to_websocket))
        .route_service("/socket.js", ServeFile::new(client_script()))
        .fallback_service(ServeDir::new(folder))
        .layer(TraceLayer::new_for_http())
}

/// `GET /ws`: answers "101 Switching Protocols" and, from then on, the same
/// TCP connection carries WebSocket frames, handled by [`handle_connection`].
async fn upgrade_to_websocket(upgrade: WebSocketUpgrade) -> Response {
    // The id is made before the upgrade so that, if it cannot be made, the
    // browser gets a plain HTTP error instead of a socket that says nothing.
    let id = match ConnectionId::new() {
        Ok(id) => id,
        Err(error) => {
            warn!("refusing a connection: no random bytes for its id ({error})");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot make a connection id",
            )
                .into_response();
        }
    };
    upgrade
        // Both limits: the frame limit refuses one huge frame as soon as its
        // header is read; the message limit refuses a huge message sent as
        // many small frames.
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| handle_connection(socket, id))
}

/// The life of one connection: the Node lesson's `io.on("connection", ...)`
/// callback and its `socket.on("disconnect", ...)`, in one function.
///
/// Each connection runs in its own task, so waiting for this client's next
/// frame here does not hold up any other client.
pub async fn handle_connection(mut socket: WebSocket, id: ConnectionId) {
    info!("a user connected {id}");
    let reason = talk_until_closed(&mut socket, &id).await;
    // Reached however the connection ended — a close frame, a dropped TCP
    // connection, an error — because every path out of `talk_until_closed`
    // returns here. `reason` is a separate field, so the message stays the
    // lesson's exact words.
    info!(reason, "user disconnected {id}");
}

/// Greets the client with its id, then answers its frames until the
/// connection ends. Returns why it ended, in a few words for the log.
async fn talk_until_closed(socket: &mut WebSocket, id: &ConnectionId) -> &'static str {
    let hello = ServerEvent::Connect { id: id.clone() };
    if send(socket, hello).await.is_err() {
        return "connection lost before the connect event";
    }

    // In step 04 the server understands no event from the client, so every
    // frame it sends is answered with an `error` event saying what was wrong
    // (steps 06 and 07 teach it some events).
    let mut reason = "connection ended without a close frame";
    while let Some(received) = socket.recv().await {
        let reply = match received {
            Ok(Message::Text(text)) => match protocol::parse_client_frame(&text) {
                // `ClientEvent` has no variants yet, so there is nothing to match.
                Ok(event) => match event {},
                Err(error) => ServerEvent::from(error),
            },
            Ok(Message::Binary(_)) => ServerEvent::from(ProtocolError::BinaryFrame),
            // Pings are answered with pongs by the WebSocket library itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            // The client said goodbye. We keep reading: the library sends our
            // closing reply on the next read, and then `recv` returns `None`.
            Ok(Message::Close(_)) => {
                reason = "client closed the connection";
                continue;
            }
            Err(error) if is_message_too_big(&error) => {
                // We cannot read past the rest of the oversized message (that
                // would mean buffering it), so we say why and hang up.
                warn!("closing {id}: it sent more than {MAX_MESSAGE_BYTES} bytes in one message");
                refuse_message_too_big(socket).await;
                return "message too big";
            }
            // A TCP connection that vanished (browser killed, laptop lid
            // closed, network gone) ends here, not with a close frame; so does
            // a frame that breaks the WebSocket rules. Either way the library
            // can read no further.
            Err(error) => {
                debug!("connection {id} ended: {error}");
                return reason;
            }
        };
        if send(socket, reply).await.is_err() {
            return "connection lost while sending";
        }
    }
    reason
}

/// Sends one event to this client as a text frame.
async fn send(socket: &mut WebSocket, event: ServerEvent) -> Result<(), axum::Error> {
    socket.send(Message::Text(event.to_json().into())).await
}

/// Whether reading failed because the client sent more than
/// [`MAX_MESSAGE_BYTES`].
///
/// axum wraps the WebSocket library's error; we look inside for
/// tungstenite's own "capacity" error, the one its size limits raise.
fn is_message_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

/// Closes the connection with code 1009, "message too big".
///
/// The WebSocket library only reports the error to us; without this, the
/// client would see its connection cut with no reason given.
async fn refuse_message_too_big(socket: &mut WebSocket) {
    let close = CloseFrame {
        code: close_code::SIZE,
        reason: format!("message too big: the limit is {MAX_MESSAGE_BYTES} bytes").into(),
    };
    // If the client is already gone there is nobody left to tell.
    let _ = socket.send(Message::Close(Some(close))).await;
}
