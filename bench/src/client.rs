//! One simulated chat client: it connects and greets ([`Client::open`]), in
//! step 09's rooms protocol joins a room ([`Client::join`]), then
//! [`Client::run`] reads everything the server sends, measures each delivery's
//! latency, answers pings, and — if it is a sender — publishes on schedule
//! (and, with `--typing-per-second`, sends typing notices on a beat of its own).
//!
//! Each client is one task that owns its socket. Reading and writing happen in
//! the same task, so there is no channel per message; received frames are
//! decoded in place from one buffer per client, and one clock read (and one
//! lock of the run's latency histogram) serves a whole batch of frames that
//! arrived in the same `read`.
//!
//! A message refused with `"retry": true` (step 11 while its node has lost
//! Redis) is sent again, unchanged (the same stamp, so its latency counts
//! from the first try, and the same client offset, so the server can tell
//! a repeat), after [`RETRY_AFTER`], until it is accepted: that is what
//! step 11's page does, and what "nothing acknowledged is lost" needs of a
//! client. Only messages with client offsets in the rooms protocol are
//! retried; without an offset a repeat could not be told apart.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior, sleep_until};

use crate::config::{LoadConfig, Traffic};
use crate::latency::{Clock, LatencyHistogram};
use crate::protocol::{self, ClientOffset, GreetingError, Incoming, JoinReply, Protocol, Stamp};
use crate::rooms::Audience;
use crate::two_nodes::{Side, Split};
use crate::websocket::{
    self, FrameError, MaskKeys, Message, MessageAssembler, Opcode, UpgradeResponse,
};

/// Initial size of each client's receive buffer. Big enough to take many
/// small chat frames per `read` system call, small enough that 10,000 idle
/// clients cost only tens of MiB; it grows if a larger frame ever arrives.
const INBOX_BYTES: usize = 8 * 1024;

/// How long a refused message that may be retried waits before it is sent
/// again: long enough not to hammer a node that has just lost Redis, short
/// against the time a reconnection takes.
pub const RETRY_AFTER: Duration = Duration::from_millis(100);

/// Why a client could not connect, or stopped early.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The server answered the upgrade with something other than 101.
    Refused(String),
    Greeting(GreetingError),
    Frame(FrameError),
    /// The server closed the connection (close frame, socket.io disconnect, EOF).
    ClosedByServer,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "{error}"),
            ClientError::Refused(status) => write!(f, "upgrade refused: {status}"),
            ClientError::Greeting(error) => write!(f, "{error}"),
            ClientError::Frame(error) => write!(f, "{error}"),
            ClientError::ClosedByServer => write!(f, "the server closed the connection"),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error)
    }
}

impl From<FrameError> for ClientError {
    fn from(error: FrameError) -> Self {
        ClientError::Frame(error)
    }
}

impl From<GreetingError> for ClientError {
    fn from(error: GreetingError) -> Self {
        ClientError::Greeting(error)
    }
}

