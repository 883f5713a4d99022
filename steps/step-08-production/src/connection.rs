//! The life of one connection, from its `connect` greeting to its last frame:
//! the lesson's `io.on("connection", (socket) => ...)` callback as a struct.
//!
//! A [`Connection`] owns everything that belongs to one client: its socket,
//! its id, its feed from the chat hub, its heartbeat, its rate limit and
//! whether it is closing. [`Connection::run`] is one `select!` loop that waits
//! for whichever comes first — shutdown, the heartbeat timer, the next chat
//! message from the hub or the client's next frame — and hands it to one
//! method per branch. Each method says how the loop goes on:
//! [`ControlFlow::Continue`], or [`ControlFlow::Break`] with the [`Ending`]
//! that is logged as the reason.
//!
//! Why this shape: every later step adds to a connection (a client event in
//! step 06, a chat feed in 07, a heartbeat and limits here). Each of those is
//! a field, a branch with its method, or one arm of [`Connection::on_event`],
//! and `run` stays one screen. This step adds the shutdown and heartbeat
//! branches, the client's budgets in [`Connection::on_frame`] (every frame
//! counts, and a flood is disconnected), a close frame with the right code
//! for frames that break the WebSocket rules ([`Connection::on_read_error`]),
//! and batched writes in [`Connection::forward`]. Read
//! `notes/08-production.md` beside this file.

use std::{
    fmt,
    ops::ControlFlow,
    pin::Pin,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use axum::{
    Error,
    extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
};
use futures::SinkExt;
use tokio::{
    sync::broadcast::{
        self,
        error::{RecvError, TryRecvError},
    },
    time::{Sleep, sleep, sleep_until, timeout, timeout_at},
};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, warn};

use crate::{
    AppState, MAX_MESSAGE_BYTES,
    config::Config,
    heartbeat::{Beat, Heartbeat},
    hub::{ChatBusy, Hub},
    ids::ConnectionId,
    protocol::{self, ClientEvent, ProtocolError, ServerEvent},
    quiet_log::LogThrottle,
    rate_limit::{ClientBudget, Decision, Over},
};

/// At most this many queued messages go into one write (see
/// [`Connection::write_batch`]).
///
/// A cap, so that a connection with a long queue still gives its heartbeat,
/// its client's frames and the other tasks on this thread a turn.
pub const BATCH_LIMIT: usize = 64;

/// How long a connection stays open, reading nothing, after a close frame
/// it does not wait to have answered (see [`Connection::hang_up_with`]).
///
/// Long enough for the kernel to send the frame (microseconds on loopback,
/// a round trip across the internet); short enough that a flood ended this
/// way holds its connection slot only briefly.
const LINGER: Duration = Duration::from_millis(100);

/// The "sending too fast" line, at most once a second for all connections
/// together: one client just over its budget crosses it again with every
/// token that comes back, and thousands of clients can do it at once.
static TOO_FAST_LOG: LazyLock<LogThrottle> = LazyLock::new(LogThrottle::default);

