//! Helpers shared by step 08's tests: start the app on a free port (and
//! shut it down gracefully), count its live connections, send and read chat
//! messages, connect a client that stops reading, and read the `error` the
//! server answers a bad frame with.
//!
//! The plumbing no lesson is about — a deadline on every wait, the WebSocket
//! client (`connect`, `send_frame`, `next_event`), the server's log lines
//! (`log_lines`), a server shut down through its own graceful shutdown
//! (`GracefulServer`) — comes from the `testkit` crate, shared by every step.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::{Value, json};
use step_08_production::{AppState, public_folder, serve};
use testkit::{Client, DEADLINE, GracefulServer, next_event, read_greeting, send_frame};
use tokio::{net::TcpSocket, time::timeout};
use tokio_tungstenite::{MaybeTlsStream, client_async, tungstenite::Message};

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
    spawn_graceful(state).await.addr()
}

/// Starts the app with `state` on `127.0.0.1:0` exactly as `main` serves it
/// (with [`serve`]: Nagle off, graceful shutdown); the test shuts it down
/// with [`GracefulServer::begin_shutdown`], as Ctrl-C does in `main`.
pub async fn spawn_graceful(state: AppState) -> GracefulServer {
    GracefulServer::start(move |listener, stop| serve(listener, public_folder(), state, stop)).await
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

/// Sends `frame`, and returns the `message` of the `error` event that must
/// come back.
pub async fn error_reply(client: &mut Client, frame: Message) -> String {
    let sent = format!("{frame:?}");
    send_frame(client, frame).await;
    let reply = next_event(client).await;
    assert_eq!(reply["event"], "error", "reply to {sent}: {reply}");
    reply["data"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error event carries a message: {reply}"))
        .to_owned()
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
    let id = read_greeting(&mut client).await;
    (client, id)
}
