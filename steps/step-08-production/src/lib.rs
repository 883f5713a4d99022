//! Step 08 — the chat of step 07, made ready for production: it checks who
//! may connect, notices dead connections, limits what one client can cost
//! everyone else, shuts down politely, and fans messages out fast.
//!
//! Same page, same protocol, same `socket.js` as step 07; `diff -r
//! steps/step-07-rebroadcast steps/step-08-production` is this lesson. Run it
//! with `cargo run -p step-08-production` (every limit can be set from the
//! environment, see [`config`]), open <http://localhost:3000> in two tabs, and
//! read `notes/08-production.md` beside this file.
//!
//! # Layout
//! - `lib.rs` (this file): the router, the shared state, the admission of a
//!   connection (origin, connection limit) and the life of one connection (one
//!   task, one `select!` loop: shutdown, heartbeat, chat feed, client frames).
//! - [`config`]: every limit, read from the environment, printed at start-up.
//! - [`origin`]: which pages may open a WebSocket here (403 otherwise).
//! - [`heartbeat`]: when to ping, and when a silent client is gone.
//! - [`rate_limit`]: the token bucket behind `MAX_MESSAGES_PER_SECOND`.
//! - [`hub`]: the broadcast channel every connection listens to.
//! - [`protocol`]: the JSON envelope `{"event", "data"}`, both ways.
//! - [`ids`]: connection ids, unique and unguessable.

pub mod config;
pub mod heartbeat;
pub mod hub;
pub mod ids;
pub mod origin;
pub mod protocol;
pub mod rate_limit;

use std::{
    future::Future,
    io,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{
        State,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    serve::ListenerExt,
};
use futures::SinkExt;
use tokio::{
    net::TcpListener,
    sync::{
        OwnedSemaphorePermit, Semaphore,
        broadcast::error::{RecvError, TryRecvError},
        watch,
    },
    time::{sleep_until, timeout},
};
use tokio_tungstenite::tungstenite;
use tokio_util::{
    sync::CancellationToken,
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};
use tower_http::{
    services::{ServeDir, ServeFile},
    trace::TraceLayer,
};
use tracing::{debug, info, warn};

use crate::{
    config::Config,
    heartbeat::{Beat, Heartbeat},
    hub::Hub,
    ids::ConnectionId,
    origin::check_origin,
    protocol::{ClientEvent, ProtocolError, ServerEvent},
    rate_limit::{TokenBucket, Verdict},
};

/// The largest message a client may send: 16 KiB.
///
/// The server refuses anything bigger as soon as it reads the frame's length,
/// before reading the frame itself, so a client cannot make it hold megabytes
/// in memory. The client then gets a close frame with code 1009 ("message too
/// big") and `socket.js` reconnects.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How many bytes the WebSocket layer reads from a client at a time — and
/// allocates for it up front, for as long as it is connected.
///
/// tungstenite's default is 128 KiB per connection: 1.3 GB for 10,000 idle
/// chat tabs. Clients here send short chat messages, so 1 KiB is plenty; a
/// bigger message (up to [`MAX_MESSAGE_BYTES`]) still works, the buffer just
/// grows for it.
pub const READ_BUFFER_BYTES: usize = 1024;

/// How many outgoing bytes the WebSocket layer collects before it writes
/// them to the socket, while we queue a batch (see [`write_batch`]).
///
/// Bigger means fewer write system calls; but the buffer is kept once it has
/// grown, so it is also memory per active client. 8 KiB holds a batch of
/// typical chat messages.
pub const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// The most outgoing bytes the WebSocket layer may hold for one client
/// (tungstenite's default: no limit). A batch never needs more than
/// [`WRITE_BUFFER_BYTES`] plus one message, so this is a safety net: going
/// past it is an error for that connection, never unbounded memory.
pub const MAX_WRITE_BUFFER_BYTES: usize = WRITE_BUFFER_BYTES + 4 * MAX_MESSAGE_BYTES;

/// At most this many queued messages go into one write (see [`write_batch`]).
///
/// A cap, so that a connection with a long queue still gives its heartbeat,
/// its client's frames and the other tasks on this thread a turn.
pub const BATCH_LIMIT: usize = 64;

/// What every connection's handler shares: the chat hub, the limits, and the
/// bookkeeping that enforces them and shuts down cleanly.
///
/// Cloning is cheap (handles to shared things), and axum clones the state
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
    /// The limits this server runs with.
    pub config: Arc<Config>,
    /// One permit per allowed connection (`MAX_CONNECTIONS`). A connection
    /// takes a permit *before* the upgrade and holds it until it ends, so
    /// the count is exact: no race between "check the count" and "upgrade"
    /// lets two clients take the last place.
    connection_slots: Arc<Semaphore>,
    /// Cancelled when the server starts shutting down. Every connection's
    /// loop waits on it beside its other work, and then says goodbye.
    shutdown: CancellationToken,
    /// Every open connection, so that shutdown can wait until each one has
    /// said goodbye. (axum's graceful shutdown waits for HTTP requests, but
    /// an upgraded WebSocket is no longer a request it knows about.)
    connections: TaskTracker,
}

