//! One simulated chat client: it connects and greets ([`Client::open`]), then
//! [`Client::run`] reads everything the server sends, measures each delivery's
//! latency, answers pings, and — if it is a sender — publishes on schedule.
//!
//! Each client is one task that owns its socket. Reading and writing happen in
//! the same task, so there is no channel per message; received frames are
//! decoded in place from one buffer per client, and one clock read (and one
//! lock of the run's latency histogram) serves a whole batch of frames that
//! arrived in the same `read`.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior, sleep_until};

use crate::config::{LoadConfig, Traffic};
use crate::latency::{Clock, LatencyHistogram};
use crate::protocol::{self, GreetingError, Incoming, Protocol, Stamp};
use crate::websocket::{
    self, FrameError, MaskKeys, Message, MessageAssembler, Opcode, UpgradeResponse,
};

/// Initial size of each client's receive buffer. Big enough to take many
/// small chat frames per `read` system call, small enough that 10,000 idle
/// clients cost only tens of MiB; it grows if a larger frame ever arrives.
const INBOX_BYTES: usize = 8 * 1024;

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
    pub server_errors: u64,
    /// Set if the connection ended before the run told it to stop.
    pub ended_early: Option<String>,
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
    pub measured_received: AtomicU64,
    /// Latencies of deliveries of messages sent inside the measured window,
    /// from every client.
    ///
    /// One histogram for the whole run rather than one per client: a
    /// 1,000-client run would otherwise keep 1,000 histograms of tens of KiB,
    /// and recording into one that has gone cold costs a cache miss or two
    /// per delivery (about 0.5 µs here, measured with `perf`). This one stays
    /// in cache, and a client locks it once per read batch, not per delivery.
    pub latencies: Mutex<LatencyHistogram>,
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
        self.latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// How this client publishes, if at all.
#[derive(Debug, Clone, Copy)]
pub enum SenderRole {
    Listener,
    /// One message every `period`, first one at `first_send`.
    Paced {
        first_send: Instant,
        period: std::time::Duration,
    },
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
            Traffic::Rate(total_per_second) => {
                let period = std::time::Duration::from_secs_f64(
                    f64::from(config.senders) / total_per_second,
                );
                let offset = period.mul_f64(f64::from(index) / f64::from(config.senders));
                SenderRole::Paced {
                    first_send: traffic_start + offset,
                    period,
                }
            }
        }
    }
}