/// Received bytes not yet decoded: `bytes[start..end]`.
struct Inbox {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            bytes: vec![0; INBOX_BYTES],
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.end {
            // Everything decoded: reuse the buffer from the front, no copy.
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads whatever the socket has; `Ok(0)` means the server hung up.
    /// Cancel-safe (a plain `read`), so it can sit in a `select!`.
    async fn read_from(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        if self.end == self.bytes.len() {
            // Full: slide the undecoded tail of a partial frame to the front,
            // and grow only if a single frame is bigger than the buffer.
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.bytes.len() {
                let bigger = (self.bytes.len() * 2).min(websocket::MAX_MESSAGE_BYTES + 16);
                if bigger == self.bytes.len() {
                    return Err(io::Error::other("frame larger than the generator accepts"));
                }
                self.bytes.resize(bigger, 0);
            }
        }
        let count = stream.read(&mut self.bytes[self.end..]).await?;
        self.end += count;
        Ok(count)
    }
}

/// A connected, greeted client.
pub struct Client {
    /// Our number, 0-based; senders write it into their stamps.
    pub index: u32,
    /// The id the server gave us (`connect` event or socket.io `sid`).
    pub server_id: String,
    protocol: Protocol,
    stream: TcpStream,
    inbox: Inbox,
    assembler: MessageAssembler,
    /// Encoded frames waiting to be written (pongs, publishes).
    outbox: Vec<u8>,
    /// The text of the message being encoded, reused for every send.
    text: Vec<u8>,
    masks: MaskKeys,
    /// With `--client-offsets`: what every message's offset starts with.
    offset: Option<ClientOffset>,
    /// Whether the server answers our messages with acknowledgements (the
    /// rooms protocol, or socket.io with `--client-offsets`) rather than
    /// with an echo: what a flat-out sender counts as an answer.
    answered_by_acks: bool,
    /// Chat messages read before traffic began (while joining): history,
    /// added to [`ClientOutcome::history_received`] when the run starts.
    history_before_traffic: u64,
    /// Which node this client is connected to (two-node runs).
    pub side: Side,
    /// Messages not yet acknowledged, to send again if refused with
    /// `"retry": true`; `None` unless messages carry client offsets in the
    /// rooms protocol.
    resends: Option<Resends>,
}

/// A sender's messages that are not acknowledged yet, by ack number, and
/// those refused with `"retry": true`, waiting to go again (oldest first:
/// they all wait [`RETRY_AFTER`], so the queue is in the order they are due).
#[derive(Default)]
struct Resends {
    unacked: HashMap<u64, Stamp>,
    due: VecDeque<(Instant, Stamp)>,
}

impl Resends {
    fn sent(&mut self, stamp: Stamp) {
        self.unacked.insert(stamp.sequence + 1, stamp);
    }

    /// An answer came: forget the message, or (refused with `retry`) put it
    /// in line to go again. Returns whether it will be sent again.
    fn answered(&mut self, number: Option<u64>, retry: bool) -> bool {
        let Some(number) = number else { return false };
        if !retry {
            self.unacked.remove(&number);
            return false;
        }
        match self.unacked.get(&number) {
            Some(&stamp) => {
                self.due.push_back((Instant::now() + RETRY_AFTER, stamp));
                true
            }
            None => false,
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.front().map(|(due, _)| *due)
    }

    /// Takes the messages whose wait is over.
    fn take_due(&mut self, now: Instant) -> Vec<Stamp> {
        let ready = self.due.iter().take_while(|(due, _)| *due <= now).count();
        self.due.drain(..ready).map(|(_, stamp)| stamp).collect()
    }
}

/// What one client saw during a run; summed by `run.rs`. (Latencies go
/// straight into [`RunShared::latencies`].)
#[derive(Default)]
pub struct ClientOutcome {
    pub received_measured: u64,
    /// Deliveries that *arrived* inside the measured window, whenever they
    /// were sent: the throughput the server really achieved (a server that
    /// falls behind delivers fewer per second than were offered).
    pub received_in_window: u64,
    pub received_total: u64,
    pub sent_total: u64,
    pub sent_measured: u64,
    /// Deliveries the measured messages should make: each one's audience
    /// (everyone, or the others in the sender's room) added up.
    pub expected_measured: u64,
    /// Acknowledgements of our messages (rooms protocol, or
    /// `--client-offsets`), refusals included.
    pub acks_received: u64,
    /// Those of them that arrived inside the measured window: committed
    /// messages, for a server that stores before it acknowledges.
    pub acks_in_window: u64,
    /// Messages of an earlier run that the server sent us as history (step
    /// 10's on a join, the Node SQLite server's on connect): recognised by
    /// their stamps being older than this run, and never measured.
    pub history_received: u64,
    pub typing_sent: u64,
    /// Others' typing notices that reached this client.
    pub typing_received: u64,
    pub server_errors: u64,
    /// Two-node runs: of `expected_measured`, the deliveries to clients of
    /// the far node.
    pub expected_measured_far: u64,
    /// Refusals with `"retry": true`, each followed by the message sent again.
    pub retried: u64,
    /// The node this client was connected to (its own outcome only; sums
    /// keep the first one's).
    pub side: Side,
    /// Set if the connection ended before the run told it to stop.
    pub ended_early: Option<String>,
}

impl ClientOutcome {
    /// Adds another client's counts to these (`ended_early` is the caller's).
    pub fn add(&mut self, other: &ClientOutcome) {
        self.received_measured += other.received_measured;
        self.received_in_window += other.received_in_window;
        self.received_total += other.received_total;
        self.sent_total += other.sent_total;
        self.sent_measured += other.sent_measured;
        self.expected_measured += other.expected_measured;
        self.acks_received += other.acks_received;
        self.acks_in_window += other.acks_in_window;
        self.history_received += other.history_received;
        self.typing_sent += other.typing_sent;
        self.typing_received += other.typing_received;
        self.server_errors += other.server_errors;
        self.expected_measured_far += other.expected_measured_far;
        self.retried += other.retried;
    }
}

/// Timing and counters every client of a run shares.
pub struct RunShared {
    pub clock: Clock,
    /// When senders start (the warm-up begins).
    pub traffic_start: Instant,
    /// Messages sent in `[measure_start_ns, measure_end_ns)` are the measured ones.
    pub measure_start_ns: u64,
    pub measure_end_ns: u64,
    /// Running totals, so the run can stop draining as soon as everything
    /// expected has arrived. Updated once per read batch, not per message.
    pub measured_sent: AtomicU64,
    /// Deliveries the measured messages sent so far should make.
    pub measured_expected: AtomicU64,
    pub measured_received: AtomicU64,
    /// Latencies of deliveries of messages sent inside the measured window,
    /// from every client.
    ///
    /// One histogram for the whole run rather than one per client: a
    /// 1,000-client run would otherwise keep 1,000 histograms of tens of KiB,
    /// and recording into one that has gone cold costs a cache miss or two
    /// per delivery (about 0.5 µs here, measured with `perf`). This one stays
    /// in cache, and a client locks it once per read batch, not per delivery.
    ///
    /// In a two-node run this one has the near node's clients, and
    /// `far_latencies` the far node's; the run merges them for the total.
    pub latencies: Mutex<LatencyHistogram>,
    pub far_latencies: Mutex<LatencyHistogram>,
}

impl RunShared {
    /// Whether an instant on the run's clock falls in the measured window.
    fn is_measured(&self, ns: u64) -> bool {
        (self.measure_start_ns..self.measure_end_ns).contains(&ns)
    }