/// Why a connection ended, logged as the `reason` of "user disconnected".
///
/// An enum rather than a string built where it happens: the log words live in
/// one place ([`fmt::Display`] below), a test can match a variant, and a later
/// step that finds a new way to end adds a variant, not a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The connection failed before the client got its `connect` event.
    LostBeforeGreeting,
    /// The client sent a close frame: the polite goodbye of a closed tab.
    ClientClosed,
    /// The TCP connection ended without a close frame (a killed browser, a
    /// lost network).
    NoCloseFrame,
    /// A write to the client failed.
    LostWhileSending,
    /// The chat hub closed. Every connection holds the hub, so it outlives
    /// them all; this would mean there is nothing left to forward.
    HubClosed,
    /// The client sent more than [`MAX_MESSAGE_BYTES`] in one message.
    MessageTooBig,
    /// The server is shutting down, and told the client so (1001).
    ShuttingDown,
    /// The client did not answer a ping within the heartbeat timeout.
    NoAnswerToPing { within: Duration },
    /// The client fell more than the hub's capacity behind (1008).
    FellBehind { missed: u64 },
    /// The client's socket took nothing we sent for the whole write timeout.
    TookNothing { within: Duration },
    /// The client sent a frame that breaks the WebSocket rules (1002, or
    /// 1007 for text that is not UTF-8).
    BrokeProtocol(Violation),
    /// The client kept sending far past `MAX_MESSAGES_PER_SECOND` (1008).
    Flooding { per_second: u32 },
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::LostBeforeGreeting => f.write_str("connection lost before the connect event"),
            Ending::ClientClosed => f.write_str("client closed the connection"),
            Ending::NoCloseFrame => f.write_str("connection ended without a close frame"),
            Ending::LostWhileSending => f.write_str("connection lost while sending"),
            Ending::HubClosed => f.write_str("the chat hub closed"),
            Ending::MessageTooBig => f.write_str("message too big"),
            Ending::ShuttingDown => f.write_str("server shutting down"),
            Ending::NoAnswerToPing { within } => {
                write!(f, "no answer to a ping within {} ms", within.as_millis())
            }
            Ending::FellBehind { missed } => write!(f, "too slow: fell {missed} messages behind"),
            Ending::TookNothing { within } => write!(
                f,
                "too slow: took nothing we sent for {} ms",
                within.as_millis()
            ),
            Ending::BrokeProtocol(violation) => {
                write!(f, "broke the WebSocket protocol: {violation}")
            }
            Ending::Flooding { per_second } => {
                write!(f, "sent far more than {per_second} messages per second")
            }
        }
    }
}

/// Which WebSocket rule (RFC 6455) a client's frame broke. tungstenite finds
/// it and reports an error; this names it in our words, for the log and for
/// the close frame's reason, and picks the close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A text frame (or a close frame's reason) that is not UTF-8 (1007).
    NotUtf8,
    /// A frame without a mask: every client frame must be masked (5.1).
    Unmasked,
    /// One of the three reserved bits set, with no extension that uses it.
    ReservedBits,
    /// An opcode RFC 6455 does not define (3 to 7, 11 to 15).
    UnknownOpcode,
    /// A close frame whose payload is one byte: a code takes two.
    BadCloseFrame,
    /// A ping, pong or close split into fragments.
    FragmentedControlFrame,
    /// A ping, pong or close with more than 125 bytes.
    ControlFrameTooBig,
    /// A continuation frame with no message to continue.
    StrayContinuation,
    /// A new message while the last one still waits for its fragments.
    UnfinishedMessage,
    /// Any other rule.
    Other,
}

impl Violation {
    /// The rule behind one of tungstenite's protocol errors.
    fn of(rule: &tungstenite::error::ProtocolError) -> Violation {
        use tungstenite::error::ProtocolError as Rule;
        match rule {
            Rule::UnmaskedFrameFromClient => Violation::Unmasked,
            Rule::NonZeroReservedBits => Violation::ReservedBits,
            Rule::UnknownControlFrameType(_)
            | Rule::UnknownDataFrameType(_)
            | Rule::InvalidOpcode(_) => Violation::UnknownOpcode,
            Rule::InvalidCloseSequence => Violation::BadCloseFrame,
            Rule::FragmentedControlFrame => Violation::FragmentedControlFrame,
            Rule::ControlFrameTooBig => Violation::ControlFrameTooBig,
            Rule::UnexpectedContinueFrame => Violation::StrayContinuation,
            Rule::ExpectedFragment(_) => Violation::UnfinishedMessage,
            _ => Violation::Other,
        }
    }

