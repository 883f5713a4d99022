//! Step 06 — the client speaks: a click on the page's button emits
//! `fromClient`, and the server logs `message received from client <id>`.
//!
//! Everything from step 05 (ids, connect and disconnect logging, bad frames,
//! the size limit, a `fromServer` tick every two seconds, [`AppState`]) stays;
//! [`handle_connection`]'s loop now understands its first client event, the
//! lesson's `socket.on("fromClient", ...)`. Run it with
//! `cargo run -p step-06-client-events`, open <http://localhost:3000>, click
//! the button, and read `notes/06-client-events.md` beside this file.
//!
//! # Layout
//! - `lib.rs` (this file): the router, the app's state, and the life of one
//!   connection with its ticker.
//! - [`protocol`]: the JSON envelope `{"event", "data"}`, both ways.
//! - [`ids`]: connection ids, unique and unguessable.

pub mod ids;
pub mod protocol;

use std::{
    num::NonZeroU64,
    path::{Path, PathBuf},
    time::Duration,
};

use axum::{
    Router,
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::{
    sync::watch,
    time::{Instant, Interval, MissedTickBehavior, interval_at},
};
use tokio_tungstenite::tungstenite;
use tower_http::{
    services::{ServeDir, ServeFile},
    trace::TraceLayer,
};
use tracing::{debug, info, warn};

use crate::{
    ids::ConnectionId,
    protocol::{ClientEvent, ProtocolError, ServerEvent},
};

/// The largest message a client may send: 16 KiB.
///
/// The server refuses anything bigger as soon as it reads the frame's length,
/// before reading the frame itself, so a client cannot make it hold megabytes
/// in memory. The client then gets a close frame with code 1009 ("message too
/// big") and `socket.js` reconnects.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How often each client gets `fromServer` unless `TICK_MS` says otherwise:
/// every 2000 ms, as in the lesson's `setInterval(..., 2000)`.
///
/// `NonZeroU64` because a ticker cannot tick every 0 ms: `main` reads
/// `TICK_MS` as this type, so `TICK_MS=0` is refused when it is parsed, with
/// the same clear sentence as `TICK_MS=abc`.
pub const DEFAULT_TICK_MS: NonZeroU64 = NonZeroU64::new(2000).unwrap();

/// What every connection's handler shares: the app's configuration and its
/// one piece of bookkeeping.
///
/// Cloning is cheap (a `Duration` and a handle to one shared counter), and
/// axum clones the state for every request, so each connection holds its own
/// copy of the handle.
#[derive(Clone)]
pub struct AppState {
    /// How long between two `fromServer` events on one connection. The page
    /// uses 2 s; the tests use a few milliseconds so they finish quickly.
    pub tick_interval: Duration,
    /// How many connections are open right now, i.e. how many
    /// [`handle_connection`] calls (each with its ticker) are still running.
    ///
    /// A `watch` channel rather than a plain counter so that a test can
    /// *wait* for a value ("until it is back to 0, or fail after 5 s") instead
    /// of sleeping and then looking. Only `LiveConnection`, a guard each
    /// connection holds, changes it.
    pub live_connections: watch::Sender<usize>,
}

impl AppState {
    /// A fresh state: ticks every `tick_interval`, no connections yet.
    ///
    /// # Panics
    ///
    /// If `tick_interval` is zero: a ticker cannot tick every 0 ms (tokio's
    /// `interval` would panic in every connection instead). `main` never
    /// passes zero, because it reads `TICK_MS` as a [`NonZeroU64`].
    pub fn new(tick_interval: Duration) -> Self {
        assert!(
            !tick_interval.is_zero(),
            "the tick interval must be longer than zero"
        );
        AppState {
            tick_interval,
            live_connections: watch::Sender::new(0),
        }
    }
}

/// One open connection, counted in [`AppState::live_connections`] for as
/// long as this value exists.
///
/// Counting up is done on creation and counting down in `Drop`, so no way
/// out of a connection — a return, an early `?`, even a panic — can forget to
/// count it down.
struct LiveConnection {
    live_connections: watch::Sender<usize>,
}

impl LiveConnection {
    fn start(live_connections: &watch::Sender<usize>) -> Self {
        // `send_modify` updates the value even when nobody is watching.
        live_connections.send_modify(|count| *count += 1);
        LiveConnection {
            live_connections: live_connections.clone(),
        }
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.live_connections.send_modify(|count| *count -= 1);
    }
}

/// This step's page: `public/step-06-client-events/` at the root of the
/// repository, found from the crate's own directory so `cargo run` works from
/// anywhere.
pub fn public_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/step-06-client-events")
}

