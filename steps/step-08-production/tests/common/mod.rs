//! Helpers shared by step 08's tests: start the app on a free port, connect a
//! WebSocket client, send and read chat messages, and watch what the server
//! logs.
//!
//! Every wait has a deadline ([`DEADLINE`]), so a bug fails the test quickly
//! instead of hanging it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::{io, net::SocketAddr, sync::OnceLock, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use step_08_production::{AppState, public_folder, serve};
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{broadcast, oneshot},
    task::JoinHandle,
    time::timeout,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, client_async, connect_async, tungstenite::Message,
};
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*};

/// How long any single step of a test may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// How long a client must stay quiet for "nothing more arrives" to hold.
///
/// A test cannot wait forever to prove that a frame never comes, so it waits
/// this long and asserts that nothing came. The server forwards a message in
/// well under a millisecond on loopback, so a stray frame would show up
/// within this window.
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// A test's end of a WebSocket connection.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Starts the app with a fresh [`AppState`] (an empty chat, the default
/// limits).
pub async fn spawn_app() -> SocketAddr {
    spawn_app_with(AppState::default()).await
}

/// Starts the app with `state` on `127.0.0.1:0` (any free port) and returns
/// its address. Keep a clone of `state` to watch its live connections.
///
/// The server runs on the test's own runtime, so it stops when the test ends.
pub async fn spawn_app_with(state: AppState) -> SocketAddr {
    spawn_stoppable(state).await.addr
}

/// A server started by [`spawn_stoppable`].
pub struct StoppableServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Send `()` to start a graceful shutdown, as Ctrl-C does in `main`.
    /// Dropping it does nothing: the server then runs until the test ends.
    pub stop: oneshot::Sender<()>,
    /// Finishes when the server has shut down.
    pub finished: JoinHandle<io::Result<()>>,
}

/// Starts the app with `state` on `127.0.0.1:0` exactly as `main` serves it
/// (with [`serve`]: Nagle off, graceful shutdown), with a shutdown trigger
/// for the test.
pub async fn spawn_stoppable(state: AppState) -> StoppableServer {
    // Capture logs before the server can write any.
    log_lines();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port on loopback");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let (stop, stopped) = oneshot::channel::<()>();
    let finished = tokio::spawn(serve(listener, public_folder(), state, async {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    }));
    StoppableServer {
        addr,
        stop,
        finished,
    }
}

/// Connects to `/ws` and reads the server's greeting; returns the client and
/// the id the server gave it.
pub async fn connect(addr: SocketAddr) -> (Client, String) {
    let (mut client, _response) = timeout(DEADLINE, connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("the WebSocket handshake finishes in time")
        .expect("the server accepts the WebSocket upgrade");
    let hello = next_event(&mut client).await;
    assert_eq!(hello["event"], "connect", "first frame: {hello}");
    let id = hello["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the connect event carries a string id: {hello}"))
        .to_owned();
    (client, id)
}

/// Sends one frame to the server, within [`DEADLINE`].
pub async fn send_frame(client: &mut Client, frame: Message) {
    timeout(DEADLINE, client.send(frame))
        .await
        .expect("the frame is sent in time")
        .expect("the connection is open");
}

/// The next frame the server sends, whatever its kind.
pub async fn next_frame(client: &mut Client) -> Message {
    timeout(DEADLINE, client.next())
        .await
        .expect("the server sends a frame in time")
        .expect("the connection is still open")
        .expect("the frame is valid WebSocket")
}

/// The next frame, which must be a text frame holding JSON.
pub async fn next_event(client: &mut Client) -> Value {
    match next_frame(client).await {
        Message::Text(text) => serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("the server sent JSON ({error}): {text}")),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Waits, up to [`DEADLINE`], until exactly `expected` connections are live
/// on the server of `state`, i.e. that many connection handlers are still
/// running.
pub async fn wait_for_live_connections(state: &AppState, expected: usize) {
    let mut live = state.live_connections.subscribe();
    // `wait_for` fails only if the sender is gone, and `state` holds it.
    let reached = matches!(
        timeout(DEADLINE, live.wait_for(|count| *count == expected)).await,
        Ok(Ok(_))
    );
    assert!(
        reached,
        "live connections did not reach {expected} within {DEADLINE:?} (now {})",
        *live.borrow()
    );
}

/// Publishes `text` to the chat: `{"event":"message","data":"<text>"}`.
pub async fn send_message(client: &mut Client, text: &str) {
    let frame = json!({ "event": "message", "data": text }).to_string();
    send_frame(client, Message::text(frame)).await;
}

/// One chat message as a client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub from: String,
    pub text: String,
}

/// The next frame, which must be a `message` event; returns who sent it and
/// what it says.
pub async fn next_message(client: &mut Client) -> ChatMessage {
    let event = next_event(client).await;
    chat_message(&event).unwrap_or_else(|| panic!("expected a message event, got {event}"))
}

