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

// --- step 11: several nodes, one chat, one Redis ---------------------------

/// The `shared_*` tests' plumbing: the step's binary run as a node of a chat
/// shared through a test's own Redis ([`nodes::Node`], killed for real with
/// SIGKILL), a plain `GET` for `/health`, joins and answers that keep the
/// `"retry": true` of a refusal, and the two ends of a mid-traffic test: a
/// sender that sends again whatever was refused or unanswered, with the
/// same `client_offset`, until everything is acknowledged
/// ([`nodes::send_until_all_acked`]), and a receiver on another node that
/// reconnects with `last_id` whenever its connection drops and checks that
/// messages come in id order, each once ([`nodes::Receiver`]).
///
/// A module of its own so that its imports stay apart from step 10's above.
pub mod nodes {
    use std::{
        collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
        net::SocketAddr,
        time::Duration,
    };

    use futures::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use testkit::{Client, DEADLINE, QUIET_PERIOD, connect};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
        sync::watch,
        time::{Instant, Interval, MissedTickBehavior, interval, sleep, timeout},
    };
    use tokio_tungstenite::tungstenite::Message;

    use futures::FutureExt;

    use super::{ChatMessage, RunningBinary, chat_message, next_ack, next_event_skipping_pings};

    /// Runs a blocking `testkit::RedisServer` call (stop, restart) off the runtime's
    /// threads and gives the server back.
    pub async fn with_redis(
        mut redis: testkit::RedisServer,
        call: fn(&mut testkit::RedisServer),
    ) -> testkit::RedisServer {
        tokio::task::spawn_blocking(move || {
            call(&mut redis);
            redis
        })
        .await
        .expect("the Redis call ran")
    }

    /// `NODE_LIVENESS_MS` of the tests' nodes: a killed node's users leave
    /// the others' lists within about a second, not three.
    pub const LIVENESS_MS: &str = "600";

    /// The log line of a node that has reached Redis (at start-up).
    pub const CONNECTED: &str = "connected to Redis at";
    /// The end of the log line of a node whose command connection has lost
    /// Redis (`lost Redis (<why>); refusing messages until it is back`);
    /// not just "lost Redis (", which the stream reader's own line also
    /// says, sooner.
    pub const LOST: &str = "; refusing messages until it is back";
    /// The log line of a node whose Redis is back.
    pub const BACK: &str = "Redis is back; taking messages again";

    /// How long a sent message may go unanswered before the sender sends it
    /// again (same `client_offset`, new `ack`): twice the server's own
    /// one-second limit on a Redis command.
    pub const RESEND_AFTER: Duration = Duration::from_secs(2);

    /// How many messages a mid-traffic sender keeps in flight.
    const WINDOW: usize = 8;

    /// The pause between two tries of something refused with
    /// `"retry": true`: short, inside a loop bounded by a deadline.
    const RETRY_PAUSE: Duration = Duration::from_millis(25);

    /// One node: the step's binary with `REDIS_URL`, `NODE_NAME` and a
    /// short `NODE_LIVENESS_MS`, on a free port. Killed when dropped.
    pub struct Node {
        pub name: String,
        pub binary: RunningBinary,
    }

    impl Node {
        /// Starts node `name` on the Redis at `redis_url` (which may be
        /// down) and waits until it listens.
        pub async fn start(redis_url: &str, name: &str) -> Node {
            Node::start_with(redis_url, name, &[]).await
        }

        /// [`Node::start`] with more settings (they win over the defaults).
        pub async fn start_with(redis_url: &str, name: &str, more: &[(&str, &str)]) -> Node {
            let mut settings = vec![
                ("REDIS_URL", redis_url),
                ("NODE_NAME", name),
                ("NODE_LIVENESS_MS", LIVENESS_MS),
                // Neither the per-client rate nor the replay cap is what a
                // shared test is about.
                ("MAX_MESSAGES_PER_SECOND", "1000000"),
                ("REPLAY_CAP", "100000"),
            ];
            settings.extend_from_slice(more);
            let binary = RunningBinary::start(&settings, None).await;
            Node {
                name: name.to_owned(),
                binary,
            }
        }

        /// [`Node::start`], then waits until it logs that it reached Redis.
        pub async fn start_connected(redis_url: &str, name: &str) -> Node {
            let mut node = Node::start(redis_url, name).await;
            node.wait_until_connected().await;
            node
        }

        pub fn addr(&self) -> SocketAddr {
            self.binary.addr
        }

        /// Waits for [`CONNECTED`] (which may have come before "listening
        /// on", in the start-up lines).
        pub async fn wait_until_connected(&mut self) {
            if !self
                .binary
                .startup
                .iter()
                .any(|line| line.contains(CONNECTED))
            {
                self.binary.wait_for_line(CONNECTED).await;
            }
        }

        /// Reads the log until a line contains `marker`, up to [`DEADLINE`].
        pub async fn wait_for_line(&mut self, marker: &str) -> String {
            self.binary.wait_for_line(marker).await
        }

        /// Reads the log until a line contains any of `markers`, up to
        /// [`DEADLINE`], and returns it.
        pub async fn wait_for_any_line(&mut self, markers: &[&str]) -> String {
            let log = &mut self.binary.log;
            let read = async {
                while let Some(line) = log.next_line().await.expect("read the log") {
                    if markers.iter().any(|marker| line.contains(marker)) {
                        return line;
                    }
                }
                panic!("the log ended without a line containing any of {markers:?}");
            };
            timeout(DEADLINE, read).await.unwrap_or_else(|_| {
                panic!("node {} did not log any of {markers:?} in time", self.name)
            })
        }

        /// Waits until the node says it has Redis again after losing it:
        /// [`BACK`], as the contract words it, or [`CONNECTED`] (what a
        /// reconnection may say instead); returns the line, for a test of
        /// the wording to check.
        pub async fn wait_until_back(&mut self) -> String {
            self.wait_for_any_line(&[BACK, CONNECTED]).await
        }

        /// What the names of this node's Redis connections start with.
        pub fn client_prefix(&self) -> String {
            format!("realtime-{}-", self.name)
        }

        /// SIGKILL to this node's PID (no goodbye to Redis or to its
        /// clients), and waits until the process is gone.
        pub async fn kill_9(&mut self) {
            self.binary
                .child
                .start_kill()
                .expect("send SIGKILL to the node");
            timeout(DEADLINE, self.binary.child.wait())
                .await
                .expect("the killed node is gone in time")
                .expect("wait for the killed node");
        }
    }

    /// `GET path` on a new connection (`Connection: close`); the status and
    /// the body.
    pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await.expect("connect for a GET");
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream
                .write_all(request.as_bytes())
                .await
                .expect("send the GET");
            let mut response = Vec::new();
            stream
                .read_to_end(&mut response)
                .await
                .expect("read the response");
            String::from_utf8_lossy(&response).into_owned()
        };
        let response = timeout(DEADLINE, exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {path} answered in time"));
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response to GET {path}: {response:?}"));
        (status, body.to_owned())
    }

    /// Sends `event` with `data` and a fresh `ack`; returns the whole
    /// answer frame (`{"ack", "data"}` or `{"ack", "error"}`) and the frames
    /// that came before it.
    pub async fn ask(client: &mut Client, event: &str, data: Value) -> (Value, Vec<Value>) {
        let ack = next_ack();
        let frame = json!({ "event": event, "data": data, "ack": ack }).to_string();
        timeout(DEADLINE, client.send(Message::text(frame)))
            .await
            .expect("the frame is sent in time")
            .expect("the connection is open");
        let mut before = Vec::new();
        loop {
            let frame = next_event_skipping_pings(client).await;
            if frame["ack"] == ack {
                return (frame, before);
            }
            before.push(frame);
        }
    }

    /// The sentence and the `retry` flag of a refusal; `None` for an answer
    /// with data.
    pub fn refusal(answer: &Value) -> Option<(String, bool)> {
        let error = answer.get("error")?;
        let message = error["message"].as_str().unwrap_or_default().to_owned();
        Some((message, error["retry"] == true))
    }

    /// Says `text` with `offset` as its `client_offset`; the whole answer.
    pub async fn say_with_offset(client: &mut Client, text: &str, offset: &str) -> Value {
        let data = json!({ "text": text, "client_offset": offset });
        ask(client, "message", data).await.0
    }

    /// The id of an answer with data, as a number.
    pub fn id_of(answer: &Value) -> i64 {
        answer["data"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("an answer with a string id of digits: {answer}"))
    }

    /// Joins with `data`, trying again (within `patience`) while the join
    /// is refused with `"retry": true` — or, when `while_taken`, because the
    /// nickname is still held (by a node that is dead but not yet known to
    /// be). Returns the answer's data; any other refusal fails the test.
    pub async fn join_patiently(
        client: &mut Client,
        data: Value,
        patience: Duration,
        while_taken: bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let (answer, _before) = ask(client, "join", data.clone()).await;
            let Some((message, retry)) = refusal(&answer) else {
                return answer["data"].clone();
            };
            let taken = while_taken && message.contains("is taken");
            assert!(retry || taken, "the join {data} was refused: {answer}");
            assert!(
                Instant::now() < deadline,
                "the join {data} was still refused after {patience:?}: {answer}"
            );
            sleep(RETRY_PAUSE).await;
        }
    }

    /// Connects to `addr` and joins `room` as `nickname` (which must be
    /// accepted at once); the client and the join's answer.
    pub async fn joined(addr: SocketAddr, nickname: &str, room: &str) -> (Client, Value) {
        let (mut client, _) = connect(addr).await;
        let data = json!({ "nickname": nickname, "room": room });
        let (answer, _) = ask(&mut client, "join", data).await;
        assert!(
            refusal(&answer).is_none(),
            "{nickname} could not join {room}: {answer}"
        );
        (client, answer["data"].clone())
    }

    /// The `users` of a join's answer, as a set.
    pub fn users_of(answer: &Value) -> BTreeSet<String> {
        answer["users"]
            .as_array()
            .unwrap_or_else(|| panic!("a join answer lists its users: {answer}"))
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    }

    /// Reads frames until one is `event` about `nickname` (a `joined` or a
    /// `left`), within `limit`; the frames read on the way are returned.
    pub async fn wait_for_notice(
        client: &mut Client,
        event: &str,
        nickname: &str,
        limit: Duration,
    ) -> Vec<Value> {
        let mut seen = Vec::new();
        let read = async {
            loop {
                let frame = next_event_skipping_pings(client).await;
                if frame["event"] == event && frame["data"]["nickname"] == nickname {
                    return;
                }
                seen.push(frame);
            }
        };
        if timeout(limit, read).await.is_err() {
            panic!("no {event} of {nickname} within {limit:?}; came instead: {seen:?}");
        }
        seen
    }

    /// Sends Close and drops the connection, as a tab that is closed.
    pub async fn close(mut client: Client) {
        let _ = timeout(DEADLINE, client.close(None)).await;
    }

    /// The chat messages among `frames`.
    pub fn messages_in(frames: &[Value]) -> Vec<ChatMessage> {
        frames.iter().filter_map(chat_message).collect()
    }

    // --- the receiving end: in order, once each, across reconnections ---

    /// A member of a room on some node that keeps every chat message it
    /// receives, checks each comes after the one before (by id: never out
    /// of order, never twice), and reconnects with its session and
    /// `last_id` when its connection drops.
    pub struct Receiver {
        pub addr: SocketAddr,
        pub nickname: String,
        pub room: String,
        pub session: String,
        pub client: Client,
        /// Every chat message received, in the order received.
        pub messages: Vec<ChatMessage>,
        /// How many times the connection dropped and was made again.
        pub reconnects: usize,
    }

    impl Receiver {
        /// Connects to `addr` and joins `room` as `nickname`.
        pub async fn join(addr: SocketAddr, nickname: &str, room: &str) -> Receiver {
            let (client, answer) = joined(addr, nickname, room).await;
            let session = answer["session"]
                .as_str()
                .unwrap_or_else(|| panic!("a join answer carries a session: {answer}"))
                .to_owned();
            Receiver {
                addr,
                nickname: nickname.to_owned(),
                room: room.to_owned(),
                session,
                client,
                messages: Vec::new(),
                reconnects: 0,
            }
        }

        /// The id of the last message received.
        pub fn last_id(&self) -> Option<i64> {
            self.messages.last().map(numeric_id)
        }

        /// The ids received, in order.
        pub fn ids(&self) -> Vec<i64> {
            self.messages.iter().map(numeric_id).collect()
        }

        /// Reads until `count` messages in all have been received, within
        /// `limit`, reconnecting (to the same node) whenever the connection
        /// drops. Returns itself, for a spawned task to give back.
        pub async fn collect(mut self, count: usize, limit: Duration) -> Receiver {
            let deadline = Instant::now() + limit;
            while self.messages.len() < count {
                let left = deadline.saturating_duration_since(Instant::now());
                match timeout(left, self.client.next()).await {
                    Err(_) => panic!(
                        "{} received {} of {count} messages within {limit:?}; the last id was \
                         {:?}, after {} reconnections",
                        self.nickname,
                        self.messages.len(),
                        self.last_id(),
                        self.reconnects
                    ),
                    Ok(Some(Ok(Message::Text(text)))) => self.take(&text),
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                    Ok(_ended) => {
                        self.reconnects += 1;
                        self.rejoin(deadline, false).await;
                    }
                }
            }
            self
        }

        /// Reads until the connection ends (its node was killed), keeping
        /// the messages that were still on their way.
        pub async fn read_until_cut(&mut self) {
            loop {
                match timeout(DEADLINE, self.client.next()).await {
                    Err(_) => panic!("{}'s connection did not end in time", self.nickname),
                    Ok(Some(Ok(Message::Text(text)))) => self.take(&text),
                    Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return,
                    Ok(Some(Ok(_other))) => {}
                }
            }
        }

        /// Connects to `addr` (another node) and joins there with the
        /// session and `last_id`, waiting while the nickname is still held
        /// by the node it was on.
        pub async fn move_to(&mut self, addr: SocketAddr, patience: Duration) {
            self.addr = addr;
            self.reconnects += 1;
            self.rejoin(Instant::now() + patience, true).await;
        }

        /// Fails if a chat message (a copy too many) comes within
        /// [`QUIET_PERIOD`]; notices and pings are fine.
        pub async fn assert_no_more_messages(&mut self) {
            let quiet_until = Instant::now() + QUIET_PERIOD;
            loop {
                let left = quiet_until.saturating_duration_since(Instant::now());
                match timeout(left, self.client.next()).await {
                    Err(_) | Ok(None | Some(Err(_))) => return,
                    Ok(Some(Ok(Message::Text(text)))) => {
                        let event: Value = serde_json::from_str(&text).expect("JSON");
                        assert!(
                            chat_message(&event).is_none(),
                            "{} received a message too many: {event}; before it: {:?}",
                            self.nickname,
                            self.ids()
                        );
                    }
                    Ok(Some(Ok(_other))) => {}
                }
            }
        }

        /// Keeps the chat message in `text`, checking it comes after the last.
        fn take(&mut self, text: &str) {
            let event: Value = serde_json::from_str(text)
                .unwrap_or_else(|error| panic!("the server sent JSON ({error}): {text}"));
            assert_ne!(
                event["event"], "skipped",
                "{} was told it skipped messages: {event}",
                self.nickname
            );
            let Some(message) = chat_message(&event) else {
                return;
            };
            let id = numeric_id(&message);
            if let Some(last) = self.last_id() {
                assert!(
                    id > last,
                    "{} received message {id} ({:?}) after {last}: out of order, or twice",
                    self.nickname,
                    message.text
                );
            }
            self.messages.push(message);
        }

        /// Connects again and joins with the session and `last_id`, retrying
        /// until `deadline` while refused with `"retry": true` (Redis down)
        /// or, when `while_taken`, while the nickname is held.
        async fn rejoin(&mut self, deadline: Instant, while_taken: bool) {
            let mut data = json!({
                "nickname": self.nickname,
                "room": self.room,
                "session": self.session,
            });
            if let Some(last) = self.last_id() {
                data["last_id"] = json!(last.to_string());
            }
            let (mut client, _) = connect(self.addr).await;
            let patience = deadline.saturating_duration_since(Instant::now());
            let answer = join_patiently(&mut client, data, patience, while_taken).await;
            if let Some(session) = answer["session"].as_str() {
                self.session = session.to_owned();
            }
            self.client = client;
        }
    }

    /// A message's id as a number.
    pub fn numeric_id(message: &ChatMessage) -> i64 {
        message
            .id
            .parse()
            .unwrap_or_else(|_| panic!("a message id is a decimal integer: {message:?}"))
    }

    // --- the sending end: everything acknowledged, whatever happens ----

    /// What a mid-traffic sender got: the id each message (by index) was
    /// acknowledged with, and how often it had to send one again.
    #[derive(Debug, Default)]
    pub struct Sent {
        pub acked: BTreeMap<usize, i64>,
        /// Answers that refused a message with `"retry": true`.
        pub refused_for_retry: usize,
        /// Messages sent again because no answer came in [`RESEND_AFTER`]
        /// (or because the connection they were sent on ended).
        pub resent_unanswered: usize,
        /// How many times the sender moved to another node.
        pub moves: usize,
    }

    /// Where a sender goes on when its connection ends (its node killed):
    /// another node, and the join to send there (the same nickname, with
    /// its session, so its `client_offset`s are still its own).
    pub struct Fallback {
        pub addr: SocketAddr,
        pub join: Value,
    }

    /// The text of message `index` of sender `tag`.
    pub fn text_for(tag: &str, index: usize) -> String {
        format!("{tag} {index}")
    }

    /// The sender's state: what is still to send, what is in flight (by
    /// `ack`), and which `ack` stood for which message.
    struct Outbox {
        tag: String,
        to_send: VecDeque<usize>,
        in_flight: HashMap<u64, (usize, Instant)>,
        index_of_ack: HashMap<u64, usize>,
        sent: Sent,
        /// One new send per tick, so the traffic lasts long enough for a
        /// fault to land in the middle of it.
        pace: Interval,
    }

    impl Outbox {
        /// Sends from `to_send` until [`WINDOW`] messages are in flight;
        /// false if the connection is gone.
        async fn fill(&mut self, client: &mut Client) -> bool {
            while self.in_flight.len() < WINDOW {
                let Some(&index) = self.to_send.front() else {
                    return true;
                };
                if self.sent.acked.contains_key(&index) {
                    self.to_send.pop_front();
                    continue;
                }
                if self.pace.tick().now_or_never().is_none() {
                    return true;
                }
                self.to_send.pop_front();
                let ack = next_ack();
                let data = json!({
                    "text": text_for(&self.tag, index),
                    "client_offset": format!("{}:{index}", self.tag),
                });
                let frame = json!({ "event": "message", "data": data, "ack": ack });
                let sent = timeout(DEADLINE, client.send(Message::text(frame.to_string())))
                    .await
                    .expect("the sender's frame is sent (or refused) in time");
                if sent.is_err() {
                    return false;
                }
                self.in_flight.insert(ack, (index, Instant::now()));
                self.index_of_ack.insert(ack, index);
            }
            true
        }

        /// The connection is gone: connects to `fallback` and joins there
        /// (waiting while the nickname is held by the dead node); whatever
        /// was in flight is sent again there, with the same offsets.
        async fn move_to(&mut self, fallback: Fallback, deadline: Instant) -> Client {
            let (mut client, _) = connect(fallback.addr).await;
            let patience = deadline.saturating_duration_since(Instant::now());
            join_patiently(&mut client, fallback.join, patience, true).await;
            let unanswered: Vec<usize> = self
                .in_flight
                .drain()
                .map(|(_, (index, _))| index)
                .collect();
            self.sent.resent_unanswered += unanswered.len();
            self.to_send.extend(unanswered);
            self.sent.moves += 1;
            client
        }

        /// Takes an answer: an id (the same for every answer about one
        /// message), or a refusal to send again, or a failure.
        async fn on_answer(&mut self, answer: &Value) {
            let Some(ack) = answer["ack"].as_u64() else {
                return;
            };
            let index = *self
                .index_of_ack
                .get(&ack)
                .unwrap_or_else(|| panic!("an answer on an ack never sent: {answer}"));
            let was_in_flight = self.in_flight.remove(&ack).is_some();
            match refusal(answer) {
                None => {
                    let id = id_of(answer);
                    if let Some(first) = self.sent.acked.insert(index, id) {
                        assert_eq!(
                            first, id,
                            "message {index} of {} was acknowledged twice with different ids",
                            self.tag
                        );
                    }
                }
                Some((_, true)) => {
                    self.sent.refused_for_retry += 1;
                    if was_in_flight && !self.sent.acked.contains_key(&index) {
                        self.to_send.push_back(index);
                        sleep(RETRY_PAUSE).await;
                    }
                }
                Some((message, false)) => {
                    panic!(
                        "message {index} of {} was refused for good: {message}",
                        self.tag
                    )
                }
            }
        }

        /// Reads what comes within one pace (at most 200 ms) and takes it
        /// if it is an answer; false if the connection is gone.
        async fn read(&mut self, client: &mut Client) -> bool {
            let wait = self.pace.period().min(Duration::from_millis(200));
            match timeout(wait, client.next()).await {
                Err(_) | Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => true,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("the server sends JSON");
                    self.on_answer(&frame).await;
                    true
                }
                Ok(_ended) => false,
            }
        }

        /// Messages unanswered for [`RESEND_AFTER`] go back to be sent again
        /// (a late answer to the old `ack` still counts).
        fn resend_unanswered(&mut self) {
            let now = Instant::now();
            let late: Vec<u64> = self
                .in_flight
                .iter()
                .filter(|(_, (_, sent_at))| now.duration_since(*sent_at) >= RESEND_AFTER)
                .map(|(ack, _)| *ack)
                .collect();
            for ack in late {
                if let Some((index, _)) = self.in_flight.remove(&ack) {
                    self.sent.resent_unanswered += 1;
                    self.to_send.push_back(index);
                }
            }
        }
    }

    /// Sends messages `0..count` of sender `tag` (text [`text_for`],
    /// `client_offset` `"<tag>:<index>"`), [`WINDOW`] in flight, and sends
    /// again, with the same `client_offset`, each one refused with `"retry":
    /// true` or unanswered for [`RESEND_AFTER`], until every one is
    /// acknowledged; `progress` counts the acknowledged. At most one message
    /// is sent per `pace`. Fails after `limit`.
    pub async fn send_until_all_acked(
        client: Client,
        tag: &str,
        count: usize,
        progress: watch::Sender<usize>,
        timing: (Duration, Duration),
    ) -> (Client, Sent) {
        send_until_all_acked_or_move(client, tag, count, progress, timing, None).await
    }

    /// [`send_until_all_acked`] that, if its connection ends, goes on once
    /// through `fallback` instead of failing.
    pub async fn send_until_all_acked_or_move(
        mut client: Client,
        tag: &str,
        count: usize,
        progress: watch::Sender<usize>,
        (pace, limit): (Duration, Duration),
        mut fallback: Option<Fallback>,
    ) -> (Client, Sent) {
        let deadline = Instant::now() + limit;
        let mut pace = interval(pace);
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut outbox = Outbox {
            tag: tag.to_owned(),
            to_send: (0..count).collect(),
            in_flight: HashMap::new(),
            index_of_ack: HashMap::new(),
            sent: Sent::default(),
            pace,
        };
        while outbox.sent.acked.len() < count {
            assert!(
                Instant::now() < deadline,
                "{tag}: {} of {count} messages acknowledged within {limit:?} \
                 ({} refused for a retry, {} unanswered)",
                outbox.sent.acked.len(),
                outbox.sent.refused_for_retry,
                outbox.sent.resent_unanswered
            );
            let open = outbox.fill(&mut client).await && outbox.read(&mut client).await;
            progress.send_replace(outbox.sent.acked.len());
            if !open {
                let fallback = fallback
                    .take()
                    .unwrap_or_else(|| panic!("{tag}: the sender's connection ended"));
                client = outbox.move_to(fallback, deadline).await;
            }
            outbox.resend_unanswered();
        }
        (client, outbox.sent)
    }

    /// Waits until `progress` reaches `at_least`, within [`DEADLINE`].
    pub async fn wait_for_progress(progress: &mut watch::Receiver<usize>, at_least: usize) {
        let reached = timeout(DEADLINE, progress.wait_for(|acked| *acked >= at_least))
            .await
            .is_ok_and(|waited| waited.is_ok());
        assert!(
            reached,
            "fewer than {at_least} messages acknowledged in time (now {})",
            *progress.borrow()
        );
    }

    /// Every message `sent` acknowledged reached `received` exactly once,
    /// in id order, with its text; no two messages share an id; and nothing
    /// else came.
    pub fn assert_each_acked_arrived_once(tag: &str, sent: &Sent, received: &[ChatMessage]) {
        let mut expected: Vec<i64> = sent.acked.values().copied().collect();
        expected.sort_unstable();
        let distinct: BTreeSet<i64> = expected.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            expected.len(),
            "{tag}: two messages were acknowledged with the same id: {:?}",
            sent.acked
        );
        let ids: Vec<i64> = received.iter().map(numeric_id).collect();
        let missing: Vec<i64> = distinct
            .iter()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        let extra: Vec<i64> = ids
            .iter()
            .filter(|id| !distinct.contains(id))
            .copied()
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{tag}: acknowledged but never received: {missing:?}; received but never \
             acknowledged: {extra:?}"
        );
        assert_eq!(ids, expected, "{tag}: received in id order, once each");
        let index_of_id: BTreeMap<i64, usize> =
            sent.acked.iter().map(|(index, id)| (*id, *index)).collect();
        for message in received {
            let index = index_of_id[&numeric_id(message)];
            assert_eq!(message.text, text_for(tag, index), "{message:?}");
        }
    }
}