impl AppState {
    /// A fresh state: no connections yet, an empty chat, and these limits.
    pub fn new(config: Config) -> Self {
        AppState {
            live_connections: watch::Sender::new(0),
            hub: Hub::new(config.queue_capacity),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            config: Arc::new(config),
        }
    }

    /// Tells every connection to close with 1001 "server shutting down", and
    /// waits until all have finished, or until `shutdown_grace` has passed.
    /// Returns how many connections were still open when it gave up (0 when
    /// every one closed in time).
    pub async fn close_all_connections(&self) -> usize {
        // Counted before the signal goes out: once it does, connections
        // start finishing at once and the number would already be shrinking.
        let open = self.connections.len();
        info!("closing {open} connections: sending each \"server shutting down\"");
        self.shutdown.cancel();
        // Closing the tracker means: `wait` may finish once it is empty.
        self.connections.close();
        let grace = self.config.shutdown_grace;
        if timeout(grace, self.connections.wait()).await.is_ok() {
            info!("all connections closed");
            0
        } else {
            let left = self.connections.len();
            warn!("{left} connections did not close within {grace:?}; exiting anyway");
            left
        }
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new(Config::default())
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

/// What an admitted connection holds from before its upgrade until it ends.
/// Dropping it (on any way out) gives the place back to the connection limit
/// and tells the shutdown that this connection is done.
struct Admission {
    _slot: OwnedSemaphorePermit,
    _tracked: TaskTrackerToken,
}

/// This step's page: `public/step-08-production/` at the root of the
/// repository, found from the crate's own directory so `cargo run` works from
/// anywhere.
pub fn public_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/step-08-production")
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

/// Serves `app` on `listener` until `stop` resolves (Ctrl-C or SIGTERM in
/// `main`), then closes every WebSocket with 1001 and returns, giving the
/// WebSockets at most `shutdown_grace` to say goodbye.
pub async fn serve(
    listener: TcpListener,
    folder: impl AsRef<Path>,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Nagle's algorithm holds back a small write until the previous one is
    // acknowledged, which with delayed ACKs adds tens of milliseconds to a
    // chat message. Every frame here is small and meant to go now.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            warn!("cannot turn off Nagle's algorithm for a connection ({error})");
        }
    });
    axum::serve(listener, app(folder, state.clone()))
        // Stop accepting as soon as `stop` resolves, and finish the HTTP
        // requests in flight. An upgraded WebSocket is no longer a request,
        // so axum returns without waiting for those: we close them next.
        .with_graceful_shutdown(stop)
        .await?;
    state.close_all_connections().await;
    Ok(())
}

/// `GET /ws`: checks the origin and the connection limit, then answers "101
/// Switching Protocols"; from then on the same TCP connection carries
/// WebSocket frames, handled by [`handle_connection`].
///
/// Everything that can refuse a client happens here, *before* the upgrade,
/// so the refusal is a plain HTTP status with a sentence a person can read.
async fn upgrade_to_websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = check_origin(&headers, &state.config.allowed_origins) {
        warn!(
            "refusing a WebSocket from origin {}: not allowed",
            refused.origin
        );
        return refused.into_response();
    }
    let Ok(slot) = state.connection_slots.clone().try_acquire_owned() else {
        let max = state.config.max_connections;
        warn!("refusing a WebSocket: already {max} connections (MAX_CONNECTIONS)");
        let body = format!(
            "503 Service Unavailable: this server already has its maximum of {max} \
             connections; try again later.\n"
        );
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    };
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
    let admission = Admission {
        _slot: slot,
        _tracked: state.connections.token(),
    };
    upgrade
        // Both limits: the frame limit refuses one huge frame as soon as its
        // header is read; the message limit refuses a huge message sent as
        // many small frames.
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // Memory per connection: see each constant for why this size.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| handle_connection(socket, id, state, admission))
}

