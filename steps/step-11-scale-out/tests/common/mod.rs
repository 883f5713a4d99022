//! Helpers shared by step 10's tests: start the app on a free port (and
//! shut it down gracefully), count its live connections, join a room, send
//! frames and read their answers (acknowledgements), read chat messages,
//! connect a client that stops reading, read the `error` the server answers
//! a bad frame with (or the refusal on its ack), read up to a 1001, flood
//! a room within a tight rate limit, speak
//! through a member that is no connection, and run the real binary (on a
//! database file of its own).
//!
//! The plumbing no lesson is about — a deadline on every wait, the WebSocket
//! client (`connect`, `send_frame`, `next_event`), the server's log lines
//! (`log_lines`), a server shut down through its own graceful shutdown
//! (`GracefulServer`) — comes from the `testkit` crate, shared by every step.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
};

use futures::SinkExt;
use serde_json::{Value, json};
use step_11_scale_out::{
    AppState,
    config::Config,
    inbox::Inbox,
    names::{Nickname, RoomName},
    protocol::ServerEvent,
    public_folder,
    rooms::{Membership, Rooms},
    serve,
};
use testkit::{
    Client, DEADLINE, GracefulServer, connect, next_event, next_frame, read_greeting, send_frame,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    net::{TcpSocket, TcpStream},
    process::{Child, ChildStdout, Command},
    time::timeout,
};
use tokio_tungstenite::{
    MaybeTlsStream, client_async,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};

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

/// The next `ack` number: unique in this test binary, so no two frames of
/// any test share one.
pub fn next_ack() -> u64 {
    static ACKS: AtomicU64 = AtomicU64::new(1);
    ACKS.fetch_add(1, Ordering::Relaxed)
}

/// Sends `event` with `data` and an `ack`, and reads frames until the answer
/// on that `ack` comes: its `data`, or the `message` of its `error`. Any
/// other frame that comes first is returned too, in order.
pub async fn request(
    client: &mut Client,
    event: &str,
    data: Value,
) -> (Result<Value, String>, Vec<Value>) {
    let ack = next_ack();
    let frame = json!({ "event": event, "data": data, "ack": ack }).to_string();
    send_frame(client, Message::text(frame)).await;
    let mut before = Vec::new();
    loop {
        let frame = next_event_skipping_pings(client).await;
        if frame["ack"] != ack {
            before.push(frame);
            continue;
        }
        let answer = match frame.get("error") {
            Some(error) => Err(error["message"].as_str().unwrap_or_default().to_owned()),
            None => Ok(frame["data"].clone()),
        };
        return (answer, before);
    }
}