    /// The run's latency histogram. A client that panicked while holding it
    /// leaves it whole (each record either happened or did not), so a
    /// poisoned lock is still safe to use.
    pub fn latencies(&self) -> MutexGuard<'_, LatencyHistogram> {
        self.latencies_of(Side::Near)
    }

    /// The latency histogram of one side's clients (see [`RunShared::latencies`]).
    pub fn latencies_of(&self, side: Side) -> MutexGuard<'_, LatencyHistogram> {
        match side {
            Side::Near => &self.latencies,
            Side::Far => &self.far_latencies,
        }
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A steady beat: the first at `first`, then one every `period`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub first: Instant,
    pub period: Duration,
}

impl Pace {
    /// `per_second` beats a second for client `index` of `clients`, its first
    /// `index / clients` of a period after `start`: the beats of all the
    /// clients are spread evenly over each period instead of leaving in bursts.
    fn spread(start: Instant, per_second: f64, index: u32, clients: u32) -> Pace {
        let period = Duration::from_secs_f64(1.0 / per_second);
        let offset = period.mul_f64(f64::from(index) / f64::from(clients.max(1)));
        Pace {
            first: start + offset,
            period,
        }
    }

    fn interval(self, when_late: MissedTickBehavior) -> Interval {
        let mut interval = tokio::time::interval_at(self.first.into(), self.period);
        interval.set_missed_tick_behavior(when_late);
        interval
    }
}

/// How this client publishes, if at all.
#[derive(Debug, Clone, Copy)]
pub enum SenderRole {
    Listener,
    /// One message every period.
    Paced(Pace),
    /// Keep `in_flight` messages unanswered.
    FlatOut {
        in_flight: u32,
    },
}

impl SenderRole {
    /// The role of client `index` in a run described by `config`: the first
    /// `senders` clients publish, and paced senders are spread evenly over one
    /// period so their messages do not leave in bursts.
    pub fn for_client(index: u32, config: &LoadConfig, traffic_start: Instant) -> SenderRole {
        if index >= config.senders {
            return SenderRole::Listener;
        }
        match config.traffic {
            Traffic::Idle => SenderRole::Listener,
            Traffic::FlatOut { in_flight } => SenderRole::FlatOut { in_flight },
            Traffic::Rate(total_per_second) => SenderRole::Paced(Pace::spread(
                traffic_start,
                total_per_second / f64::from(config.senders),
                index,
                config.senders,
            )),
        }
    }
}

/// Everything a client does in a run besides receiving.
#[derive(Debug, Clone, Copy)]
pub struct ClientPlan {
    pub role: SenderRole,
    /// With `--typing-per-second`: when to send typing notices.
    pub typing: Option<Pace>,
    /// How many deliveries each of this client's messages should make.
    pub receivers_per_message: u64,
    /// Of those, how many to clients of the far node (two-node runs).
    pub far_receivers_per_message: u64,
}

impl ClientPlan {
    /// The plan of client `index`: its sender role, its typing beat (spread
    /// over all clients like the senders' messages), and its audience, of
    /// which the clients past `split.near` are on the far node.
    pub fn for_client(
        index: u32,
        config: &LoadConfig,
        traffic_start: Instant,
        audience: &Audience,
        split: Split,
    ) -> ClientPlan {
        ClientPlan {
            role: SenderRole::for_client(index, config, traffic_start),
            typing: (config.typing_per_second > 0.0).then(|| {
                Pace::spread(
                    traffic_start,
                    config.typing_per_second,
                    index,
                    config.clients,
                )
            }),
            receivers_per_message: audience.receivers_of(index),
            far_receivers_per_message: audience.far_receivers_of(index, split),
        }
    }
}

/// A client's sending state while it runs: its two beats and its flat-out
/// pipeline.
struct Schedule {
    pacer: Option<Interval>,
    typing: Option<Interval>,
    /// What the next typing notice says: alternately "typing" and "stopped".
    typing_next: bool,
    /// Flat out: how many messages may be unanswered (0 when not flat out),
    /// and how many are.
    in_flight_limit: u32,
    in_flight: u32,
    /// Flat out: the pipeline fills only once traffic starts.
    waiting_for_start: bool,
    sequence: u64,
}

impl Schedule {
    fn new(plan: &ClientPlan) -> Schedule {
        let in_flight_limit = match plan.role {
            SenderRole::FlatOut { in_flight } => in_flight,
            _ => 0,
        };
        Schedule {
            // Catch up after a stall instead of silently sending fewer
            // messages: the offered load stays what was asked for.
            pacer: match plan.role {
                SenderRole::Paced(pace) => Some(pace.interval(MissedTickBehavior::Burst)),
                _ => None,
            },
            // Typing is background noise, not measured: a late one is skipped.
            typing: plan
                .typing
                .map(|pace| pace.interval(MissedTickBehavior::Skip)),
            typing_next: true,
            in_flight_limit,
            in_flight: 0,
            waiting_for_start: in_flight_limit > 0,
            sequence: 0,
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence - 1
    }

    fn next_typing(&mut self) -> bool {
        self.typing_next = !self.typing_next;
        !self.typing_next
    }
}

/// What one read's worth of frames added up to, booked once per batch.
struct Batch<'s> {
    received_ns: u64,
    arrived_in_window: bool,
    /// Answers to our own messages: echoes, or acks in the rooms protocol.
    answers: u32,
    measured: u64,
    /// Locked at the first measured delivery, released at the end of the batch.
    latencies: Option<MutexGuard<'s, LatencyHistogram>>,
}

impl Client {
    /// Connects, upgrades to WebSocket and completes the protocol's greeting;
    /// in a two-node run, to the node of client `index`'s side.
    pub async fn open(index: u32, config: &LoadConfig) -> Result<Client, ClientError> {
        let side = config.split().side_of(index);
        let (server, path) = match (&config.far, side) {
            (Some(far), Side::Far) => (far.server, far.path.as_str()),
            _ => (config.server, config.path.as_str()),
        };
        let mut stream = TcpStream::connect(server).await?;
        // Without this, Nagle's algorithm holds our small frames back for up
        // to 40 ms waiting for an ACK, and that delay would be blamed on the server.
        stream.set_nodelay(true)?;
        let host = server.to_string();
        let request = websocket::upgrade_request(&host, path, &websocket::handshake_key(index));
        stream.write_all(request.as_bytes()).await?;

        let mut inbox = Inbox::new();
        loop {
            if inbox.read_from(&mut stream).await? == 0 {
                return Err(ClientError::ClosedByServer);
            }
            match websocket::parse_upgrade_response(inbox.pending()) {
                UpgradeResponse::Incomplete => continue,
                UpgradeResponse::Refused { status_line } => {
                    return Err(ClientError::Refused(status_line));
                }
                // Bytes after the headers are already frames: keep them.
                UpgradeResponse::Accepted { header_len } => {
                    inbox.consume(header_len);
                    break;
                }
            }
        }

        let mut client = Client {
            index,
            server_id: String::new(),
            protocol: config.protocol,
            stream,
            inbox,
            assembler: MessageAssembler::default(),
            outbox: Vec::with_capacity(256),
            text: Vec::with_capacity(128),
            masks: MaskKeys::new(index),
            offset: None,
            answered_by_acks: config.protocol == Protocol::Rooms || config.client_offsets,
            history_before_traffic: 0,
            side,
            resends: (config.protocol == Protocol::Rooms && config.client_offsets)
                .then(Resends::default),
        };
        client.server_id = client.greet().await?;
        if config.client_offsets {
            client.offset = Some(ClientOffset::for_connection(&client.server_id, index));
        }
        Ok(client)
    }

