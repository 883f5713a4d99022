//! Step 11 — more than one server: the same chat on several processes
//! ("nodes") that share one conversation through Redis. A message written
//! on one node reaches the members on every node, online lists and
//! nicknames span them all, and a tab whose node died reconnects to
//! another and gets exactly what it missed.
//!
//! With no `REDIS_URL` this is step 10, exactly: one process, SQLite.
//! Everything of step 10 stays, with the same events; `diff -r
//! steps/step-10-delivery steps/step-11-scale-out` is this lesson. Run
//! `redis-server`, then `REDIS_URL=redis://127.0.0.1:6379 PORT=3001 cargo
//! run -p step-11-scale-out` and the same with `PORT=3002`, open a tab on
//! each, and read `notes/11-scale-out.md` beside this file.
//!
//! # Layout
//! - `lib.rs` (this file): the router, the shared state, the admission of a
//!   connection (handshake, origin, connection limit), its start and end,
//!   and `serve`.
//! - [`connection`]: the life of one connection (one task, one `select!`
//!   loop: shutdown, heartbeat, chat feed, client frames).
//! - [`server`]: the HTTP server under the app: a limit on TCP connections,
//!   header timeouts, and a shutdown that ends in bounded time.
//! - [`config`]: every limit, read from the environment, printed at start-up.
//! - [`open_files`]: fitting the limits into the open-file limit at start-up.
//! - [`origin`]: which pages may open a WebSocket here (403 otherwise).
//! - [`handshake`]: the checks of the upgrade request axum leaves out (a
//!   key that is 16 bytes of base64; 426 for another version).
//! - [`static_files`]: the page's files: regular files only, no links out,
//!   and a bad request is a 4xx, never a 500.
//! - [`heartbeat`]: when to ping, and when a silent client is gone.
//! - [`rate_limit`]: the token bucket behind `MAX_MESSAGES_PER_SECOND`.
//! - [`rooms`]: who is where: rooms, nicknames, and each member's inbox.
//! - [`names`]: the rules for nicknames and room names.
//! - [`inbox`]: a connection's queue of private messages.
//! - [`history`]: where messages are kept: SQLite, or Redis (step 11).
//! - [`shared`]: step 11's Redis side: the streams, the claims, the
//!   reader, the notices between nodes, and each node's liveness.
//! - [`store`]: the history in SQLite, written by one thread in batches.
//! - [`sessions`]: the secrets that let a reconnecting tab take its session
//!   back.
//! - [`protocol`]: the JSON envelope `{"event", "data", "ack"}`, both ways.
//! - [`ids`]: connection ids, unique and unguessable.
//! - [`quiet_log`]: log lines a client can cause, at most once a second.

pub mod config;
pub mod connection;
pub mod handshake;
pub mod heartbeat;
pub mod history;
pub mod ids;
pub mod inbox;
pub mod names;
pub mod open_files;
pub mod origin;
pub mod protocol;
pub mod quiet_log;
pub mod rate_limit;
pub mod rooms;
pub mod server;
pub mod sessions;
pub mod shared;
pub mod static_files;
pub mod store;

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
        ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use support::StartupError;
use tokio::{
    net::TcpListener,
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    time::timeout,
};
use tokio_util::{
    sync::CancellationToken,
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};
use tower_http::{
    services::ServeFile,
    trace::{DefaultOnFailure, TraceLayer},
};
use tracing::{Level, info, warn};

use crate::{
    config::Config,
    connection::Connection,
    handshake::check_handshake,
    history::History,
    ids::ConnectionId,
    origin::{OriginRefused, check_origin},
    quiet_log::LogThrottle,
    rate_limit::SharedBudget,
    rooms::Rooms,
    sessions::Sessions,
    shared::{Health, Shared},
    static_files::StaticFiles,
    store::Store,
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
/// them to the socket, while we queue a batch (see
/// [`Connection::write_batch`](connection::Connection)).
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

/// How long a stopping node waits for its goodbye to Redis (step 11): two
/// commands, and the tasks noticing the stop.
const LEAVING_REDIS: Duration = Duration::from_secs(2);

/// What every connection's handler shares: the rooms, the limits, and the
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
    /// Who is where: every room, every nickname, every member's inbox.
    pub rooms: Rooms,
    /// Every message, stored before anyone hears of it: in SQLite, or in
    /// Redis (step 11).
    pub history: History,
    /// The sessions a reconnecting client may take back.
    pub sessions: Sessions,
    /// The limits this server runs with.
    pub config: Arc<Config>,
    /// The chat's budget of published bytes (`MAX_PUBLISHED_BYTES_PER_SECOND`),
    /// spent by every connection before its message is stored.
    published: SharedBudget,
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
    /// The refusals' log lines, at most one a second of each kind: a client
    /// can be refused thousands of times a second.
    refusals: Arc<RefusalLog>,
}

