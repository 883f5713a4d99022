//! Helpers shared by step 08's tests: start the app on a free port (and
//! shut it down gracefully), count its live connections, send and read chat
//! messages, connect a client that stops reading, read the `error` the
//! server answers a bad frame with, and run the real binary.
//!
//! The plumbing no lesson is about — a deadline on every wait, the WebSocket
//! client (`connect`, `send_frame`, `next_event`), the server's log lines
//! (`log_lines`), a server shut down through its own graceful shutdown
//! (`GracefulServer`) — comes from the `testkit` crate, shared by every step.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::{net::SocketAddr, process::Stdio};

use serde_json::{Value, json};
use step_08_production::{AppState, public_folder, serve};
use testkit::{Client, DEADLINE, GracefulServer, next_event, read_greeting, send_frame};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    net::{TcpSocket, TcpStream},
    process::{Child, ChildStdout, Command},
    time::timeout,
};
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

/// Opens a bare TCP connection and sends `bytes` (part of an HTTP request,
/// say), then leaves it as it is: what an attacker's connection costs the
/// server.
pub async fn connection_that_sent(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut tcp = timeout(DEADLINE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("the server accepts TCP connections");
    timeout(DEADLINE, tcp.write_all(bytes))
        .await
        .expect("write in time")
        .expect("the connection is open");
    tcp
}

// --- the real binary ------------------------------------------------------

/// The step's own binary, started by a test with some settings, on a free
/// port, its log read line by line. Killed when dropped.
pub struct RunningBinary {
    pub child: Child,
    /// Where it listens, from its "listening on http://..." line.
    pub addr: SocketAddr,
    /// Every line it logged up to and including "listening on".
    pub startup: Vec<String>,
    log: Lines<BufReader<ChildStdout>>,
}

impl RunningBinary {
    /// Starts the binary with `settings` (and `PORT=0`), or inside `sh -c
    /// "<shell_prefix> exec ..."` when a prefix such as `ulimit -n 1024;` is
    /// given, and waits until it logs where it listens.
    pub async fn start(settings: &[(&str, &str)], shell_prefix: Option<&str>) -> RunningBinary {
        let binary = env!("CARGO_BIN_EXE_step-08-production");
        let mut command = match shell_prefix {
            None => Command::new(binary),
            Some(prefix) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("{prefix} exec \"$0\""), binary]);
                sh
            }
        };
        command
            .env("PORT", "0")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .envs(settings.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the step's binary");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut log = BufReader::new(stdout).lines();
        let mut startup = Vec::new();
        let read_startup = async {
            while let Some(line) = log.next_line().await.expect("read the log") {
                let listening = line.contains("listening on http://");
                startup.push(line);
                if listening {
                    return;
                }
            }
            panic!("the binary ended before it listened:\n{startup:#?}");
        };
        timeout(DEADLINE, read_startup)
            .await
            .expect("the binary logs where it listens in time");
        let last = startup.last().expect("the listening line");
        let (_, addr) = last.split_once("listening on http://").expect("the marker");
        let addr = addr.trim().parse().expect("an address");
        RunningBinary {
            child,
            addr,
            startup,
            log,
        }
    }

    /// The process id, as the `kill` command takes it.
    pub fn pid(&self) -> String {
        self.child
            .id()
            .expect("a running child has a pid")
            .to_string()
    }

    /// Reads the log, up to [`DEADLINE`], until a line contains `marker`.
    pub async fn wait_for_line(&mut self, marker: &str) -> String {
        timeout(DEADLINE, line_containing(&mut self.log, marker))
            .await
            .unwrap_or_else(|_| panic!("the binary did not log {marker:?} in time"))
    }

    /// The resident memory of the process, in bytes, from `/proc`.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the process's status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        kib * 1024
    }
}

/// Reads lines from `log` until one contains `marker`, and returns it.
async fn line_containing(log: &mut Lines<BufReader<ChildStdout>>, marker: &str) -> String {
    while let Some(line) = log.next_line().await.expect("read the log") {
        if line.contains(marker) {
            return line;
        }
    }
    panic!("the log ended without a line containing {marker:?}");
}