/// The browser client shared by steps 04 to 08: `public/socket.js`.
pub fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/socket.js")
}

/// The whole application: the WebSocket at `/ws`, the client script at
/// `/socket.js`, and every other path a file of the page in `folder`.
pub fn app(folder: impl AsRef<Path>, state: AppState) -> Router {
    Router::new()
        .route("/ws", get(upgrade_to_websocket))
        .route_service("/socket.js", ServeFile::new(client_script()))
        .fallback_service(ServeDir::new(folder))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /ws`: answers "101 Switching Protocols" and, from then on, the same
/// TCP connection carries WebSocket frames, handled by [`handle_connection`].
async fn upgrade_to_websocket(
    State(state): State<AppState>,
    upgrade: WebSocketUpgrade,
) -> Response {
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
        .on_upgrade(move |socket| handle_connection(socket, id, state))
}

/// The life of one connection: the Node lesson's `io.on("connection", ...)`
/// callback and its `socket.on("disconnect", ...)`, in one function.
///
/// Each connection runs in its own task, so waiting for this client's next
/// frame here does not hold up any other client.
pub async fn handle_connection(mut socket: WebSocket, id: ConnectionId, state: AppState) {
    // Counted before the client hears anything, so a client that has its id
    // is always in the count; counted down when `_live` is dropped, at the
    // end of this function, however it ends.
    let _live = LiveConnection::start(&state.live_connections);
    info!("a user connected {id}");
    let reason = talk_until_closed(&mut socket, &id, state.tick_interval).await;
    // Reached however the connection ended — a close frame, a dropped TCP
    // connection, an error — because every path out of `talk_until_closed`
    // returns here. `reason` is a separate field, so the message stays the
    // lesson's exact words.
    info!(reason, "user disconnected {id}");
}

/// Greets the client with its id, then sends it `fromServer` on every tick
/// and answers its frames, until the connection ends. Returns why it ended,
/// in a few words for the log.
async fn talk_until_closed(
    socket: &mut WebSocket,
    id: &ConnectionId,
    tick_interval: Duration,
) -> &'static str {
    let hello = ServerEvent::Connect { id: id.clone() };
    if send(socket, hello).await.is_err() {
        return "connection lost before the connect event";
    }

    // The ticker is a local variable of this connection's function, not a
    // task of its own: when the connection ends and this function returns,
    // `ticks` is dropped and stops with it. Nothing can keep ticking for a
    // socket that is gone (the lesson's `setInterval` does; see the note).
    let mut ticks = ticker(tick_interval);

    let mut reason = "connection ended without a close frame";
    // Once the client has sent its close frame, the only thing we may still
    // send is the closing reply, so the ticker falls silent.
    let mut closing = false;
    loop {
        // Wait for whichever comes first: the next tick, or the client's next
        // frame. Both waits can be abandoned safely when the other one wins:
        // a tick or a frame that has not arrived yet is not lost, it is
        // picked up on the next turn of the loop.
        let received = tokio::select! {
            _ = ticks.tick(), if !closing => {
                if send(socket, ServerEvent::FromServer).await.is_err() {
                    return "connection lost while sending";
                }
                continue;
            }
            received = socket.recv() => received,
        };
        // `None`: the connection is over (after a close frame, or cut).
        let Some(received) = received else {
            return reason;
        };
        // A frame the server understands is handled and needs no reply; any
        // other frame is answered with an `error` event saying what was wrong,
        // and the loop goes on reading: one bad frame does not end the
        // connection.
        let reply = match received {
            Ok(Message::Text(text)) => match protocol::parse_client_frame(&text) {
                // The lesson's `socket.on("fromClient", () => console.log(...))`.
                Ok(ClientEvent::FromClient) => {
                    info!("message received from client {id}");
                    continue;
                }
                Err(error) => ServerEvent::from(error),
            },
            Ok(Message::Binary(_)) => ServerEvent::from(ProtocolError::BinaryFrame),
            // Pings are answered with pongs by the WebSocket library itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            // The client said goodbye. We keep reading: the library sends our
            // closing reply on the next read, and then `recv` returns `None`.
            Ok(Message::Close(_)) => {
                reason = "client closed the connection";
                closing = true;
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