    /// The close code RFC 6455 (7.4.1) gives: 1007 for data that is not
    /// what its type says (text that is not UTF-8), 1002 for the rest.
    fn close_code(self) -> u16 {
        match self {
            Violation::NotUtf8 => close_code::INVALID,
            _ => close_code::PROTOCOL,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Violation::NotUtf8 => "sent text that is not UTF-8",
            Violation::Unmasked => "sent an unmasked frame",
            Violation::ReservedBits => "sent a frame with reserved bits set",
            Violation::UnknownOpcode => "sent a frame with an unknown opcode",
            Violation::BadCloseFrame => "sent a bad close frame",
            Violation::FragmentedControlFrame => "sent a fragmented control frame",
            Violation::ControlFrameTooBig => "sent a control frame over 125 bytes",
            Violation::StrayContinuation => "sent a fragment of a message it never started",
            Violation::UnfinishedMessage => "sent a new message before finishing the last one",
            Violation::Other => "sent a frame against the WebSocket rules",
        })
    }
}

/// What a branch of the loop decides: go on, or end with this reason.
type Next = ControlFlow<Ending>;

/// A connection's view of the hub: the frames published since it
/// subscribed, oldest first.
type Feed = broadcast::Receiver<Utf8Bytes>;

/// One client's connection and everything that belongs to it.
pub struct Connection {
    /// The upgraded socket: frames from the client in, events out. Its
    /// read and write buffers keep the size of the largest message they
    /// ever held (at most one message's worth each: see "Memory after a
    /// large message" in `notes/08-production.md`).
    socket: WebSocket,
    /// This connection's id, sent in `connect` and written in every log line.
    id: ConnectionId,
    /// The chat everyone publishes into.
    hub: Hub,
    /// This connection's view of the hub: the frames published since it
    /// subscribed, oldest first.
    feed: Feed,
    /// The limits this server runs with.
    config: Arc<Config>,
    /// Finishes when the server starts shutting down. Made once and polled
    /// again on every turn of the loop (boxed, because a future must stay in
    /// one place once polled): making a new one for every message would
    /// register and unregister it every time.
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    /// When to ping, and when a silent client counts as gone.
    heartbeat: Heartbeat,
    /// Fires at [`Heartbeat::deadline`]; one timer for the whole connection,
    /// moved with `reset` rather than made anew.
    heartbeat_timer: Pin<Box<Sleep>>,
    /// `MAX_MESSAGES_PER_SECOND` and `MAX_BYTES_PER_SECOND` for this
    /// client, and how far past them it has gone.
    budget: ClientBudget,
    /// Whether this client has been told that the chat is busy
    /// (`MAX_PUBLISHED_BYTES_PER_SECOND`) since its last message went out:
    /// it is told once per burst, like the rate limit.
    told_chat_is_busy: bool,
    /// Set when the client has sent its close frame. From then on the only
    /// thing we may still send is the closing reply, so the chat falls
    /// silent.
    closing: bool,
}

impl Connection {
    /// A connection for `socket`, subscribed to the hub of `state`.
    pub fn new(socket: WebSocket, id: ConnectionId, state: &AppState) -> Self {
        let config = state.config.clone();
        let now = Instant::now();
        let heartbeat = Heartbeat::new(config.heartbeat_interval, config.heartbeat_timeout, now);
        Connection {
            socket,
            id,
            hub: state.hub.clone(),
            // Subscribe first, before the client hears "connect" (in `run`):
            // from that moment it may count on seeing every message, so the
            // feed must already exist. Subscribing after the greeting would
            // leave a gap in which a message published by someone else
            // reaches everyone but this client.
            feed: state.hub.subscribe(),
            shutdown: Box::pin(state.shutdown.clone().cancelled_owned()),
            heartbeat_timer: Box::pin(sleep_until(heartbeat.deadline().into())),
            heartbeat,
            budget: ClientBudget::new(
                config.max_messages_per_second,
                config.max_bytes_per_second,
                now,
            ),
            told_chat_is_busy: false,
            config,
            closing: false,
        }
    }

