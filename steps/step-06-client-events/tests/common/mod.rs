//! Helpers shared by step 06's tests: start the app on a free port, connect a
//! WebSocket client, and watch what the server logs.
//!
//! Every wait has a deadline ([`DEADLINE`]), so a bug fails the test quickly
//! instead of hanging it.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use step_06_client_events::{AppState, app, public_folder};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::broadcast,
    time::timeout,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*};

/// How long any single step of a test may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A test's end of a WebSocket connection.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Starts the app with a tick interval of an hour, for tests that are not
/// about ticks: no `fromServer` can arrive in the middle of them.
pub async fn spawn_app() -> SocketAddr {
    spawn_app_with(AppState::new(Duration::from_secs(3600))).await
}

/// Starts the app with `state` on `127.0.0.1:0` (any free port) and returns
/// its address. Keep a clone of `state` to watch its live connections.
///
/// The server runs on the test's own runtime, so it stops when the test ends.
pub async fn spawn_app_with(state: AppState) -> SocketAddr {
    // Capture logs before the server can write any.
    log_lines();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port on loopback");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(async move { axum::serve(listener, app(public_folder(), state)).await });
    addr
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

/// The next frame, which must be a tick: exactly `{"event":"fromServer"}`.
pub async fn next_tick(client: &mut Client) {
    match next_frame(client).await {
        Message::Text(text) => assert_eq!(text.as_str(), r#"{"event":"fromServer"}"#),
        other => panic!("expected a fromServer tick, got {other:?}"),
    }
}

/// Waits, up to [`DEADLINE`], until exactly `expected` connections are live
/// on the server of `state`, i.e. that many connection handlers (each with
/// its ticker) are still running.
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

impl LogLines {
    /// Waits, up to [`DEADLINE`], until the server logs exactly `last`, and
    /// returns every line logged before it (since [`log_lines`] was called),
    /// so a test can count what happened up to a known point.
    pub async fn lines_until(&mut self, last: &str) -> Vec<String> {
        let found = timeout(DEADLINE, async {
            let mut before = Vec::new();
            loop {
                match self.0.recv().await {
                    Ok(line) if line == last => return before,
                    Ok(line) => before.push(line),
                    // Counting is only honest if no line was skipped.
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        panic!("{skipped} log lines were dropped before {last:?}")
                    }
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("the server did not log {last:?} within {DEADLINE:?}"))
    }
}

/// The one log capture of this test binary, installed on first use.
///
/// A test binary has one global `tracing` subscriber; ours forwards the
/// message of every `info!` (and louder) event into a broadcast channel that
/// any number of tests can read.
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
        if *event.metadata().level() > Level::INFO {
            return; // debug and trace: the request traces of TraceLayer
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