/// The life of one connection: the Node lesson's `io.on("connection", ...)`
/// callback and its `socket.on("disconnect", ...)`, in one function.
///
/// Each connection runs in its own task, so waiting for this client's next
/// frame here does not hold up any other client.
async fn handle_connection(
    mut socket: WebSocket,
    id: ConnectionId,
    state: AppState,
    _admission: Admission,
) {
    // Counted before the client hears anything, so a client that has its id
    // is always in the count; counted down when `_live` is dropped, at the
    // end of this function, however it ends.
    let _live = LiveConnection::start(&state.live_connections);
    // Subscribe first, before the client hears "connect": from that moment it
    // may count on seeing every message, so the feed must already exist.
    // Subscribing after the greeting would leave a gap in which a message
    // published by someone else reaches everyone but this client.
    let mut feed = state.hub.subscribe();
    info!("a user connected {id}");
    let reason = talk_until_closed(&mut socket, &id, &state, &mut feed).await;
    // Reached however the connection ended — a close frame, a dropped TCP
    // connection, an error, a limit, shutdown — because every path out of
    // `talk_until_closed` returns here. `reason` is a separate field, so the message stays the
    // lesson's exact words.
    info!(reason, "user disconnected {id}");
}

/// This connection's view of the hub: the frames published since it
/// subscribed, oldest first.
type Feed = tokio::sync::broadcast::Receiver<Utf8Bytes>;