    /// The protocol's greeting; returns the id the server gave us.
    async fn greet(&mut self) -> Result<String, ClientError> {
        match self.protocol {
            Protocol::Realtime | Protocol::Rooms => {
                Ok(protocol::parse_realtime_connect(&self.next_text().await?)?)
            }
            Protocol::SocketIo => {
                protocol::parse_engine_io_open(&self.next_text().await?)?;
                self.queue_text(protocol::SOCKET_IO_CONNECT);
                self.flush().await?;
                loop {
                    let text = self.next_text().await?;
                    if text == b"2" {
                        self.queue_text(protocol::ENGINE_IO_PONG);
                        self.flush().await?;
                    } else if let Some(sid) = protocol::parse_socket_io_connect_ack(&text)? {
                        return Ok(sid);
                    }
                }
            }
        }
    }

    /// Gives the client a new number (the run numbers connected clients
    /// 0..N so that "the first K are senders" holds even if some failed).
    pub fn renumbered(mut self, index: u32) -> Client {
        self.index = index;
        self
    }

    /// Rooms protocol: joins `room` as `nickname` and waits for the
    /// acknowledgement; returns what it says (the users, step 10's session).
    /// Others' `joined` notices that arrive first are skipped.
    pub async fn join(&mut self, nickname: &str, room: &str) -> Result<JoinReply, ClientError> {
        self.send_join(&protocol::encode_join(nickname, room), room)
            .await
    }