    /// Greets the client with its id, then forwards every chat message from
    /// the hub to this client and answers this client's frames, until the
    /// connection ends — and meanwhile pings it, and says goodbye if the
    /// server shuts down. Returns why it ended.
    ///
    /// One task does all of it, rather than a reader task and a writer task:
    /// one task is less memory per connection, and there is no second task
    /// to stop when the first one ends.
    pub async fn run(mut self) -> Ending {
        let hello = ServerEvent::Connect {
            id: self.id.clone(),
        };
        if self.send(hello).await.is_err() {
            return Ending::LostBeforeGreeting;
        }
        loop {
            // Wait for whichever comes first. All four waits are cancel-safe,
            // so each can be abandoned when another one wins: the shutdown
            // future and the timer can simply be polled again,
            // `broadcast::Receiver::recv` keeps its place in the channel, and
            // `WebSocket::recv` keeps a half-read frame in its buffer.
            let next = tokio::select! {
                // `biased`: look in this order. Shutdown and the heartbeat
                // first, so a busy connection still hears them; then the feed,
                // so a client whose own messages are waiting to come back is
                // sent those before we read more from it, and nobody can
                // publish faster than they receive.
                biased;
                () = &mut self.shutdown => self.on_shutdown().await,
                () = &mut self.heartbeat_timer => self.on_heartbeat_due().await,
                published = self.feed.recv(), if !self.closing => self.forward(published).await,
                received = self.socket.recv() => self.on_frame(received).await,
            };
            if let ControlFlow::Break(ending) = next {
                return ending;
            }
        }
    }

    /// The server is shutting down: send what was already published, then
    /// tell the client, with 1001 — all within the shutdown grace.
    ///
    /// `biased` put this branch first, so messages may still wait in the
    /// feed; a chat that dropped them would show some tabs a message that
    /// others never got. (Nothing new is read from this client any more, and
    /// every other connection stops reading too, so the feed runs dry.)
    async fn on_shutdown(&mut self) -> Next {
        let deadline = Instant::now() + self.config.shutdown_grace;
        let _ = timeout_at(deadline.into(), self.send_what_was_published()).await;
        let left = deadline.saturating_duration_since(Instant::now());
        self.say_goodbye(close_code::AWAY, "server shutting down", left)
            .await;
        ControlFlow::Break(Ending::ShuttingDown)
    }

    /// Writes every message waiting in the feed, batch by batch, until none
    /// is left or the client cannot take more.
    async fn send_what_was_published(&mut self) {
        while let Ok(frame) = self.feed.try_recv() {
            if !matches!(self.write_batch(frame).await, Batch::Written) {
                return;
            }
        }
    }

    /// The heartbeat timer fired: time to ping, or the client never answered
    /// the last ping.
    async fn on_heartbeat_due(&mut self) -> Next {
        match self.heartbeat.deadline_passed(Instant::now()) {
            Beat::SendPing => {
                let ping = Message::Ping(Default::default());
                if self.send_within(ping).await.is_err() {
                    return ControlFlow::Break(self.too_slow_to_write());
                }
                self.reset_heartbeat_timer();
                ControlFlow::Continue(())
            }
            Beat::PeerIsGone => {
                let ending = Ending::NoAnswerToPing {
                    within: self.config.heartbeat_timeout,
                };
                warn!("dropping {}: {ending}", self.id);
                ControlFlow::Break(ending)
            }
        }
    }

    /// A chat message from the hub, for this client, together with every
    /// other one already waiting (see [`Connection::write_batch`]).
    async fn forward(&mut self, published: Result<Utf8Bytes, RecvError>) -> Next {
        let batch = match published {
            Ok(frame) => self.write_batch(frame).await,
            Err(RecvError::Lagged(missed)) => Batch::FellBehind(missed),
            Err(RecvError::Closed) => return ControlFlow::Break(Ending::HubClosed),
        };
        match batch {
            Batch::Written => ControlFlow::Continue(()),
            Batch::FellBehind(missed) => ControlFlow::Break(self.too_far_behind(missed).await),
            Batch::Stuck => ControlFlow::Break(self.too_slow_to_write()),
            Batch::Failed => ControlFlow::Break(Ending::LostWhileSending),
        }
    }