/// One [`LogThrottle`] per kind of refused upgrade.
#[derive(Debug, Default)]
struct RefusalLog {
    origin: LogThrottle,
    full: LogThrottle,
}

impl AppState {
    /// A fresh state on one node: no connections yet, the chat in `store`
    /// (SQLite), and these limits. This is step 10's state.
    pub fn new(config: Config, store: Store) -> Self {
        // A batch's messages reach a room at once: keep it well inside the
        // room's queue (see `Store::limit_batches`).
        store.limit_batches(config.queue_capacity / 2);
        let sessions = Sessions::new(config.delivery.recovery);
        let rooms = Rooms::new(config.queue_capacity);
        AppState::with(
            config,
            History::Local(store),
            rooms,
            sessions,
            CancellationToken::new(),
        )
    }

    /// The state `config` asks for: step 10's, on the SQLite file
    /// `DATABASE_PATH`, when it names no Redis; otherwise a node of a chat
    /// shared through Redis (step 11), whose tasks start now (so this must
    /// be called inside a Tokio runtime). Redis being down is not an error:
    /// the node keeps trying. A database that cannot be opened, or a Redis
    /// URL that cannot be read, is.
    pub fn open(config: Config) -> Result<Self, StartupError> {
        let Some(settings) = config.shared.clone() else {
            let store = Store::open(
                &config.delivery.database_path,
                config.delivery.retention_per_room,
            )
            .map_err(|error| StartupError::Io(io::Error::other(error.to_string())))?;
            return Ok(AppState::new(config, store));
        };
        let sessions = Sessions::new(config.delivery.recovery);
        let shutdown = CancellationToken::new();
        let (shared, rooms) = Shared::start(
            &settings,
            &config.delivery,
            config.queue_capacity,
            &sessions,
            &shutdown,
        )
        .map_err(|sentence| StartupError::Io(io::Error::other(sentence)))?;
        let history = History::Shared(shared);
        Ok(AppState::with(config, history, rooms, sessions, shutdown))
    }