/// The next text frame as JSON, skipping the server's pings (and pongs) on
/// the way: what a test reads when its server pings quickly (see
/// `heartbeats.rs`), or when it must not care whether a ping came first.
/// Reading a ping is also what makes the client answer it.
pub async fn next_event_skipping_pings(client: &mut Client) -> Value {
    loop {
        match next_frame(client).await {
            Message::Text(text) => {
                return serde_json::from_str(&text)
                    .unwrap_or_else(|error| panic!("the server sent JSON ({error}): {text}"));
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Sends `envelope` (a JSON object) with a fresh `"ack"`, and returns the
/// refusal that must come back *on that ack*, as the very next frame:
/// `{"ack": n, "error": {"message": ...}}`, and no `error` event.
pub async fn refusal_on_ack(client: &mut Client, mut envelope: Value) -> String {
    let ack = next_ack();
    envelope["ack"] = json!(ack);
    send_frame(client, Message::text(envelope.to_string())).await;
    let reply = next_event(client).await;
    assert_eq!(reply["ack"], ack, "the answer to {envelope}: {reply}");
    reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("a refusal on the ack carries a message: {reply}"))
        .to_owned()
}

/// [`request`] that must be answered with data, before any other frame.
pub async fn request_ok(client: &mut Client, event: &str, data: Value) -> Value {
    let (answer, before) = request(client, event, data).await;
    assert!(before.is_empty(), "frames before the answer: {before:?}");
    answer.unwrap_or_else(|refused| panic!("{event} was refused: {refused}"))
}

/// Joins `room` as `nickname`; returns the answer's data
/// (`{"nickname","room","users","session","recovered"}`). The room's
/// history (`HISTORY_SIZE` messages at most) follows the answer: a test
/// that reads on after a join into a room with messages in it gets those
/// first.
pub async fn join(client: &mut Client, nickname: &str, room: &str) -> Value {
    request_ok(
        client,
        "join",
        json!({ "nickname": nickname, "room": room }),
    )
    .await
}

/// Connects to `/ws` and joins `general` as `nickname`; returns the client
/// and its connection id.
pub async fn connect_as(addr: SocketAddr, nickname: &str) -> (Client, String) {
    connect_to(addr, nickname, "general").await
}

/// Connects to `/ws` and joins `room` as `nickname`.
pub async fn connect_to(addr: SocketAddr, nickname: &str, room: &str) -> (Client, String) {
    let (mut client, id) = connect(addr).await;
    join(&mut client, nickname, room).await;
    (client, id)
}

/// Says `text` to the room, with an ack; returns the answer's data
/// (`{"id","at"}`). Frames that arrive first (others' messages) are
/// skipped, so use it when only the answer matters.
pub async fn say(client: &mut Client, text: &str) -> Value {
    let (answer, _before) = request(client, "message", json!(text)).await;
    answer.unwrap_or_else(|refused| panic!("the message was refused: {refused}"))
}

/// Says `text` to the room without asking for an answer.
pub async fn send_message(client: &mut Client, text: &str) {
    let frame = json!({ "event": "message", "data": text }).to_string();
    send_frame(client, Message::text(frame)).await;
}

/// One chat message as a client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub id: String,
    pub room: String,
    /// The writer's nickname.
    pub from: String,
    pub text: String,
}

/// The next frame, which must be a `message` event.
pub async fn next_message(client: &mut Client) -> ChatMessage {
    let event = next_event(client).await;
    chat_message(&event).unwrap_or_else(|| panic!("expected a message event, got {event}"))
}

/// The next frame that is a `message` event, skipping `joined`, `left` and
/// `typing` notices.
pub async fn next_message_skipping_notices(client: &mut Client) -> ChatMessage {
    loop {
        let event = next_event(client).await;
        if let Some(message) = chat_message(&event) {
            return message;
        }
        assert!(
            is_notice(&event),
            "expected a message or a notice, got {event}"
        );
    }
}

/// Whether `event` is a `joined`, `left` or `typing` notice: what a member
/// hears about the room besides its messages.
pub fn is_notice(event: &Value) -> bool {
    ["joined", "left", "typing"].contains(&event["event"].as_str().unwrap_or(""))
}

/// Reads frames until the server's close frame, and checks it is 1001
/// "server shutting down"; returns the chat messages that came before it.
/// Pings and room notices on the way are skipped (a member hears others
/// join and leave until the end). Reading on also sends the client's close
/// reply.
pub async fn messages_then_going_away(mut client: Client) -> Vec<ChatMessage> {
    let mut messages = Vec::new();
    loop {
        match next_frame(&mut client).await {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).expect("the server sends JSON");
                match chat_message(&event) {
                    Some(message) => messages.push(message),
                    None => assert!(is_notice(&event), "expected a message or a notice: {event}"),
                }
            }
            Message::Close(close) => {
                let close = close.expect("the close frame gives a reason");
                assert_eq!(close.code, CloseCode::Away, "close code 1001");
                assert_eq!(close.reason, "server shutting down");
                return messages;
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a message or the close frame, got {other:?}"),
        }
    }
}

/// `{"event":"message","data":{"id","room","from","text","at"}}` as a
/// [`ChatMessage`]; `None` for any other frame.
pub fn chat_message(event: &Value) -> Option<ChatMessage> {
    if event["event"] != "message" {
        return None;
    }
    let data = &event["data"];
    Some(ChatMessage {
        id: data["id"].as_str()?.to_owned(),
        room: data["room"].as_str()?.to_owned(),
        from: data["from"].as_str()?.to_owned(),
        text: data["text"].as_str()?.to_owned(),
    })
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

// --- floods -------------------------------------------------------------

/// The floods' rate limit: two frames a second (bursts of two): slow enough that no token comes
/// back while the test's burst is read, so the counts are exact. The
/// flooder's `join` takes the first, its first message the second.
pub const PER_SECOND: u32 = 2;

/// What the flooder is told about its dropped messages.
pub const SLOW_DOWN: &str =
    "slow down: at most 2 messages per second; the messages beyond that were dropped";

/// A server with the test's rate limit, and a bystander who has joined.
pub async fn a_room_with_a_bystander() -> (SocketAddr, Client) {
    let state = AppState::in_memory(Config {
        max_messages_per_second: PER_SECOND,
        ..Config::default()
    });
    let addr = spawn_app_with(state).await;
    let (bystander, _) = connect_as(addr, "bystander").await;
    (addr, bystander)
}

/// Writes `frames` to `client` in one go: queued, then flushed once.
pub async fn write_burst(client: &mut Client, frames: &[Value]) {
    let burst = async {
        for frame in frames {
            client.feed(Message::text(frame.to_string())).await?;
        }
        client.flush().await
    };
    timeout(DEADLINE, burst)
        .await
        .expect("written in time")
        .expect("the connection is open");
}

/// A join as `nickname` with an `ack`, then twenty messages, `ack` or not:
/// the flood.
pub fn join_then_twenty(nickname: &str, acks: Option<&[u64]>) -> Vec<Value> {
    let join = json!({ "event": "join", "data": { "nickname": nickname }, "ack": next_ack() });
    let messages = (0..20).map(|index| {
        let mut frame = json!({ "event": "message", "data": format!("flood {index}") });
        if let Some(acks) = acks {
            frame["ack"] = json!(acks[index]);
        }
        frame
    });
    std::iter::once(join).chain(messages).collect()
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

/// Connects a client with a small, fixed receive buffer, reads its
/// greeting and joins `general` as `nickname`. From here on the test never
/// reads from it: its kernel buffer fills, then the server's send buffer for
/// it, and the server's task for it waits.
pub async fn connect_stalling_client(addr: SocketAddr, nickname: &str) -> (Client, String) {
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
    join(&mut client, nickname, "general").await;
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

// --- a member without a connection ---------------------------------------

/// A member of `room` called `nickname` that is no connection: the test
/// holds its membership in `rooms` and says things through it with
/// [`publish_as`], as fast as a loop can, so that a burst is wholly in the
/// room's queue before any connection's task has run. (What it would hear
/// itself is of no interest, and dropped at once.)
pub fn member_without_connection(rooms: &Rooms, nickname: &str, room: &str) -> Membership {
    let mut member = None;
    let nickname = Nickname::parse(nickname).expect("a valid nickname");
    let room = RoomName::parse(Some(room)).expect("a valid room name");
    let _hears = rooms
        .join(
            Rooms::next_seat(),
            nickname,
            room,
            &Inbox::new(1),
            &mut member,
            None,
        )
        .expect("the nickname is free");
    member.expect("a successful join gives a membership")
}

/// Says `text` to the room of `member`, as the database thread does once a
/// message of its connection is stored: a `message` event from its
/// nickname, with a fresh id, into the room's channel, for everyone else.
/// Nothing is stored: this is the room's side of a message only.
pub fn publish_as(member: &Membership, text: String) {
    // Far above any row id a test's database reaches, so no replay of a
    // join counts these as already sent.
    static IDS: AtomicI64 = AtomicI64::new(1_000_000_000);
    let id = IDS.fetch_add(1, Ordering::Relaxed);
    let message = ServerEvent::Message {
        id: id.to_string(),
        room: member.room.as_str().to_owned(),
        from: member.nickname.as_str().to_owned(),
        text,
        at: 0,
    };
    member
        .channels()
        .send_message(member.seat, id, message.to_json().into());
}

// --- the real binary ------------------------------------------------------

/// A database file of a test's own in the system's temp folder, removed
/// (with its WAL files) when dropped: tests must not share a file, and must
/// not write the default `data/chat.db`.
pub struct TempDatabase(PathBuf);

impl TempDatabase {
    /// A name no other test of any run uses: the process id and a counter.
    pub fn new(name: &str) -> TempDatabase {
        let unique = format!("step-10-{name}-{}-{}.db", std::process::id(), next_ack());
        TempDatabase(std::env::temp_dir().join(unique))
    }

    /// The path, as `DATABASE_PATH` takes it.
    pub fn path(&self) -> &str {
        self.0.to_str().expect("a temp path is UTF-8")
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The step's own binary, started by a test with some settings, on a free
/// port, its log read line by line. Killed when dropped.
pub struct RunningBinary {
    pub child: Child,
    /// Where it listens, from its "listening on http://..." line.
    pub addr: SocketAddr,
    /// Every line it logged up to and including "listening on".
    pub startup: Vec<String>,
    log: Lines<BufReader<ChildStdout>>,
    /// The database it was given when the settings named none; removed
    /// after the process is killed (fields drop in order).
    _database: Option<TempDatabase>,
}

impl RunningBinary {
    /// Starts the binary with `settings` (and `PORT=0`, and a
    /// [`TempDatabase`] of its own unless `settings` name a
    /// `DATABASE_PATH`), or inside `sh -c "<shell_prefix> exec ..."` when a
    /// prefix such as `ulimit -n 1024;` is given, and waits until it logs
    /// where it listens.
    pub async fn start(settings: &[(&str, &str)], shell_prefix: Option<&str>) -> RunningBinary {
        let database = settings
            .iter()
            .all(|(name, _)| *name != "DATABASE_PATH")
            .then(|| TempDatabase::new("binary"));
        let binary = env!("CARGO_BIN_EXE_step-11-scale-out");
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
            .envs(database.iter().map(|file| ("DATABASE_PATH", file.path())))
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
            _database: database,
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