/// Greets the client with its id, then forwards every chat message from the
/// hub to this client and answers this client's frames, until the connection
/// ends — and meanwhile pings it, and says goodbye if the server shuts down.
/// Returns why it ended, in a few words for the log.
///
/// One task does all of it, rather than a reader task and a writer task: one
/// task is less memory per connection, and there is no second task to stop
/// when the first one ends.
async fn talk_until_closed(
    socket: &mut WebSocket,
    id: &ConnectionId,
    state: &AppState,
    feed: &mut Feed,
) -> String {
    let config = &state.config;
    // How long any write to this client may take; see `Config::heartbeat_timeout`.
    let patience = config.heartbeat_timeout;
    let hello = ServerEvent::Connect { id: id.clone() };
    if send(socket, hello, patience).await.is_err() {
        return "connection lost before the connect event".into();
    }

    let mut rate_limit = TokenBucket::new(config.max_messages_per_second, Instant::now());
    let mut heartbeat = Heartbeat::new(config.heartbeat_interval, patience, Instant::now());
    // One timer and one shutdown listener for the whole connection, made once
    // and polled again on every turn of the loop: making new ones for every
    // message would register and unregister them every time.
    let heartbeat_timer = sleep_until(heartbeat.deadline().into());
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(heartbeat_timer, shutdown);

    let mut reason = "connection ended without a close frame";
    // Once the client has sent its close frame, the only thing we may still
    // send is the closing reply, so the chat falls silent.
    let mut closing = false;
    loop {
        // Wait for whichever comes first: shutdown, the heartbeat timer, the
        // next chat message from the hub, or the client's next frame. All
        // four waits are cancel-safe, so each can be abandoned when another
        // one wins: `cancelled()` and the timer can simply be polled again,
        // `broadcast::Receiver::recv` keeps its place in the channel, and
        // `WebSocket::recv` keeps a half-read frame in its buffer. Nothing is
        // lost; it is picked up on the next turn of the loop.
        let received = tokio::select! {
            // `biased`: look in this order. Shutdown and the heartbeat first,
            // so a busy connection still hears them; then the feed, so a
            // client whose own messages are waiting to come back is sent those
            // before we read more from it, and nobody can publish faster than
            // they receive.
            biased;
            () = &mut shutdown => {
                say_goodbye(socket, close_code::AWAY, "server shutting down", config.shutdown_grace).await;
                return "server shutting down".into();
            }
            () = &mut heartbeat_timer => match heartbeat.deadline_passed(Instant::now()) {
                Beat::SendPing => {
                    if send_within(socket, Message::Ping(Default::default()), patience).await.is_err() {
                        return too_slow_to_write(id, patience);
                    }
                    heartbeat_timer.as_mut().reset(heartbeat.deadline().into());
                    continue;
                }
                Beat::PeerIsGone => {
                    let reason = format!("no answer to a ping within {} ms", patience.as_millis());
                    warn!("dropping {id}: {reason}");
                    return reason;
                }
            },
            published = feed.recv(), if !closing => {
                let batch = match published {
                    Ok(frame) => write_batch(socket, frame, feed, patience).await,
                    Err(RecvError::Lagged(missed)) => Batch::FellBehind(missed),
                    // Every connection holds the hub, so it outlives them
                    // all; if it ever closed, there would be nothing left to
                    // forward.
                    Err(RecvError::Closed) => return "the chat hub closed".into(),
                };
                match batch {
                    Batch::Written => continue,
                    Batch::FellBehind(missed) => return too_far_behind(socket, id, missed, patience).await,
                    Batch::Stuck => return too_slow_to_write(id, patience),
                    Batch::Failed => return "connection lost while sending".into(),
                }
            }
            received = socket.recv() => received,
        };
        // `None`: the connection is over (after a close frame, or cut).
        let Some(received) = received else {
            return reason.into();
        };
        // Any frame at all proves the client is alive, not only a pong.
        if heartbeat.heard_from_client(Instant::now()) {
            heartbeat_timer.as_mut().reset(heartbeat.deadline().into());
        }
        // A frame the server understands is handled and needs no reply; any
        // other frame is answered with an `error` event saying what was wrong,
        // and the loop goes on reading: one bad frame does not end the
        // connection.
        let reply = match received {
            Ok(Message::Text(text)) => match rate_limit.check(Instant::now()) {
                Verdict::Allow => match protocol::parse_client_frame(&text) {
                    // The lesson's `socket.on("message", (text) => io.emit(...))`.
                    Ok(ClientEvent::Message { text }) => {
                        let receivers = state.hub.publish(id, text);
                        // `debug`, not step 07's `info`: under load, a line
                        // per message costs more than the message.
                        debug!("message from {id} sent to {receivers} clients");
                        // It comes back to this client through its feed, in the
                        // same order as everyone else sees it.
                        continue;
                    }
                    Err(error) => ServerEvent::from(error),
                },
                Verdict::Drop {
                    first_of_burst: true,
                } => {
                    warn!("{id} is sending too fast; dropping its excess messages");
                    slow_down(config.max_messages_per_second)
                }
                // Told once per burst already: drop it in silence, or a flood
                // of messages would make the server flood back with errors.
                Verdict::Drop {
                    first_of_burst: false,
                } => continue,
            },
            Ok(Message::Binary(_)) => ServerEvent::from(ProtocolError::BinaryFrame),
            // Pings are answered with pongs by the WebSocket library itself; a
            // pong has done its job by arriving (see `heard_from_client`).
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
                refuse_message_too_big(socket, patience).await;
                return "message too big".into();
            }
            // A TCP connection that vanished (browser killed, laptop lid
            // closed, network gone) ends here, not with a close frame; so does
            // a frame that breaks the WebSocket rules. Either way the library
            // can read no further.
            Err(error) => {
                debug!("connection {id} ended: {error}");
                return reason.into();
            }
        };
        if send(socket, reply, patience).await.is_err() {
            return "connection lost while sending".into();
        }
    }
}

/// How writing one batch of chat messages to a client went.
enum Batch {
    /// Every frame was handed to the socket.
    Written,
    /// The client fell more than the hub's capacity behind; it missed this
    /// many messages.
    FellBehind(u64),
    /// The socket took nothing for the whole write timeout: the client is not
    /// reading at all.
    Stuck,
    /// The connection failed.
    Failed,
}