    /// Sends a `join` frame (a first join, or step 10's with a session and
    /// a last id) for `room`, and waits for its acknowledgement. What the
    /// server sends after the answer (step 10's history or replay) stays in
    /// the inbox for the caller.
    pub async fn send_join(&mut self, frame: &[u8], room: &str) -> Result<JoinReply, ClientError> {
        self.queue_text(frame);
        self.flush().await?;
        loop {
            let text = self.next_text().await?;
            if let Some(reply) = protocol::parse_join_reply(&text, room)? {
                return Ok(reply);
            }
            self.count_if_history(&text);
        }
    }

    /// Keeps reading, answering pings and throwing the rest away, until
    /// `release` changes. A client that has joined must go on reading while
    /// the others join: 1,000 joins into one room send each early joiner
    /// about a thousand `joined` notices, and a client that left them unread
    /// would be cut off by the server as too slow.
    pub async fn hold_until(
        &mut self,
        mut release: watch::Receiver<bool>,
    ) -> Result<(), ClientError> {
        loop {
            while let Some(text) = self.take_text()? {
                self.count_if_history(&text);
            }
            self.flush().await?;
            tokio::select! {
                // A change, or the sender gone: either way, stop holding.
                _ = release.changed() => return Ok(()),
                read = self.inbox.read_from(&mut self.stream) => {
                    if read? == 0 {
                        return Err(ClientError::ClosedByServer);
                    }
                }
            }
        }
    }