    /// A frame from the client, or `None` when the connection is over (after
    /// a close frame, or cut).
    async fn on_frame(&mut self, received: Option<Result<Message, Error>>) -> Next {
        let Some(received) = received else {
            return ControlFlow::Break(self.ended());
        };
        // Any frame at all proves the client is alive, not only a pong.
        if self.heartbeat.heard_from_client(Instant::now()) {
            self.reset_heartbeat_timer();
        }
        let message = match received {
            Ok(message) => message,
            Err(error) => return self.on_read_error(error).await,
        };
        // Every frame counts against the client's budget, binary frames and
        // pings too: each one costs the server a reply.
        if let Some(next) = self.spend_budget(&message).await {
            return next;
        }
        match message {
            Message::Text(text) => self.on_text(text).await,
            Message::Binary(_) => self.send_or_end(ProtocolError::BinaryFrame.into()).await,
            // Pings are answered with pongs by the WebSocket library itself; a
            // pong has done its job by arriving (see `heard_from_client`).
            Message::Ping(_) | Message::Pong(_) => ControlFlow::Continue(()),
            // The client said goodbye. We keep reading: the library sends our
            // closing reply on the next read, and then `recv` returns `None`.
            Message::Close(_) => {
                self.closing = true;
                ControlFlow::Continue(())
            }
        }
    }