/// Writes `first` and every other message already waiting in `feed` (up to
/// [`BATCH_LIMIT`]) to the client, then flushes once.
///
/// One flush per batch instead of one per message: each flush is a write
/// system call, and under load a client often has several messages waiting.
/// Writing them together is what lets one server keep up with thousands of
/// clients. `feed` only queues a frame in the WebSocket layer's write buffer
/// (which writes out by itself once [`WRITE_BUFFER_BYTES`] are waiting).
///
/// The whole batch must go out within `limit`: a client whose TCP buffers
/// stay full that long is not reading, and must not hold this task forever.
async fn write_batch(
    socket: &mut WebSocket,
    first: Utf8Bytes,
    feed: &mut Feed,
    limit: Duration,
) -> Batch {
    let write = async {
        // `Message::Text(Utf8Bytes)`: the same shared bytes the hub holds,
        // not a copy; every client's frame points at one buffer.
        socket.feed(Message::Text(first)).await?;
        for _ in 1..BATCH_LIMIT {
            match feed.try_recv() {
                Ok(frame) => socket.feed(Message::Text(frame)).await?,
                Err(TryRecvError::Lagged(missed)) => return Ok(Batch::FellBehind(missed)),
                // Nothing more waiting (or the hub closed, which `recv`
                // reports next time): write what we have.
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        socket.flush().await?;
        Ok::<_, axum::Error>(Batch::Written)
    };
    match timeout(limit, write).await {
        Ok(Ok(batch)) => batch,
        Ok(Err(_)) => Batch::Failed,
        Err(_elapsed) => Batch::Stuck,
    }
}

/// Sends one event to this client as a text frame, within `limit`.
async fn send(socket: &mut WebSocket, event: ServerEvent, limit: Duration) -> Result<(), ()> {
    send_within(socket, Message::Text(event.to_json().into()), limit).await
}

/// Sends one frame to this client, or fails if it cannot go out within
/// `limit` (the client's buffers are full and it is not reading).
async fn send_within(socket: &mut WebSocket, message: Message, limit: Duration) -> Result<(), ()> {
    match timeout(limit, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

/// Our policy for a client that fell more than `queue_capacity` messages
/// behind: disconnect it with close code 1008 and a reason saying so.
///
/// The alternative, skipping it ahead (step 07), keeps a client connected
/// that is missing messages and most likely still too slow. Disconnecting is
/// honest: `socket.js` reconnects, and the page shows the reason.
async fn too_far_behind(
    socket: &mut WebSocket,
    id: &ConnectionId,
    missed: u64,
    limit: Duration,
) -> String {
    let reason = format!("too slow: fell {missed} messages behind");
    warn!("disconnecting {id}: {reason}");
    say_goodbye(socket, close_code::POLICY, &reason, limit).await;
    reason
}

/// The reason for a client whose socket took nothing for `limit`.
///
/// No close frame: it could not get through the full buffers either.
fn too_slow_to_write(id: &ConnectionId, limit: Duration) -> String {
    let reason = format!(
        "too slow: took nothing we sent for {} ms",
        limit.as_millis()
    );
    warn!("disconnecting {id}: {reason}");
    reason
}

/// The `error` frame for a client over its message rate.
fn slow_down(per_second: u32) -> ServerEvent {
    ServerEvent::Error {
        message: format!(
            "slow down: at most {per_second} messages per second; \
             the messages beyond that were dropped"
        ),
    }
}

/// Sends a close frame with `code` and `reason`, then reads until the client
/// answers with its own (or `limit` passes), so the connection ends with a
/// proper closing handshake and the client sees why.
async fn say_goodbye(socket: &mut WebSocket, code: u16, reason: &str, limit: Duration) {
    let close = CloseFrame {
        code,
        reason: reason.into(),
    };
    let handshake = async {
        socket.send(Message::Close(Some(close))).await?;
        // What the client sent before it saw our close frame is dropped; its
        // close reply ends the stream.
        while let Some(Ok(_)) = socket.recv().await {}
        Ok::<(), axum::Error>(())
    };
    // If the client is already gone, or too slow to answer, there is nobody
    // left to wait for.
    let _ = timeout(limit, handshake).await;
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
async fn refuse_message_too_big(socket: &mut WebSocket, limit: Duration) {
    let close = CloseFrame {
        code: close_code::SIZE,
        reason: format!("message too big: the limit is {MAX_MESSAGE_BYTES} bytes").into(),
    };
    // If the client is already gone there is nobody left to tell.
    let _ = send_within(socket, Message::Close(Some(close)), limit).await;
}