    /// Counts `text` as history if it is a chat message: before traffic
    /// begins, every one is (step 10 sends a joining client the room's
    /// latest messages).
    fn count_if_history(&mut self, text: &[u8]) {
        if Stamp::find_in(text).is_some() {
            self.history_before_traffic += 1;
        }
    }

    /// The next whole text message in the inbox, if one is complete; a pong
    /// is queued for every ping on the way. For the greeting and the join
    /// only: it copies the text.
    fn take_text(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        while let Some(frame) = websocket::decode_frame(self.inbox.pending())? {
            let used = frame.encoded_len;
            let text = match self.assembler.push(frame)? {
                Some(Message::Text(text)) => Some(text.to_vec()),
                Some(Message::Ping(payload)) => {
                    let key = self.masks.next_key();
                    websocket::encode_client_frame(&mut self.outbox, Opcode::Pong, payload, key);
                    None
                }
                Some(Message::Close) => return Err(ClientError::ClosedByServer),
                _ => None,
            };
            self.inbox.consume(used);
            if text.is_some() {
                return Ok(text);
            }
        }
        Ok(None)
    }

    /// The next whole text message, read from the socket if need be.
    pub(crate) async fn next_text(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            let text = self.take_text()?;
            self.flush().await?;
            if let Some(text) = text {
                return Ok(text);
            }
            if self.inbox.read_from(&mut self.stream).await? == 0 {
                return Err(ClientError::ClosedByServer);
            }
        }
    }

    /// Queues one text frame; [`Client::flush`] sends it.
    pub(crate) fn queue_text(&mut self, text: &[u8]) {
        let key = self.masks.next_key();
        websocket::encode_client_frame(&mut self.outbox, Opcode::Text, text, key);
    }