    /// Counts `message` against the client's budgets. `None`: handle it.
    /// `Some`: it was dropped (and the client told, once per burst), or the
    /// client is flooding and the connection ends.
    async fn spend_budget(&mut self, message: &Message) -> Option<Next> {
        let bytes = match message {
            Message::Text(text) => text.len(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
            // A close frame ends the connection: there is nothing to limit.
            Message::Close(_) => return None,
        };
        match self.budget.check(bytes, Instant::now()) {
            Decision::Handle => None,
            // Told once per burst already: drop it in silence, or a flood of
            // frames would make the server flood back with errors.
            Decision::Drop { tell: None } => Some(ControlFlow::Continue(())),
            Decision::Drop { tell: Some(over) } => {
                if let Some(left_out) = TOO_FAST_LOG.allow() {
                    let more = LogThrottle::and_more(left_out);
                    warn!(
                        "{} is sending too fast; dropping its excess messages{more}",
                        self.id
                    );
                }
                Some(self.send_or_end(slow_down(over)).await)
            }
            Decision::Flood => Some(ControlFlow::Break(self.flooding().await)),
        }
    }

    /// Reading failed: the client sent more than [`MAX_MESSAGE_BYTES`],
    /// broke the WebSocket rules, or the connection is gone. The library
    /// reads no further after any of them.
    async fn on_read_error(&mut self, error: Error) -> Next {
        match read_failure(&error) {
            ReadFailure::TooBig => {
                // We cannot read past the rest of the oversized message (that
                // would mean buffering it), so we say why and hang up.
                let id = &self.id;
                warn!("closing {id}: it sent more than {MAX_MESSAGE_BYTES} bytes in one message");
                self.refuse_message_too_big().await;
                ControlFlow::Break(Ending::MessageTooBig)
            }
            // The library can still write after it refused a frame, so the
            // client is told which rule it broke instead of being cut off.
            ReadFailure::Broke(violation) => {
                let ending = Ending::BrokeProtocol(violation);
                warn!("disconnecting {}: {ending}", self.id);
                debug!("{}'s frame: {error}", self.id);
                self.hang_up_with(violation.close_code(), &ending.to_string())
                    .await;
                ControlFlow::Break(ending)
            }
            // A TCP connection that vanished (browser killed, laptop lid
            // closed, network gone) ends here, not with a close frame.
            ReadFailure::Lost => {
                debug!("connection {} ended: {error}", self.id);
                ControlFlow::Break(self.ended())
            }
        }
    }

    /// A text frame within the budget: one event in the JSON envelope, or an
    /// `error` event back saying what was wrong with it. One bad frame does
    /// not end the connection.
    async fn on_text(&mut self, text: Utf8Bytes) -> Next {
        match protocol::parse_client_frame(&text) {
            Ok(event) => self.on_event(event).await,
            Err(error) => self.send_or_end(error.into()).await,
        }
    }

    /// One client event, one arm: a new event is a variant of
    /// [`ClientEvent`] and an arm here, and nothing else changes.
    async fn on_event(&mut self, event: ClientEvent) -> Next {
        match event {
            // The lesson's `socket.on("message", (text) => io.emit(...))`.
            ClientEvent::Message { text } => {
                let limit = self.config.max_published_bytes_per_second;
                let published = self
                    .hub
                    .publish_within(&self.id, text, limit, Instant::now());
                match published {
                    Ok(receivers) => {
                        self.told_chat_is_busy = false;
                        // `debug`, not step 07's `info`: under load, a line
                        // per message costs more than the message.
                        debug!("message from {} sent to {receivers} clients", self.id);
                        // It comes back to this client through its feed, in
                        // the same order as everyone else sees it.
                        ControlFlow::Continue(())
                    }
                    Err(ChatBusy) => self.chat_is_busy(limit).await,
                }
            }
        }
    }

    /// The chat's budget was spent: the message was dropped. The sender is
    /// told once, until one of its messages goes out again.
    async fn chat_is_busy(&mut self, limit: u32) -> Next {
        if self.told_chat_is_busy {
            return ControlFlow::Continue(());
        }
        self.told_chat_is_busy = true;
        let busy = ServerEvent::Error {
            message: format!(
                "the chat is busy: at most {limit} bytes per second from everyone together; \
                 your message was dropped, send it again in a moment"
            ),
        };
        self.send_or_end(busy).await
    }

    /// The client kept sending far past its frame budget (see
    /// [`ClientBudget`]): disconnect it with 1008 and a reason. We do not
    /// wait for its closing reply: it is still sending, and reading its
    /// flood until the reply comes would be the work the limit saves.
    async fn flooding(&mut self) -> Ending {
        let ending = Ending::Flooding {
            per_second: self.config.max_messages_per_second,
        };
        warn!("disconnecting {}: {ending}", self.id);
        self.hang_up_with(close_code::POLICY, &ending.to_string())
            .await;
        ending
    }

    /// Why the connection ended, once the socket can be read no further.
    fn ended(&self) -> Ending {
        if self.closing {
            Ending::ClientClosed
        } else {
            Ending::NoCloseFrame
        }
    }

    /// Moves the heartbeat timer to the heartbeat's new deadline.
    fn reset_heartbeat_timer(&mut self) {
        let deadline = self.heartbeat.deadline();
        self.heartbeat_timer.as_mut().reset(deadline.into());
    }

    /// Writes `first` and every other message already waiting in the feed
    /// (up to [`BATCH_LIMIT`]) to the client, then flushes once.
    ///
    /// One flush per batch instead of one per message: each flush is a write
    /// system call, and under load a client often has several messages
    /// waiting. Writing them together is what lets one server keep up with
    /// thousands of clients. `feed` only queues a frame in the WebSocket
    /// layer's write buffer (which writes out by itself once
    /// [`WRITE_BUFFER_BYTES`](crate::WRITE_BUFFER_BYTES) are waiting).
    ///
    /// The whole batch must go out within the write timeout: a client whose
    /// TCP buffers stay full that long is not reading, and must not hold this
    /// task forever.
    async fn write_batch(&mut self, first: Utf8Bytes) -> Batch {
        let write = async {
            // `Message::Text(Utf8Bytes)`: the same shared bytes the hub holds,
            // not a copy; every client's frame points at one buffer.
            self.socket.feed(Message::Text(first)).await?;
            for _ in 1..BATCH_LIMIT {
                match self.feed.try_recv() {
                    Ok(frame) => self.socket.feed(Message::Text(frame)).await?,
                    Err(TryRecvError::Lagged(missed)) => return Ok(Batch::FellBehind(missed)),
                    // Nothing more waiting (or the hub closed, which `recv`
                    // reports next time): write what we have.
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            self.socket.flush().await?;
            Ok::<_, Error>(Batch::Written)
        };
        match timeout(self.config.heartbeat_timeout, write).await {
            Ok(Ok(batch)) => batch,
            Ok(Err(_)) => Batch::Failed,
            Err(_elapsed) => Batch::Stuck,
        }
    }

    /// Sends `event`, and ends the connection if that fails.
    async fn send_or_end(&mut self, event: ServerEvent) -> Next {
        match self.send(event).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(()) => ControlFlow::Break(Ending::LostWhileSending),
        }
    }

    /// Sends one event to this client as a text frame, within the write
    /// timeout.
    async fn send(&mut self, event: ServerEvent) -> Result<(), ()> {
        self.send_within(Message::Text(event.to_json().into()))
            .await
    }

    /// Sends one frame to this client, or fails if it cannot go out within
    /// the write timeout (`HEARTBEAT_TIMEOUT_MS`: the client's buffers are
    /// full and it is not reading).
    async fn send_within(&mut self, message: Message) -> Result<(), ()> {
        match timeout(self.config.heartbeat_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(()),
        }
    }

    /// Our policy for a client that fell more than `queue_capacity` messages
    /// behind: disconnect it with close code 1008 and a reason saying so.
    ///
    /// The alternative, skipping it ahead (step 07), keeps a client connected
    /// that is missing messages and most likely still too slow. Disconnecting
    /// is honest: `socket.js` reconnects, and the page shows the reason.
    async fn too_far_behind(&mut self, missed: u64) -> Ending {
        let ending = Ending::FellBehind { missed };
        warn!("disconnecting {}: {ending}", self.id);
        let limit = self.config.heartbeat_timeout;
        self.say_goodbye(close_code::POLICY, &ending.to_string(), limit)
            .await;
        ending
    }

    /// The ending for a client whose socket took nothing for the write
    /// timeout. No close frame: it could not get through the full buffers
    /// either.
    fn too_slow_to_write(&self) -> Ending {
        let ending = Ending::TookNothing {
            within: self.config.heartbeat_timeout,
        };
        warn!("disconnecting {}: {ending}", self.id);
        ending
    }

    /// Sends a close frame with `code` and `reason`, then reads until the
    /// client answers with its own (or `limit` passes), so the connection
    /// ends with a proper closing handshake and the client sees why.
    async fn say_goodbye(&mut self, code: u16, reason: &str, limit: Duration) {
        let close = CloseFrame {
            code,
            reason: reason.into(),
        };
        let handshake = async {
            self.socket.send(Message::Close(Some(close))).await?;
            // What the client sent before it saw our close frame is dropped;
            // its close reply ends the stream.
            while let Some(Ok(_)) = self.socket.recv().await {}
            Ok::<(), Error>(())
        };
        // If the client is already gone, or too slow to answer, there is
        // nobody left to wait for.
        let _ = timeout(limit, handshake).await;
    }

    /// Closes the connection with code 1009, "message too big".
    ///
    /// The WebSocket library only reports the error to us; without this, the
    /// client would see its connection cut with no reason given.
    async fn refuse_message_too_big(&mut self) {
        let reason = format!("message too big: the limit is {MAX_MESSAGE_BYTES} bytes");
        self.hang_up_with(close_code::SIZE, &reason).await;
    }

    /// Sends a close frame with `code` and `reason`, and ends the connection
    /// without reading any more: not the client's reply, nor whatever else
    /// it is still sending.
    async fn hang_up_with(&mut self, code: u16, reason: &str) {
        let close = CloseFrame {
            code,
            reason: reason.into(),
        };
        // If the client is already gone there is nobody left to tell.
        if self.send_within(Message::Close(Some(close))).await.is_ok() {
            // Dropping a socket whose client sent data we never read makes
            // the kernel reset the connection at once and throw away what it
            // has not put on the wire yet — this close frame among it, so the
            // client would never learn why. A pause, without reading, lets
            // the frame go out first.
            sleep(LINGER).await;
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

/// The `error` frame for a client over one of its budgets.
fn slow_down(over: Over) -> ServerEvent {
    let (limit, unit) = match over {
        Over::Frames { per_second } => (per_second, "messages"),
        Over::Bytes { per_second } => (per_second, "bytes"),
    };
    ServerEvent::Error {
        message: format!(
            "slow down: at most {limit} {unit} per second; \
             the messages beyond that were dropped"
        ),
    }
}

/// What a failed read means.
enum ReadFailure {
    /// The client sent more than [`MAX_MESSAGE_BYTES`] in one message.
    TooBig,
    /// The client broke a WebSocket rule.
    Broke(Violation),
    /// The connection is gone (reset, or ended without a close frame).
    Lost,
}

/// Sorts a read error. axum wraps the WebSocket library's error; we look
/// inside for tungstenite's own: its "capacity" error (the size limits), a
/// protocol error or a UTF-8 error (the client broke a rule), or anything
/// else (the connection is gone).
fn read_failure(error: &Error) -> ReadFailure {
    use tungstenite::error::ProtocolError as Rule;
    let source = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>());
    match source {
        Some(tungstenite::Error::Capacity(_)) => ReadFailure::TooBig,
        Some(tungstenite::Error::Utf8(_)) => ReadFailure::Broke(Violation::NotUtf8),
        // The TCP connection ended without a close frame: lost, not rude.
        Some(tungstenite::Error::Protocol(Rule::ResetWithoutClosingHandshake)) => ReadFailure::Lost,
        Some(tungstenite::Error::Protocol(rule)) => ReadFailure::Broke(Violation::of(rule)),
        _ => ReadFailure::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each ending is logged in the words the notes and the earlier steps
    /// use: the log line is part of the contract, and the close frames of
    /// 1008 carry the same words.
    #[test]
    fn endings_read_as_the_log_has_always_said() {
        let second = Duration::from_secs(1);
        let cases = [
            (
                Ending::LostBeforeGreeting,
                "connection lost before the connect event",
            ),
            (Ending::ClientClosed, "client closed the connection"),
            (
                Ending::NoCloseFrame,
                "connection ended without a close frame",
            ),
            (Ending::LostWhileSending, "connection lost while sending"),
            (Ending::HubClosed, "the chat hub closed"),
            (Ending::MessageTooBig, "message too big"),
            (Ending::ShuttingDown, "server shutting down"),
            (
                Ending::NoAnswerToPing { within: second },
                "no answer to a ping within 1000 ms",
            ),
            (
                Ending::FellBehind { missed: 7 },
                "too slow: fell 7 messages behind",
            ),
            (
                Ending::TookNothing { within: second },
                "too slow: took nothing we sent for 1000 ms",
            ),
            (
                Ending::BrokeProtocol(Violation::NotUtf8),
                "broke the WebSocket protocol: sent text that is not UTF-8",
            ),
            (
                Ending::Flooding { per_second: 20 },
                "sent far more than 20 messages per second",
            ),
        ];
        for (ending, words) in cases {
            assert_eq!(ending.to_string(), words, "{ending:?}");
        }
    }
}