    fn with(
        config: Config,
        history: History,
        rooms: Rooms,
        sessions: Sessions,
        shutdown: CancellationToken,
    ) -> Self {
        AppState {
            live_connections: watch::Sender::new(0),
            rooms,
            history,
            sessions,
            published: SharedBudget::new(config.max_published_bytes_per_second, Instant::now()),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            shutdown,
            connections: TaskTracker::new(),
            refusals: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// Whether this node can serve: always on one node; with Redis, while
    /// Redis answers. The sentence says why not.
    pub fn health(&self) -> Result<(), String> {
        let Some(shared) = self.history.shared() else {
            return Ok(());
        };
        match &*shared.health().borrow() {
            Health::Up => Ok(()),
            Health::Down(why) => Err(why.clone()),
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
        let left = if timeout(grace, self.connections.wait()).await.is_ok() {
            info!("all connections closed");
            0
        } else {
            let left = self.connections.len();
            warn!("{left} connections did not close within {grace:?}; exiting anyway");
            left
        };
        // Step 11: the node's own goodbye to Redis (its users out of every
        // list), bounded like the rest: Redis may be the thing that is gone.
        if let Some(shared) = self.history.shared()
            && timeout(LEAVING_REDIS, shared.stopped()).await.is_err()
        {
            warn!(
                "did not finish leaving Redis within {LEAVING_REDIS:?}; \
                 this node's users leave when its liveness expires"
            );
        }
        left
    }
}

impl AppState {
    /// A state with `config` and a database in memory, which lives as long
    /// as the process: for tests, which must not share a file.
    ///
    /// # Panics
    ///
    /// If SQLite cannot make a database in memory, which only happens when
    /// the machine is out of memory.
    pub fn in_memory(config: Config) -> Self {
        let store = Store::open(Path::new(":memory:"), config.delivery.retention_per_room)
            .expect("SQLite makes a database in memory");
        AppState::new(config, store)
    }
}

impl Default for AppState {
    /// The default limits and a database in memory (see
    /// [`AppState::in_memory`]).
    fn default() -> Self {
        AppState::in_memory(Config::default())
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

/// This step's page: `public/step-11-scale-out/` at the root of the
/// repository, found from the crate's own directory so `cargo run` works from
/// anywhere.
pub fn public_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/step-11-scale-out")
}

/// The browser client shared by steps 04 to 11: `public/socket.js`.
pub fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/socket.js")
}

/// The whole application: the WebSocket at `/ws`, the client script at
/// `/socket.js`, and every other path a file of the page in `folder`.
pub fn app(folder: impl AsRef<Path>, state: AppState) -> Router {
    let files = StaticFiles::new(folder);
    Router::new()
        .route("/ws", get(upgrade_to_websocket))
        .route("/health", get(health))
        .route_service("/socket.js", ServeFile::new(client_script()))
        .fallback(move |request| files.clone().respond(request))
        // `TraceLayer` logs every request at debug level, and by default
        // every 5xx answer again as an ERROR line. Each 5xx here is already
        // logged where it is made, with its reason and at most once a second
        // (a 503 at the connection limit, an unreadable file), so its second
        // line stays at debug: a flood of refusals must not be a flood of
        // ERROR lines.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .with_state(state)
}

/// Serves `app` on `listener` until `stop` resolves (Ctrl-C or SIGTERM in
/// `main`), then stops accepting, closes every WebSocket with 1001 and
/// returns, giving the WebSockets and the HTTP requests in flight at most
/// `shutdown_grace` to finish. See [`server`] for why this is not
/// `axum::serve`.
pub async fn serve(
    listener: TcpListener,
    folder: impl AsRef<Path>,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    server::serve(listener, app(folder, state.clone()), &state, stop).await
}

/// `GET /health`: for a load balancer, whether to send clients here. `200
/// ok`, or `503` and why not (this node cannot reach Redis).
async fn health(State(state): State<AppState>) -> Response {
    match state.health() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => {
            let body = format!(
                "503 Service Unavailable: this node cannot reach Redis ({why}); \
                 it keeps trying, and serves again once Redis answers.\n"
            );
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

/// `GET /ws`: checks the handshake, the origin and the connection limit,
/// then answers "101 Switching Protocols"; from then on the same TCP
/// connection carries WebSocket frames, handled by [`handle_connection`].
///
/// Everything that can refuse a client happens here, *before* the upgrade,
/// so the refusal is a plain HTTP status with a sentence a person can read.
async fn upgrade_to_websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match check_handshake(&headers, upgrade) {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.into_response(),
    };
    let (id, admission) = match admit(&state, &headers) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
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

/// Why [`admit`] refused a connection; each is answered with a status and
/// a sentence a person can read.
enum Refused {
    /// Its page's origin may not connect: 403.
    Origin(OriginRefused),
    /// Already `MAX_CONNECTIONS` (the number): 503.
    Full(usize),
    /// No random bytes for its id: 503.
    NoId,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Origin(refused) => refused.into_response(),
            Refused::Full(max) => {
                let body = format!(
                    "503 Service Unavailable: this server already has its maximum of {max} \
                     connections; try again later.\n"
                );
                (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
            }
            Refused::NoId => (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot make a connection id",
            )
                .into_response(),
        }
    }
}

/// Admits a connection, or says why not: its page's origin, a place under
/// `MAX_CONNECTIONS`, and an id. A refusal is logged at most once a second
/// (with a count of the others), since a client can be refused as often as
/// it likes.
fn admit(state: &AppState, headers: &HeaderMap) -> Result<(ConnectionId, Admission), Refused> {
    let config = &state.config;
    if let Err(refused) = check_origin(headers, &config.allowed_origins, &config.allowed_hosts) {
        if let Some(left_out) = state.refusals.origin.allow() {
            warn!(
                "refusing a WebSocket from origin {}: not allowed{}",
                refused.origin,
                LogThrottle::and_more(left_out)
            );
        }
        return Err(Refused::Origin(refused));
    }
    let Ok(slot) = state.connection_slots.clone().try_acquire_owned() else {
        let max = config.max_connections;
        if let Some(left_out) = state.refusals.full.allow() {
            let more = LogThrottle::and_more(left_out);
            warn!("refusing a WebSocket: already {max} connections (MAX_CONNECTIONS){more}");
        }
        return Err(Refused::Full(max));
    };
    // The id is made before the upgrade so that, if it cannot be made, the
    // browser gets a plain HTTP error instead of a socket that says nothing.
    let id = ConnectionId::new().map_err(|error| {
        warn!("refusing a connection: no random bytes for its id ({error})");
        Refused::NoId
    })?;
    let admission = Admission {
        _slot: slot,
        _tracked: state.connections.token(),
    };
    Ok((id, admission))
}

/// The life of one connection: the Node lesson's `io.on("connection", ...)`
/// callback and its `socket.on("disconnect", ...)`.
///
/// Each connection runs in its own task, so waiting for this client's next
/// frame here does not hold up any other client.
async fn handle_connection(
    socket: WebSocket,
    id: ConnectionId,
    state: AppState,
    _admission: Admission,
) {
    // Counted before the client hears anything, so a client that has its id
    // is always in the count; counted down when `_live` is dropped, at the
    // end of this function, however it ends.
    let _live = LiveConnection::start(&state.live_connections);
    info!("a user connected {id}");
    let ending = Connection::new(socket, id.clone(), &state).run().await;
    // Reached however the connection ended — a close frame, a dropped TCP
    // connection, an error, a limit, shutdown — because `run` returns why it
    // ended instead of logging it. `reason` is a separate field, so the
    // message stays the lesson's exact words.
    let reason = ending.to_string();
    info!(reason, "user disconnected {id}");
}