    /// Writes every queued frame.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if !self.outbox.is_empty() {
            self.stream.write_all(&self.outbox).await?;
            self.outbox.clear();
        }
        Ok(())
    }

    /// Queues one chat message stamped with the current time; if it falls in
    /// the measured window, `receivers` deliveries of it are expected.
    fn queue_publish(
        &mut self,
        sequence: u64,
        plan: &ClientPlan,
        shared: &RunShared,
        outcome: &mut ClientOutcome,
    ) {
        let sent_ns = shared.clock.now_ns();
        let stamp = Stamp {
            sender: self.index,
            sequence,
            sent_ns,
        };
        self.queue_stamp(stamp);
        if let Some(resends) = &mut self.resends {
            resends.sent(stamp);
        }
        outcome.sent_total += 1;
        if shared.is_measured(sent_ns) {
            let receivers = plan.receivers_per_message;
            outcome.sent_measured += 1;
            outcome.expected_measured += receivers;
            outcome.expected_measured_far += plan.far_receivers_per_message;
            shared.measured_sent.fetch_add(1, Ordering::Relaxed);
            shared
                .measured_expected
                .fetch_add(receivers, Ordering::Relaxed);
        }
    }

    /// Queues the chat message of `stamp`: a new one, or one sent again.
    fn queue_stamp(&mut self, stamp: Stamp) {
        self.protocol
            .encode_publish(stamp, self.offset.as_ref(), &mut self.text);
        let key = self.masks.next_key();
        websocket::encode_client_frame(&mut self.outbox, Opcode::Text, &self.text, key);
    }

    /// Queues again every refused message whose wait is over.
    fn queue_due_resends(&mut self) {
        let due = match &mut self.resends {
            Some(resends) => resends.take_due(Instant::now()),
            None => return,
        };
        for stamp in due {
            self.queue_stamp(stamp);
        }
    }

    /// Flat out: tops the pipeline back up after every batch of answers.
    fn top_up(
        &mut self,
        schedule: &mut Schedule,
        plan: &ClientPlan,
        shared: &RunShared,
        outcome: &mut ClientOutcome,
    ) {
        if schedule.in_flight_limit == 0
            || schedule.waiting_for_start
            || shared.clock.now_ns() >= shared.measure_end_ns
        {
            return;
        }
        while schedule.in_flight < schedule.in_flight_limit {
            let sequence = schedule.next_sequence();
            self.queue_publish(sequence, plan, shared, outcome);
            schedule.in_flight += 1;
        }
    }

    /// Decodes every complete message in the inbox, all stamped with one
    /// receive time. Returns how many answers to *our own* messages came
    /// (echoes, or acks in the rooms protocol: the flat-out sender's signal
    /// to send more), or an error if the server closed us.
    fn decode_batch(
        &mut self,
        received_ns: u64,
        shared: &RunShared,
        outcome: &mut ClientOutcome,
    ) -> Result<u32, ClientError> {
        let mut batch = Batch {
            received_ns,
            arrived_in_window: shared.is_measured(received_ns),
            answers: 0,
            measured: 0,
            latencies: None,
        };
        while let Some(frame) = websocket::decode_frame(self.inbox.pending())? {
            let used = frame.encoded_len;
            let incoming = match self.assembler.push(frame)? {
                Some(Message::Text(text)) => self.protocol.classify(text),
                // The heartbeat of a production server: answer, or be dropped.
                Some(Message::Ping(payload)) => {
                    let key = self.masks.next_key();
                    websocket::encode_client_frame(&mut self.outbox, Opcode::Pong, payload, key);
                    Incoming::Other
                }
                Some(Message::Close) => return Err(ClientError::ClosedByServer),
                Some(Message::Binary(_) | Message::Pong) | None => Incoming::Other,
            };
            self.inbox.consume(used);
            self.book(incoming, &mut batch, shared, outcome)?;
        }
        if batch.measured > 0 {
            outcome.received_measured += batch.measured;
            shared
                .measured_received
                .fetch_add(batch.measured, Ordering::Relaxed);
        }
        Ok(batch.answers)
    }

    /// Books one received text message into the batch and the outcome.
    fn book<'s>(
        &mut self,
        incoming: Incoming,
        batch: &mut Batch<'s>,
        shared: &'s RunShared,
        outcome: &mut ClientOutcome,
    ) -> Result<(), ClientError> {
        match incoming {
            // History: sent before this run began, so not one of its deliveries.
            Incoming::Delivery(stamp) if stamp.sent_ns < shared.clock.origin_ns() => {
                outcome.history_received += 1;
            }
            Incoming::Delivery(stamp) => {
                outcome.received_total += 1;
                outcome.received_in_window += u64::from(batch.arrived_in_window);
                // Our own message back is the answer that lets a flat-out
                // sender send another; step 09 never sends it, and with
                // acknowledgements the ack does that instead.
                if stamp.sender == self.index && !self.answered_by_acks {
                    batch.answers += 1;
                }
                if shared.is_measured(stamp.sent_ns) {
                    batch.measured += 1;
                    batch
                        .latencies
                        .get_or_insert_with(|| shared.latencies_of(self.side))
                        .record_ns(batch.received_ns.saturating_sub(stamp.sent_ns));
                }
            }
            Incoming::Acked {
                retry: true,
                number,
                ..
            } if self
                .resends
                .as_mut()
                .is_some_and(|resends| resends.answered(number, true)) =>
            {
                // Not an answer: the message is still on its way.
                outcome.retried += 1;
            }
            Incoming::Acked {
                refused, number, ..
            } => {
                if let Some(resends) = &mut self.resends {
                    resends.answered(number, false);
                }
                outcome.acks_received += 1;
                outcome.acks_in_window += u64::from(batch.arrived_in_window && !refused);
                outcome.server_errors += u64::from(refused);
                batch.answers += 1;
            }
            Incoming::Typing => outcome.typing_received += 1,
            Incoming::Ping => self.queue_text(protocol::ENGINE_IO_PONG),
            Incoming::ServerError => outcome.server_errors += 1,
            Incoming::Closed => return Err(ClientError::ClosedByServer),
            Incoming::Other => {}
        }
        Ok(())
    }

    /// Runs until `stop` fires (or the server closes us), then reports.
    pub async fn run(
        mut self,
        plan: ClientPlan,
        shared: Arc<RunShared>,
        mut stop: watch::Receiver<bool>,
    ) -> ClientOutcome {
        let mut outcome = ClientOutcome {
            history_received: self.history_before_traffic,
            side: self.side,
            ..ClientOutcome::default()
        };
        let mut schedule = Schedule::new(&plan);
        // Made once and polled again on every turn of the loop: a fresh
        // `changed()` each turn would join and leave the stop signal's waiter
        // list (a lock every client shares) for every read.
        let stopped = stop.changed();
        let flat_out_start = sleep_until(shared.traffic_start.into());
        tokio::pin!(stopped, flat_out_start);

        let result: Result<(), ClientError> = async {
            loop {
                let resend_due = self.resends.as_ref().and_then(Resends::next_due);
                tokio::select! {
                    biased;
                    _ = &mut stopped => return self.say_goodbye().await,
                    read = self.inbox.read_from(&mut self.stream) => {
                        if read? == 0 {
                            return Err(ClientError::ClosedByServer);
                        }
                        let answers = self.decode_batch(shared.clock.now_ns(), &shared, &mut outcome)?;
                        schedule.in_flight = schedule.in_flight.saturating_sub(answers);
                    }
                    _ = next_tick(&mut schedule.pacer) => {
                        if shared.clock.now_ns() < shared.measure_end_ns {
                            let sequence = schedule.next_sequence();
                            self.queue_publish(sequence, &plan, &shared, &mut outcome);
                        } else {
                            schedule.pacer = None;
                        }
                    }
                    _ = next_tick(&mut schedule.typing) => {
                        if shared.clock.now_ns() < shared.measure_end_ns {
                            self.queue_text(protocol::encode_typing(schedule.next_typing()));
                            outcome.typing_sent += 1;
                        } else {
                            schedule.typing = None;
                        }
                    }
                    () = &mut flat_out_start, if schedule.waiting_for_start => {
                        schedule.waiting_for_start = false;
                    }
                    () = sleep_until_some(resend_due) => self.queue_due_resends(),
                }
                self.top_up(&mut schedule, &plan, &shared, &mut outcome);
                self.flush().await?;
            }
        }
        .await;
        if let Err(error) = result {
            outcome.ended_early = Some(error.to_string());
        }
        outcome
    }

    /// Leaves on purpose: says goodbye (close 1000) and lets the
    /// connection go.
    pub async fn leave(mut self) {
        let _ = self.say_goodbye().await;
    }

    /// Says goodbye properly (close code 1000, "normal"), so the server sees
    /// a clean close rather than a dropped connection; its answer is not
    /// awaited, and a failure to send it changes nothing.
    async fn say_goodbye(&mut self) -> Result<(), ClientError> {
        let key = self.masks.next_key();
        websocket::encode_client_frame(
            &mut self.outbox,
            Opcode::Close,
            &1000u16.to_be_bytes(),
            key,
        );
        let _ = self.flush().await;
        Ok(())
    }
}