impl Client {
    /// Connects, upgrades to WebSocket and completes the protocol's greeting.
    pub async fn open(index: u32, config: &LoadConfig) -> Result<Client, ClientError> {
        let mut stream = TcpStream::connect(config.server).await?;
        // Without this, Nagle's algorithm holds our small frames back for up
        // to 40 ms waiting for an ACK, and that delay would be blamed on the server.
        stream.set_nodelay(true)?;
        let host = config.server.to_string();
        let request =
            websocket::upgrade_request(&host, &config.path, &websocket::handshake_key(index));
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
        };
        client.server_id = match config.protocol {
            Protocol::Realtime => protocol::parse_realtime_connect(&client.next_text().await?)?,
            Protocol::SocketIo => {
                protocol::parse_engine_io_open(&client.next_text().await?)?;
                client.queue_text(protocol::SOCKET_IO_CONNECT);
                client.flush().await?;
                loop {
                    let text = client.next_text().await?;
                    if text == b"2" {
                        client.queue_text(protocol::ENGINE_IO_PONG);
                        client.flush().await?;
                    } else if let Some(sid) = protocol::parse_socket_io_connect_ack(&text)? {
                        break sid;
                    }
                }
            }
        };
        Ok(client)
    }

    /// Gives the client a new number (the run numbers connected clients
    /// 0..N so that "the first K are senders" holds even if some failed).
    pub fn renumbered(mut self, index: u32) -> Client {
        self.index = index;
        self
    }

    /// The next whole text message, for the greeting only (it allocates).
    async fn next_text(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            while let Some(frame) = websocket::decode_frame(self.inbox.pending())? {
                let used = frame.encoded_len;
                let text = match self.assembler.push(frame)? {
                    Some(Message::Text(text)) => Some(text.to_vec()),
                    Some(Message::Ping(payload)) => {
                        let key = self.masks.next_key();
                        websocket::encode_client_frame(
                            &mut self.outbox,
                            Opcode::Pong,
                            payload,
                            key,
                        );
                        None
                    }
                    Some(Message::Close) => return Err(ClientError::ClosedByServer),
                    _ => None,
                };
                self.inbox.consume(used);
                if let Some(text) = text {
                    self.flush().await?;
                    return Ok(text);
                }
            }
            self.flush().await?;
            if self.inbox.read_from(&mut self.stream).await? == 0 {
                return Err(ClientError::ClosedByServer);
            }
        }
    }

    fn queue_text(&mut self, text: &[u8]) {
        let key = self.masks.next_key();
        websocket::encode_client_frame(&mut self.outbox, Opcode::Text, text, key);
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.outbox.is_empty() {
            self.stream.write_all(&self.outbox).await?;
            self.outbox.clear();
        }
        Ok(())
    }

    /// Queues one chat message stamped with the current time.
    fn queue_publish(&mut self, sequence: u64, shared: &RunShared, outcome: &mut ClientOutcome) {
        let sent_ns = shared.clock.now_ns();
        let stamp = Stamp {
            sender: self.index,
            sequence,
            sent_ns,
        };
        self.protocol.encode_publish(stamp, &mut self.text);
        let key = self.masks.next_key();
        websocket::encode_client_frame(&mut self.outbox, Opcode::Text, &self.text, key);
        outcome.sent_total += 1;
        if shared.is_measured(sent_ns) {
            outcome.sent_measured += 1;
            shared.measured_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Decodes every complete message in the inbox, all stamped with one
    /// receive time. Returns how many of *our own* messages came back (the
    /// flat-out sender's signal to send more), or an error if the server
    /// closed us.
    fn decode_batch(
        &mut self,
        received_ns: u64,
        shared: &RunShared,
        outcome: &mut ClientOutcome,
    ) -> Result<u32, ClientError> {
        let mut own_echoes = 0;
        let mut measured_in_batch = 0;
        let arrived_in_window = shared.is_measured(received_ns);
        // Locked at the first measured delivery, released at the end of the batch.
        let mut latencies = None;
        while let Some(frame) = websocket::decode_frame(self.inbox.pending())? {
            let used = frame.encoded_len;
            match self.assembler.push(frame)? {
                Some(Message::Text(text)) => match self.protocol.classify(text) {
                    Incoming::Delivery(stamp) => {
                        outcome.received_total += 1;
                        outcome.received_in_window += u64::from(arrived_in_window);
                        if stamp.sender == self.index {
                            own_echoes += 1;
                        }
                        if shared.is_measured(stamp.sent_ns) {
                            measured_in_batch += 1;
                            latencies
                                .get_or_insert_with(|| shared.latencies())
                                .record_ns(received_ns.saturating_sub(stamp.sent_ns));
                        }
                    }
                    Incoming::Ping => {
                        let key = self.masks.next_key();
                        websocket::encode_client_frame(
                            &mut self.outbox,
                            Opcode::Text,
                            protocol::ENGINE_IO_PONG,
                            key,
                        );
                    }
                    Incoming::ServerError => outcome.server_errors += 1,
                    Incoming::Closed => return Err(ClientError::ClosedByServer),
                    Incoming::Other => {}
                },
                // The heartbeat of a production server: answer, or be dropped.
                Some(Message::Ping(payload)) => {
                    let key = self.masks.next_key();
                    websocket::encode_client_frame(&mut self.outbox, Opcode::Pong, payload, key);
                }
                Some(Message::Close) => return Err(ClientError::ClosedByServer),
                Some(Message::Binary(_) | Message::Pong) | None => {}
            }
            self.inbox.consume(used);
        }
        if measured_in_batch > 0 {
            outcome.received_measured += measured_in_batch;
            shared
                .measured_received
                .fetch_add(measured_in_batch, Ordering::Relaxed);
        }
        Ok(own_echoes)
    }

    /// Runs until `stop` fires (or the server closes us), then reports.
    pub async fn run(
        mut self,
        role: SenderRole,
        shared: Arc<RunShared>,
        mut stop: watch::Receiver<bool>,
    ) -> ClientOutcome {
        let mut outcome = ClientOutcome::default();
        let mut pacer = match role {
            SenderRole::Paced { first_send, period } => {
                let mut interval = tokio::time::interval_at(first_send.into(), period);
                // Catch up after a stall instead of silently sending fewer
                // messages: the offered load stays what was asked for.
                interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
                Some(interval)
            }
            _ => None,
        };
        let in_flight_limit = match role {
            SenderRole::FlatOut { in_flight } => in_flight,
            _ => 0,
        };
        let mut flat_out_waiting_for_start = in_flight_limit > 0;
        let mut in_flight = 0u32;
        let mut sequence = 0u64;
        // Made once and polled again on every turn of the loop: a fresh
        // `changed()` each turn would join and leave the stop signal's waiter
        // list (a lock every client shares) for every read.
        let stopped = stop.changed();
        let flat_out_start = sleep_until(shared.traffic_start.into());
        tokio::pin!(stopped, flat_out_start);

        let result: Result<(), ClientError> = async {
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => {
                        // Say goodbye properly (close code 1000, "normal"), so
                        // the server sees a clean close rather than a dropped
                        // connection; its answer is not awaited.
                        let key = self.masks.next_key();
                        websocket::encode_client_frame(&mut self.outbox, Opcode::Close, &1000u16.to_be_bytes(), key);
                        let _ = self.flush().await;
                        return Ok(());
                    }
                    read = self.inbox.read_from(&mut self.stream) => {
                        if read? == 0 {
                            return Err(ClientError::ClosedByServer);
                        }
                        let echoes = self.decode_batch(shared.clock.now_ns(), &shared, &mut outcome)?;
                        in_flight = in_flight.saturating_sub(echoes);
                    }
                    _ = next_tick(&mut pacer) => {
                        if shared.clock.now_ns() < shared.measure_end_ns {
                            self.queue_publish(sequence, &shared, &mut outcome);
                            sequence += 1;
                        } else {
                            pacer = None;
                        }
                    }
                    () = &mut flat_out_start, if flat_out_waiting_for_start => {
                        flat_out_waiting_for_start = false;
                    }
                }
                // Flat out: top the pipeline back up after every batch of echoes.
                if in_flight_limit > 0 && !flat_out_waiting_for_start && shared.clock.now_ns() < shared.measure_end_ns {
                    while in_flight < in_flight_limit {
                        self.queue_publish(sequence, &shared, &mut outcome);
                        sequence += 1;
                        in_flight += 1;
                    }
                }
                self.flush().await?;
            }
        }
        .await;
        if let Err(error) = result {
            outcome.ended_early = Some(error.to_string());
        }
        outcome
    }
}

/// The pacer's next tick, or never for clients that do not pace.
async fn next_tick(pacer: &mut Option<Interval>) {
    match pacer {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