/// `{"event":"message","data":{"from":..,"text":..}}` as a [`ChatMessage`];
/// `None` for any other event.
pub fn chat_message(event: &Value) -> Option<ChatMessage> {
    if event["event"] != "message" {
        return None;
    }
    let from = event["data"]["from"].as_str()?.to_owned();
    let text = event["data"]["text"].as_str()?.to_owned();
    Some(ChatMessage { from, text })
}

/// Asserts that the server sends this client nothing at all for
/// [`QUIET_PERIOD`] (see there for why a bounded wait is the assertion).
pub async fn assert_nothing_arrives(client: &mut Client) {
    if let Ok(frame) = timeout(QUIET_PERIOD, client.next()).await {
        panic!("expected silence for {QUIET_PERIOD:?}, got {frame:?}");
    }
}

// --- slow and stalled clients -------------------------------------------

/// The size of each message's text. 2,000 of them are 16 MB: far more than
/// the kernel will buffer for a client that does not read (a few MB), so the
/// server really has to decide what to do with the rest.
pub const TEXT_BYTES: usize = 8 * 1024;

/// The receive buffer the stalled client asks its kernel for. A fixed size
/// also turns off Linux's automatic growing of the buffer, so how much the
/// kernel holds for the stalled client does not depend on the machine.
pub const STALLED_RECEIVE_BUFFER: u32 = 64 * 1024;

/// The text of message number `index`: its number, then padding.
pub fn text_of(index: usize) -> String {
    format!("{index:04} {}", "x".repeat(TEXT_BYTES))
}

/// The number at the start of a message's text.
pub fn index_of(text: &str) -> usize {
    text.get(..4)
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("a test message starts with its number: {text:.20}"))
}

/// Connects a client with a small, fixed receive buffer and reads its
/// greeting. From here on the test never reads from it: its kernel buffer
/// fills, then the server's send buffer for it, and the server's task for it
/// waits.
pub async fn connect_stalling_client(addr: SocketAddr) -> (Client, String) {
    let socket = TcpSocket::new_v4().expect("make a TCP socket");
    socket
        .set_recv_buffer_size(STALLED_RECEIVE_BUFFER)
        .expect("set the receive buffer");
    let stream = timeout(DEADLINE, socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("the server accepts TCP connections");
    let (mut client, _response) = timeout(
        DEADLINE,
        client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream)),
    )
    .await
    .expect("the WebSocket handshake finishes in time")
    .expect("the server accepts the WebSocket upgrade");
    let hello = next_event(&mut client).await;
    let id = hello["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a connect event with an id: {hello}"))
        .to_owned();
    (client, id)
}

/// The messages of the server's log lines, as a learner would read them in
/// the terminal (`a user connected 1-3f9a0c1d2e4b5a`).
///
/// Subscribe *before* doing what should be logged, then [`LogLines::wait_for`]
/// the line. Connection ids are unique, so tests running in parallel in one
/// process never mistake each other's lines.
pub struct LogLines(broadcast::Receiver<String>);

/// Starts listening to the server's log.
pub fn log_lines() -> LogLines {
    LogLines(log_sender().subscribe())
}

impl LogLines {
    /// Waits, up to [`DEADLINE`], until the server logs exactly `expected`.
    pub async fn wait_for(&mut self, expected: &str) {
        let found = timeout(DEADLINE, async {
            loop {
                match self.0.recv().await {
                    Ok(line) if line == expected => return,
                    Ok(_) => {}
                    // Lines were dropped because this reader fell behind: the
                    // one we want may be among them, and then the deadline
                    // fails the test, with the message below.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "the server did not log {expected:?} within {DEADLINE:?}"
        );
    }
}

/// The one log capture of this test binary, installed on first use.
///
/// A test binary has one global `tracing` subscriber; ours forwards the
/// message of every `info!` (and louder) event, and of this step's `debug!`
/// events, into a broadcast channel that any number of tests can read.
fn log_sender() -> &'static broadcast::Sender<String> {
    static SENDER: OnceLock<broadcast::Sender<String>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (sender, _) = broadcast::channel(4096);
        tracing_subscriber::registry()
            .with(ForwardMessages(sender.clone()))
            .try_init()
            .expect("no other tracing subscriber is installed in this test binary");
        sender
    })
}

/// A `tracing` layer that sends each event's formatted message into a channel.
struct ForwardMessages(broadcast::Sender<String>);

impl<S: Subscriber> Layer<S> for ForwardMessages {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        // Info and louder from anywhere, and this step's own `debug!` lines
        // too (step 08 logs each chat message at debug level, too costly for
        // info under load); not the debug request traces of TraceLayer.
        let metadata = event.metadata();
        let ours = metadata.target().starts_with("step_08_production");
        let wanted =
            *metadata.level() <= Level::INFO || (ours && *metadata.level() <= Level::DEBUG);
        if !wanted {
            return;
        }
        let mut message = MessageText(String::new());
        event.record(&mut message);
        // No receivers yet is fine: nobody is waiting for this line.
        let _ = self.0.send(message.0);
    }
}

/// Picks the `message` field (the text of `info!("...")`) out of an event.
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