/// Sleeps until `when`, or forever without one.
async fn sleep_until_some(when: Option<Instant>) {
    match when {
        Some(when) => sleep_until(when.into()).await,
        None => std::future::pending().await,
    }
}

/// A beat's next tick, or never for a beat the client does not have.
async fn next_tick(beat: &mut Option<Interval>) {
    match beat {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sequence: u64) -> Stamp {
        Stamp {
            sender: 0,
            sequence,
            sent_ns: 1_000 + sequence,
        }
    }

    /// A message refused with `retry` waits its turn and comes back with
    /// its stamp unchanged; an accepted one is forgotten, and an answer to
    /// an unknown message changes nothing.
    #[test]
    fn refused_messages_come_back_unchanged_after_the_wait() {
        let mut resends = Resends::default();
        resends.sent(stamp(0));
        resends.sent(stamp(1));
        let before = Instant::now();

        let first_again = resends.answered(Some(1), true);
        let second_accepted = resends.answered(Some(2), false);
        let unknown = resends.answered(Some(99), true);

        assert!(first_again && !second_accepted && !unknown);
        assert!(resends.take_due(before).is_empty(), "not before the wait");
        let due = resends.next_due().expect("one waiting");
        assert!(due >= before + RETRY_AFTER);
        assert_eq!(resends.take_due(due), [stamp(0)]);
        assert_eq!(resends.next_due(), None);
        assert_eq!(resends.unacked.len(), 1, "still unacknowledged");
        assert!(!resends.answered(Some(1), false));
        assert!(resends.unacked.is_empty());
    }
}
