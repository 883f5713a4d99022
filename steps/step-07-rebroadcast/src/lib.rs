//! Step 07 — the lesson's end: a chat. One client publishes a message and
//! the server sends it to every connected client, the sender included.
//!
//! Each connection subscribes to one shared [`hub::Hub`] (a
//! `tokio::sync::broadcast` channel); a `message` from a client is published
//! into it once, and every connection's task forwards it to its own browser
//! tab. Steps 05 and 06's demo ticker and button are gone: this page is a
//! chat. Run it with `cargo run -p step-07-rebroadcast`, open
//! <http://localhost:3000> in two tabs, and read `notes/07-rebroadcast.md`
//! beside this file.
//!
//! # Layout
//! - `lib.rs` (this file): the router, the shared state, and the start and
//!   end of each connection.
//! - [`connection`]: the life of one connection.
//! - [`hub`]: the broadcast channel every connection listens to.
//! - [`protocol`]: the JSON envelope `{"event", "data"}`, both ways.
//! - [`ids`]: connection ids, unique and unguessable.

pub mod connection;
pub mod hub;
pub mod ids;
pub mod protocol;

use std::path::{Path, PathBuf};

use axum::{
    Router,
    extract::{
        State,
        ws::{WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::sync::watch;
use tower_http::{
    services::{ServeDir, ServeFile},
    trace::TraceLayer,
};
use tracing::{info, warn};

use crate::{connection::Connection, hub::Hub, ids::ConnectionId};

/// The largest message a client may send: 16 KiB.
///
/// The server refuses anything bigger as soon as it reads the frame's length,
/// before reading the frame itself, so a client cannot make it hold megabytes
/// in memory. The client then gets a close frame with code 1009 ("message too
/// big") and `socket.js` reconnects.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// What every connection's handler shares: the chat hub and one piece of
/// bookkeeping.
///
/// Cloning is cheap (two handles to shared things), and axum clones the state
/// for every request, so each connection holds its own copy of the handles.
#[derive(Clone)]
pub struct AppState {
    /// How many connections are open right now, i.e. how many
    /// [`handle_connection`] calls are still running.
    ///
    /// A `watch` channel rather than a plain counter so that a test can
    /// *wait* for a value ("until it is back to 0, or fail after 5 s") instead
    /// of sleeping and then looking. Only [`LiveConnection`] changes it.
    pub live_connections: watch::Sender<usize>,
    /// The chat: every connection subscribes to it, and every `message` is
    /// published into it once.
    pub hub: Hub,
}

impl AppState {
    /// A fresh state: no connections yet, and an empty chat.
    pub fn new() -> Self {
        AppState {
            live_connections: watch::Sender::new(0),
            hub: Hub::new(),
        }
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
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

/// This step's page: `public/step-07-rebroadcast/` at the root of the
/// repository, found from the crate's own directory so `cargo run` works from
/// anywhere.
pub fn public_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/step-07-rebroadcast")
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
/// callback and its `socket.on("disconnect", ...)`.
///
/// Each connection runs in its own task, so waiting for this client's next
/// frame here does not hold up any other client.
pub async fn handle_connection(socket: WebSocket, id: ConnectionId, state: AppState) {
    // Counted before the client hears anything, so a client that has its id
    // is always in the count; counted down when `_live` is dropped, at the
    // end of this function, however it ends.
    let _live = LiveConnection::start(&state.live_connections);
    info!("a user connected {id}");
    let ending = Connection::new(socket, id.clone(), state.hub.clone())
        .run()
        .await;
    // Reached however the connection ended — a close frame, a dropped TCP
    // connection, an error — because `run` returns why it ended instead of
    // logging it. `reason` is a separate field, so the message stays the
    // lesson's exact words.
    let reason = ending.to_string();
    info!(reason, "user disconnected {id}");
}
