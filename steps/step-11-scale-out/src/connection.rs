//! The life of one connection, from its `connect` greeting to its last frame:
//! the lesson's `io.on("connection", (socket) => ...)` callback as a struct.
//!
//! A [`Connection`] owns everything that belongs to one client: its socket,
//! its id, its place in a room and what it hears there, its inbox for
//! private messages, its heartbeat, its rate limits and whether it is
//! closing. [`Connection::run`] is one `select!` loop that waits for
//! whichever comes first — shutdown, the heartbeat timer, the room's next
//! message, a private message, someone typing, or the client's next frame —
//! and hands it to one method per branch. Each method says how the loop goes
//! on: [`ControlFlow::Continue`], or [`ControlFlow::Break`] with the
//! [`Ending`] that is logged as the reason.
//!
//! Why this shape: every step adds to a connection. Step 10 adds fields (the
//! store, the session and what was replayed), one branch (a newer
//! connection taking the session over), and changes three arms of
//! [`Connection::on_event`]: a `join` replays what the client missed, and a
//! `message` or `private` is stored before anyone hears of it — if it fits
//! in the chat's budget of published bytes, checked before it is stored.
//! Step 08's defences stay where they were: the client's budgets in
//! [`Connection::on_frame`] (every frame counts, and a flood is
//! disconnected), and a close frame with the right code for frames that
//! break the WebSocket rules ([`Connection::on_read_error`]). Read
//! `notes/10-delivery.md` beside this file.

use std::{
    fmt,
    future::Future,
    ops::ControlFlow,
    pin::Pin,
    sync::{Arc, LazyLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Error,
    extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
};
use futures::{SinkExt, StreamExt, stream::FuturesUnordered};
use serde_json::{Value, json};
use tokio::{
    sync::{
        broadcast::{
            self,
            error::{RecvError, TryRecvError},
        },
        oneshot,
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
    history::{History, not_stored},
    ids::ConnectionId,
    inbox::Inbox,
    names::{Nickname, RoomName},
    protocol::{self, Ack, AckReply, ClientEvent, ProtocolError, Refusal, ServerEvent},
    quiet_log::LogThrottle,
    rate_limit::{ClientBudget, Decision, Over, SharedBudget, TokenBucket, Verdict},
    rooms::{JoinRefused, Membership, PrivateRefused, RoomFrame, Rooms, Seat},
    sessions::{self, Sessions},
    shared::{Claim, ClaimRefused, LinkError, Shared},
    store::{Delivery, Found, NewMessage, Query, StoredMessage},
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

/// How many `typing` notices a client may send per second (and in one
/// burst). A client that types faster is quietly thinned: notices are
/// volatile, and nobody needs to hear "typing" more often than this.
pub const TYPING_PER_SECOND: u32 = 4;

/// The answer of an event: data for an acknowledgement, or the sentence
/// that says why it was refused.
type Answer = Result<Value, Refusal>;

/// An answer that comes once the database has stored the message.
type LaterAnswer = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// A message being stored, and the `ack` to answer it on.
type Saving = Pin<Box<dyn Future<Output = (Option<Ack>, Answer)> + Send>>;

/// What an event gives: its answer now, or once its message is stored.
enum Outcome {
    Now(Answer),
    Later(LaterAnswer),
}

/// The most messages of one connection being stored at once; past it, the
/// connection reads nothing more from its client until one is answered.
pub const MAX_SAVES_IN_FLIGHT: usize = 4;

/// The close code for a connection whose session a newer one took back:
/// one of the codes RFC 6455 leaves to applications (4000–4999).
/// `socket.js` does not reconnect after it: the newer connection is the
/// tab's now.
pub const TAKEN_OVER: u16 = 4001;

/// The newest ids a replay has already sent this client.
#[derive(Clone, Copy, Debug, Default)]
struct Replayed {
    room: i64,
    private: i64,
}

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
    /// The room's channel closed. Every member holds a handle to it, so it
    /// outlives them all; this would mean there is nothing left to forward.
    RoomClosed,
    /// The client sent more than [`MAX_MESSAGE_BYTES`] in one message.
    MessageTooBig,
    /// The server is shutting down, and told the client so (1001).
    ShuttingDown,
    /// The client did not answer a ping within the heartbeat timeout.
    NoAnswerToPing { within: Duration },
    /// The client fell more than a room's capacity behind (1008).
    FellBehind { missed: u64 },
    /// The client's socket took nothing we sent for the whole write timeout.
    TookNothing { within: Duration },
    /// A newer connection took this one's session back (4001).
    TakenOver,
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
            Ending::RoomClosed => f.write_str("the chat room closed"),
            Ending::TakenOver => f.write_str("this session was taken over by a newer connection"),
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

/// What a member hears from its room: the frames published since it joined,
/// oldest first.
type Feed = broadcast::Receiver<RoomFrame>;

/// One client's connection and everything that belongs to it.
pub struct Connection {
    /// The upgraded socket: frames from the client in, events out. Its
    /// read and write buffers keep the size of the largest message they
    /// ever held (at most one message's worth each: see "Memory after a
    /// large message" in `notes/08-production.md`).
    socket: WebSocket,
    /// This connection's id, sent in `connect` and written in every log line.
    id: ConnectionId,
    /// Who is where, on the whole server.
    rooms: Rooms,
    /// This connection's number in the rooms: its frames carry it, so it can
    /// skip them.
    seat: Seat,
    /// Its nickname and room, once it has joined (`None` before).
    member: Option<Membership>,
    /// The room's messages, `joined` and `left`, from the join on.
    feed: Option<Feed>,
    /// The room's `typing` notices: volatile, dropped first.
    typing_feed: Option<Feed>,
    /// Private messages for this connection.
    inbox: Arc<Inbox>,
    /// Every message, committed before anyone hears of it.
    history: History,
    /// This client's messages being stored, each with the `ack` to answer
    /// it on.
    saving: FuturesUnordered<Saving>,
    /// Every session of the last `RECOVERY_SECONDS`.
    sessions: Sessions,
    /// This connection's session secret, once it has joined.
    session: Option<String>,
    /// Fires when a newer connection takes this one's session over.
    taken_over: Option<oneshot::Receiver<()>>,
    /// Step 11: Redis gave this connection back a session it brought (held
    /// by a connection on another node, or by none).
    recovered_elsewhere: bool,
    /// The newest room message and private message already sent to this
    /// client by a replay: the same ones arriving live are skipped.
    replayed: Replayed,
    /// What to send right after the answer to the frame being handled (the
    /// history, after a join's answer).
    after_answer: Vec<Utf8Bytes>,
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
    /// `MAX_PUBLISHED_BYTES_PER_SECOND`: the chat's budget, shared by every
    /// connection.
    published: SharedBudget,
    /// [`TYPING_PER_SECOND`] for this client.
    typing_limit: TokenBucket,
    /// Set when the client has sent its close frame. From then on the only
    /// thing we may still send is the closing reply, so the chat falls
    /// silent.
    closing: bool,
}

impl Connection {
    /// A connection for `socket`, in no room yet.
    pub fn new(socket: WebSocket, id: ConnectionId, state: &AppState) -> Self {
        let config = state.config.clone();
        let now = Instant::now();
        let heartbeat = Heartbeat::new(config.heartbeat_interval, config.heartbeat_timeout, now);
        Connection {
            socket,
            id,
            rooms: state.rooms.clone(),
            seat: Rooms::next_seat(),
            member: None,
            feed: None,
            typing_feed: None,
            inbox: Inbox::new(config.queue_capacity),
            history: state.history.clone(),
            saving: FuturesUnordered::new(),
            sessions: state.sessions.clone(),
            session: None,
            taken_over: None,
            recovered_elsewhere: false,
            replayed: Replayed::default(),
            after_answer: Vec::new(),
            shutdown: Box::pin(state.shutdown.clone().cancelled_owned()),
            heartbeat_timer: Box::pin(sleep_until(heartbeat.deadline().into())),
            heartbeat,
            budget: ClientBudget::new(
                config.max_messages_per_second,
                config.max_bytes_per_second,
                now,
            ),
            published: state.published.clone(),
            typing_limit: TokenBucket::new(TYPING_PER_SECOND, now),
            config,
            closing: false,
        }
    }

    /// Greets the client with its id, then answers its frames and forwards
    /// what its room and other people send it, until the connection ends —
    /// and meanwhile pings it, and says goodbye if the server shuts down.
    /// Returns why it ended; its membership, dropped with it, tells the room.
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
            // Wait for whichever comes first. All seven waits are
            // cancel-safe, so each can be abandoned when another one wins:
            // the shutdown future, the take-over and the timer can simply be
            // polled again,
            // `broadcast::Receiver::recv` keeps its place in the channel, the
            // inbox looks in its queue first, and `WebSocket::recv` keeps a
            // half-read frame in its buffer.
            let typing_wanted = self.can_take_typing();
            let next = tokio::select! {
                // `biased`: look in this order. Shutdown and the heartbeat
                // first, so a busy connection still hears them; then what
                // must arrive (the room, private messages), so a client hears
                // the room before we read more from it; `typing` only when
                // nothing else waits; the client's frames last.
                biased;
                () = &mut self.shutdown => self.on_shutdown().await,
                taken = next_take_over(&mut self.taken_over) => self.on_taken_over(taken).await,
                () = &mut self.heartbeat_timer => self.on_heartbeat_due().await,
                published = next_from(&mut self.feed), if !self.closing => self.forward(published).await,
                private = self.inbox.next(), if !self.closing => self.forward_private(private).await,
                (ack, answer) = next_saved(&mut self.saving) => self.answer(ack, answer).await,
                notice = next_from(&mut self.typing_feed), if typing_wanted => self.forward_typing(notice).await,
                // Back-pressure: with too many messages being stored, stop
                // reading until one is answered.
                received = self.socket.recv(), if self.saving.len() < MAX_SAVES_IN_FLIGHT => {
                    self.on_frame(received).await
                }
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

    /// Writes every message waiting in the feed and the inbox, batch by
    /// batch, until none is left or the client cannot take more.
    async fn send_what_was_published(&mut self) {
        while let Some(Ok(frame)) = self.feed.as_mut().map(Feed::try_recv) {
            if !matches!(self.write_batch(frame).await, Batch::Written) {
                return;
            }
        }
        while let Some(private) = self.inbox.try_next() {
            if self
                .send_within(Message::Text(private.frame))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// A newer connection has taken this one's session back (the client
    /// reconnected before this connection was noticed as dead): say so, and
    /// end. `Err`: nobody can take it over any more; carry on.
    async fn on_taken_over(&mut self, taken: Result<(), oneshot::error::RecvError>) -> Next {
        self.taken_over = None;
        if taken.is_err() {
            return ControlFlow::Continue(());
        }
        let ending = Ending::TakenOver;
        let limit = self.config.heartbeat_timeout;
        self.say_goodbye(TAKEN_OVER, &ending.to_string(), limit)
            .await;
        ControlFlow::Break(ending)
    }

    /// The heartbeat timer fired: time to ping, or the client never answered
    /// the last ping.
    async fn on_heartbeat_due(&mut self) -> Next {
        match self.heartbeat.deadline_passed(Instant::now()) {
            Beat::SendPing => {
                let ping = Message::Ping(Default::default());
                if let Err(why) = self.send_within(ping).await {
                    return ControlFlow::Break(self.unsent(why));
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

    /// A frame from the room, for this client, together with every other one
    /// already waiting (see [`Connection::write_batch`]).
    async fn forward(&mut self, published: Result<RoomFrame, RecvError>) -> Next {
        let batch = match published {
            Ok(frame) => self.write_batch(frame).await,
            Err(RecvError::Lagged(missed)) => Batch::FellBehind(missed),
            Err(RecvError::Closed) => return ControlFlow::Break(Ending::RoomClosed),
        };
        match batch {
            Batch::Written => ControlFlow::Continue(()),
            Batch::FellBehind(missed) => ControlFlow::Break(self.too_far_behind(missed).await),
            Batch::Stuck => ControlFlow::Break(self.too_slow_to_write()),
            Batch::Failed => ControlFlow::Break(Ending::LostWhileSending),
        }
    }

    /// A private message for this client.
    async fn forward_private(&mut self, private: RoomFrame) -> Next {
        if private.id <= self.replayed.private {
            // Already sent by the replay that followed this join.
            return ControlFlow::Continue(());
        }
        match self.send_within(Message::Text(private.frame)).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(why) => ControlFlow::Break(self.unsent(why)),
        }
    }

    /// Someone in the room started or stopped typing.
    async fn forward_typing(&mut self, notice: Result<RoomFrame, RecvError>) -> Next {
        match notice {
            Ok(notice) if notice.from != self.seat => {
                if let Err(why) = self.send_within(Message::Text(notice.frame)).await {
                    return ControlFlow::Break(self.unsent(why));
                }
            }
            Ok(_own) => {}
            // Notices this client was too slow for are simply gone.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => self.typing_feed = None,
        }
        ControlFlow::Continue(())
    }

    /// Whether to hear `typing` now: only when nothing that must arrive is
    /// waiting, so a notice never queues ahead of, or behind, a message for
    /// a client that is behind.
    fn can_take_typing(&self) -> bool {
        !self.closing && self.feed.as_ref().is_none_or(Feed::is_empty) && self.inbox.is_empty()
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
                // Said on the frame's ack, if it asked for one. Only this
                // first dropped frame of a burst is answered at all.
                let ack = match message {
                    Message::Text(text) => {
                        protocol::parse_client_frame(text).map_or_else(|r| r.ack, |f| f.ack)
                    }
                    _ => None,
                };
                Some(self.answer(ack, Err(slow_down(over).into())).await)
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

    /// A text frame within the budget: one event in the JSON envelope, or
    /// the sentence that says what was wrong with it, on its ack or as an
    /// `error` event. One bad frame does not end the connection.
    async fn on_text(&mut self, text: Utf8Bytes) -> Next {
        match protocol::parse_client_frame(&text) {
            Ok(frame) => match self.on_event(frame.event).await {
                Outcome::Now(answer) => self.answer(frame.ack, answer).await,
                Outcome::Later(answer) => {
                    // Stored while this connection goes on reading: a client
                    // with several messages in flight has them committed in
                    // one batch, not one commit after another. Answered in
                    // the `saving` branch of `run`.
                    let ack = frame.ack;
                    self.saving
                        .push(Box::pin(async move { (ack, answer.await) }));
                    ControlFlow::Continue(())
                }
            },
            Err(refused) => {
                self.answer(refused.ack, Err(refused.error.to_string().into()))
                    .await
            }
        }
    }

    /// One client event, one arm: a new event is a variant of
    /// [`ClientEvent`] and an arm here, and nothing else changes. Each event
    /// gives its answer: the data of its acknowledgement, or why it was
    /// refused.
    async fn on_event(&mut self, event: ClientEvent) -> Outcome {
        match event {
            ClientEvent::Join {
                nickname,
                room,
                session,
                last_id,
            } => Outcome::Now(
                self.on_join(&nickname, room.as_deref(), session, last_id)
                    .await,
            ),
            ClientEvent::Message {
                text,
                client_offset,
            } => self.on_message(text, client_offset),
            ClientEvent::Typing { typing } => Outcome::Now(self.on_typing(typing)),
            ClientEvent::Private {
                to,
                text,
                client_offset,
            } => self.on_private(&to, text, client_offset),
        }
    }

    /// `join`: take a nickname (back, with a `session`) and go into a room,
    /// leaving the one this connection was in; then replay what the client
    /// missed (after `last_id`), or the room's latest messages. The answer
    /// lists who is in the room, and gives the session's secret.
    async fn on_join(
        &mut self,
        nickname: &str,
        room: Option<&str>,
        session: Option<String>,
        last_id: Option<i64>,
    ) -> Answer {
        let nickname = Nickname::parse(nickname).map_err(|refused| refused.to_string())?;
        let room = RoomName::parse(room).map_err(|refused| refused.to_string())?;
        // Step 11: with Redis, the nickname is claimed on every node first,
        // and the list of users is every node's.
        let (taking_over, everyone) = match self.history.shared().cloned() {
            None => (self.take_session(session.as_deref(), &nickname), None),
            Some(shared) => {
                let claimed = self.claim(&shared, &nickname, &room, session).await?;
                (claimed.0, Some(claimed.1))
            }
        };
        let joined = self
            .rooms
            .join(
                self.seat,
                nickname,
                room,
                &self.inbox,
                &mut self.member,
                taking_over,
            )
            .map_err(|JoinRefused::NicknameTaken { nickname }| {
                format!("the nickname {nickname} is taken; choose another")
            })?;
        // Subscribed first (inside `join`), read second: a message stored
        // in between is both read and live, and the live one is skipped; none
        // falls between the two. With Redis, the node's reader must follow
        // the room (and this person's private messages) before the read too.
        self.feed = Some(joined.messages);
        self.typing_feed = Some(joined.typing);
        self.follow_everywhere().await?;
        let recovered = taking_over.is_some() || self.recovered_elsewhere;
        if let Err(refused) = self.replay(last_id, recovered).await {
            self.undo_join();
            return Err(refused);
        }
        let member = self.member.as_ref().ok_or("join a room first")?;
        debug!(
            "{} joined {} as {}",
            self.id,
            member.room.as_str(),
            member.nickname.as_str()
        );
        Ok(json!({
            "nickname": member.nickname.as_str(),
            "room": member.room.as_str(),
            "users": everyone.unwrap_or(joined.users),
            "session": self.session,
            "recovered": recovered,
        }))
    }

    /// Step 11: claims `nickname` and a place in `room` on every node (in
    /// Redis), taking back the session the client `brought` if Redis still
    /// has it. Returns the seat of a connection on this node whose session
    /// was taken back (to take its nickname from, as step 10 does), and
    /// every node's users of the room.
    async fn claim(
        &mut self,
        shared: &Shared,
        nickname: &Nickname,
        room: &RoomName,
        brought: Option<String>,
    ) -> Result<(Option<Seat>, Vec<String>), Refusal> {
        let fresh = sessions::new_secret().ok_or("no random bytes for a session; try again")?;
        let claim = Claim {
            seat: self.seat,
            nickname,
            room,
            own_session: self.session.as_deref(),
            brought_session: brought.as_deref(),
            fresh_session: &fresh,
            previous_key: self.member.as_ref().map(|member| member.nickname.key()),
        };
        let claimed = shared.claim(claim).await.map_err(|refused| match refused {
            ClaimRefused::Taken => Refusal::from(format!(
                "the nickname {} is taken; choose another",
                nickname.as_str()
            )),
            ClaimRefused::Failed(error @ LinkError::Unavailable(_)) => Refusal::try_again(format!(
                "cannot join right now: {error}; try again in a moment"
            )),
            ClaimRefused::Failed(error) => Refusal::from(format!("cannot join: {error}")),
        })?;
        if self.session.is_some() {
            // Joining again on the same connection: the same session,
            // nothing taken back.
            self.sessions.rename(&claimed.session, nickname);
            self.recovered_elsewhere = false;
            return Ok((None, claimed.users));
        }
        let (take_over, taken_over) = oneshot::channel();
        self.taken_over = Some(taken_over);
        self.session = Some(claimed.session.clone());
        self.recovered_elsewhere = claimed.recovered;
        // A session held by a connection on this node is taken back as in
        // step 10; one from another node (or a new one) is adopted here.
        if claimed.recovered
            && let Some(resumed) =
                self.sessions
                    .resume(&claimed.session, self.seat, nickname, take_over)
        {
            return Ok((Some(resumed.from_seat), claimed.users));
        }
        let (take_over, taken_over) = oneshot::channel();
        self.taken_over = Some(taken_over);
        self.sessions
            .adopt(&claimed.session, self.seat, nickname, take_over);
        Ok((None, claimed.users))
    }

    /// Step 11: has the node's reader follow this member's room and private
    /// messages. If Redis went away since the claim, the join is undone.
    async fn follow_everywhere(&mut self) -> Result<(), Refusal> {
        let (Some(shared), Some(member)) = (self.history.shared(), self.member.as_ref()) else {
            return Ok(());
        };
        match shared.follow(&member.room, &member.nickname.key()).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.undo_join();
                Err(Refusal::try_again(format!(
                    "cannot join right now: {error}; try again in a moment"
                )))
            }
        }
    }

    /// Step 11: a join that Redis could not complete leaves the room again
    /// (the membership's drop frees the nickname), with nothing queued.
    fn undo_join(&mut self) {
        self.member = None;
        self.feed = None;
        self.typing_feed = None;
        self.after_answer.clear();
    }

    /// Gives this connection a session for `nickname`: the one the client
    /// brought back, if it is still good (then returns the seat of the
    /// connection that held it, to take its nickname from), or a new one.
    fn take_session(&mut self, brought: Option<&str>, nickname: &Nickname) -> Option<Seat> {
        if let Some(own) = &self.session {
            // Joining again on the same connection: the same session.
            self.sessions.rename(own, nickname);
            return None;
        }
        let (take_over, taken_over) = oneshot::channel();
        self.taken_over = Some(taken_over);
        if let Some(secret) = brought
            && let Some(resumed) = self.sessions.resume(secret, self.seat, nickname, take_over)
        {
            self.session = Some(secret.to_owned());
            return Some(resumed.from_seat);
        }
        let (take_over, taken_over) = oneshot::channel();
        self.taken_over = Some(taken_over);
        self.session = self.sessions.start(self.seat, nickname, take_over);
        None
    }

    /// Queues, for right after the join's answer, the room's messages after
    /// `last_id` (or its latest, for a first join), and the private messages
    /// missed, for a session taken back.
    async fn replay(&mut self, last_id: Option<i64>, recovered: bool) -> Result<(), Refusal> {
        let Some(member) = &self.member else {
            return Ok(());
        };
        let (room, to_key) = (member.room.as_str().to_owned(), member.nickname.key());
        let delivery = &self.config.delivery;
        let query = match last_id {
            Some(after) => Query::RoomAfter {
                room: room.clone(),
                after,
                cap: delivery.replay_cap,
            },
            None => Query::Latest {
                room: room.clone(),
                limit: delivery.history_size,
            },
        };
        // Private messages only to a session taken back: a nickname alone
        // is no proof of being their recipient.
        let privates = recovered.then(|| Query::PrivateAfter {
            to_key,
            after: last_id.unwrap_or(0),
            cap: delivery.replay_cap,
        });
        self.replayed = Replayed::default();
        if let Some(found) = self.find(query).await? {
            self.replayed.room = queue_replay(&mut self.after_answer, &room, found);
        }
        if let Some(query) = privates
            && let Some(found) = self.find(query).await?
        {
            self.replayed.private = queue_replay(&mut self.after_answer, &room, found);
        }
        Ok(())
    }

    /// Runs `query`; a database that fails is logged, and the client simply
    /// gets no history. With Redis (step 11) the join is refused instead,
    /// to be tried again: Redis being away is an ordinary event, and a tab
    /// answered without what it missed would move its `last_id` past it.
    async fn find(&mut self, query: Query) -> Result<Option<Found>, Refusal> {
        match self.history.find(query).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if self.history.shared().is_some() => Err(Refusal::try_again(format!(
                "cannot join right now: no history ({error}); try again in a moment"
            ))),
            Err(error) => {
                warn!("no history for {}: {error}", self.id);
                Ok(None)
            }
        }
    }

    /// `message`: the lesson's `socket.on("message", ...)`, for the room
    /// only, and not back to its writer, who has the answer instead. Stored
    /// first: the room hears it only once it is on disk, and a retry of it
    /// (same `client_offset`) is answered with the original, not sent
    /// again. Before that, it must fit in the chat's budget (see
    /// [`Connection::spend_published`]).
    fn on_message(&mut self, text: String, client_offset: Option<String>) -> Outcome {
        let Some(member) = self.member.as_mut() else {
            return Outcome::Now(Err("join a room first".into()));
        };
        if member.is_typing {
            member.say_typing(false);
        }
        let (channels, seat, room) = (
            member.channels(),
            self.seat,
            member.room.as_str().to_owned(),
        );
        let message = NewMessage {
            room: Some(room),
            from: member.nickname.as_str().to_owned(),
            from_key: member.nickname.key(),
            to: None,
            text,
            client_offset,
            at: now_ms(),
        };
        if let Err(refused) = self.spend_published(&message) {
            return Outcome::Now(Err(refused.into()));
        }
        // `from` is the server's record of the writer: a client cannot
        // write another name. The JSON is written once, for everyone.
        let writer = self.id.clone();
        let deliver: Delivery = Box::new(move |stored| {
            let frame = message_event(stored).to_json().into();
            // Everyone's copy but the writer's own, which it skips.
            let receivers = channels
                .send_message(seat, stored.id, frame)
                .saturating_sub(1);
            // Step 09's line, now said on the database thread, once the
            // message is stored and sent; `debug`: under load, a line per
            // message costs more than the message.
            debug!("message from {writer} sent to {receivers} clients");
        });
        self.saved_later(message, deliver)
    }

    /// The answer of a message that is being stored: its `{id, at}` once the
    /// database has committed it (and sent it), or why it was not.
    fn saved_later(&self, message: NewMessage, deliver: Delivery) -> Outcome {
        let (history, seat) = (self.history.clone(), self.seat);
        Outcome::Later(Box::pin(async move {
            let saved = history.save(message, seat, deliver).await?;
            Ok(json!({ "id": saved.id.to_string(), "at": saved.at }))
        }))
    }

    /// `typing`: tell the room, unless this client says it too often, when
    /// it is quietly thinned. Never answered with more than `null`.
    fn on_typing(&mut self, typing: bool) -> Answer {
        let member = self.member.as_mut().ok_or("join a room first")?;
        // Only a change is news; a change too soon after the last is
        // dropped (the next message or leaving says `false` anyway).
        if member.is_typing != typing
            && matches!(self.typing_limit.check(Instant::now()), Verdict::Allow)
        {
            member.say_typing(typing);
        }
        Ok(Value::Null)
    }

    /// `private`: a message for one person, in whatever room they are;
    /// within the chat's budget and stored first, like a room message, so it
    /// survives their absence.
    fn on_private(&mut self, to: &str, text: String, client_offset: Option<String>) -> Outcome {
        if let Some(shared) = self.history.shared().cloned() {
            return self.private_everywhere(shared, to, text, client_offset);
        }
        match self.private_message(to, text, client_offset) {
            Ok((message, deliver)) => self.saved_later(message, deliver),
            Err(refused) => Outcome::Now(Err(refused.into())),
        }
    }

    /// The private message to store, and how to deliver it once stored; or
    /// why it is refused (nobody by that name, the budget spent).
    fn private_message(
        &mut self,
        to: &str,
        text: String,
        client_offset: Option<String>,
    ) -> Result<(NewMessage, Delivery), String> {
        let member = self.member.as_ref().ok_or("join a room first")?;
        let recipient = self
            .rooms
            .recipient(self.seat, to)
            .map_err(|refused| match refused {
                PrivateRefused::NobodyCalled { nickname } => {
                    format!("nobody called {nickname} is online")
                }
                PrivateRefused::ToYourself => {
                    "you cannot send a private message to yourself".to_owned()
                }
                PrivateRefused::NotKeepingUp { nickname } => {
                    format!("{nickname} is not keeping up with their messages; try again later")
                }
            })?;
        let message = NewMessage {
            room: None,
            from: member.nickname.as_str().to_owned(),
            from_key: member.nickname.key(),
            to: Some((recipient.nickname.clone(), recipient.key.clone())),
            text,
            client_offset,
            at: now_ms(),
        };
        self.spend_published(&message)?;
        let (inbox, seat) = (recipient.inbox, self.seat);
        let deliver: Delivery = Box::new(move |stored| {
            let frame = private_event(stored).to_json().into();
            // A full inbox: the message is stored, and its recipient gets it
            // from the database when it comes back.
            let _ = inbox.push(RoomFrame {
                from: seat,
                id: stored.id,
                frame,
            });
        });
        Ok((message, deliver))
    }

    /// Step 11: a private message for someone on any node. Who holds the
    /// nickname is asked of Redis; the message goes into their stream, and
    /// their node's reader delivers it.
    fn private_everywhere(
        &mut self,
        shared: Shared,
        to: &str,
        text: String,
        client_offset: Option<String>,
    ) -> Outcome {
        let Some(member) = self.member.as_ref() else {
            return Outcome::Now(Err("join a room first".into()));
        };
        let key = to.trim().to_lowercase();
        if key == member.nickname.key() {
            return Outcome::Now(Err("you cannot send a private message to yourself".into()));
        }
        let mut message = NewMessage {
            room: None,
            from: member.nickname.as_str().to_owned(),
            from_key: member.nickname.key(),
            to: Some((to.trim().to_owned(), key.clone())),
            text,
            client_offset,
            at: now_ms(),
        };
        if let Err(refused) = self.spend_published(&message) {
            return Outcome::Now(Err(refused.into()));
        }
        let (seat, to) = (self.seat, to.to_owned());
        Outcome::Later(Box::pin(async move {
            let Some(nickname) = shared.who(&key).await.map_err(not_stored)? else {
                return Err(format!("nobody called {to} is online").into());
            };
            message.to = Some((nickname, key));
            let saved = shared.save(&message, seat).await.map_err(not_stored)?;
            Ok(json!({ "id": saved.id.to_string(), "at": saved.at }))
        }))
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

    /// Takes `message`'s frame from the chat's budget of published bytes
    /// (`MAX_PUBLISHED_BYTES_PER_SECOND`, shared by every connection), or
    /// refuses it: the chat is busy.
    ///
    /// Checked *before* the message is stored, since the database thread
    /// delivers whatever it commits: a refused message is neither stored
    /// nor sent, and its ack says so. Every refusal is answered, unlike the
    /// rate limit's: the message was within its sender's own budget, so the
    /// answers are no more than that client's acks, and a client that
    /// retries (the page does) needs an answer to each one.
    fn spend_published(&self, message: &NewMessage) -> Result<(), String> {
        if self.published.spend(frame_bytes(message), Instant::now()) {
            return Ok(());
        }
        Err(format!(
            "the chat is busy: at most {} bytes per second from everyone together; \
             your message was not stored, so nobody got it; send it again in a moment",
            self.config.max_published_bytes_per_second
        ))
    }

    /// Answers a frame: on its `ack` when it had one (data, or the refusal),
    /// and otherwise only a refusal, as an `error` event. Then whatever was
    /// queued to follow the answer (a join's history).
    async fn answer(&mut self, ack: Option<Ack>, answer: Answer) -> Next {
        let answered = match (ack, answer) {
            (Some(ack), result) => {
                let reply = AckReply { ack, result }.to_json();
                self.send_within(Message::Text(reply.into())).await
            }
            (None, Ok(_)) => Ok(()),
            (None, Err(Refusal { message, .. })) => self.send(ServerEvent::Error { message }).await,
        };
        if answered.is_ok() && !self.after_answer.is_empty() {
            let frames = std::mem::take(&mut self.after_answer);
            return self.send_all(frames).await;
        }
        match answered {
            Ok(()) => ControlFlow::Continue(()),
            Err(why) => ControlFlow::Break(self.unsent(why)),
        }
    }

    /// Sends `frames`, in one write, within the write timeout.
    async fn send_all(&mut self, frames: Vec<Utf8Bytes>) -> Next {
        let write = async {
            for frame in frames {
                self.socket.feed(Message::Text(frame)).await?;
            }
            self.socket.flush().await
        };
        match timeout(self.config.heartbeat_timeout, write).await {
            Ok(Ok(())) => ControlFlow::Continue(()),
            Ok(Err(_)) => ControlFlow::Break(Ending::LostWhileSending),
            Err(_) => ControlFlow::Break(self.too_slow_to_write()),
        }
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

    /// Writes `first` and every other frame already waiting in the feed (up
    /// to [`BATCH_LIMIT`]) to the client, then flushes once. The client's
    /// own frames are skipped: one comparison, no copy.
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
    async fn write_batch(&mut self, first: RoomFrame) -> Batch {
        let (seat, replayed) = (self.seat, self.replayed.room);
        let write = async {
            let mut frame = first;
            let mut fed = 0;
            for taken in 1..=BATCH_LIMIT {
                // Its own, or one a replay already sent: skipped.
                let already_sent = frame.id != 0 && frame.id <= replayed;
                if frame.from != seat && !already_sent {
                    // `Message::Text(Utf8Bytes)`: the same shared bytes the
                    // room holds, not a copy; every client's frame points at
                    // one buffer.
                    self.socket.feed(Message::Text(frame.frame)).await?;
                    fed += 1;
                }
                // A full batch: the rest waits in the feed for the next one.
                if taken == BATCH_LIMIT {
                    break;
                }
                match self.feed.as_mut().map(Feed::try_recv) {
                    Some(Ok(next)) => frame = next,
                    Some(Err(TryRecvError::Lagged(missed))) => {
                        return Ok(Batch::FellBehind(missed));
                    }
                    // Nothing more waiting (or the room closed, which `recv`
                    // reports next time): write what we have.
                    _ => break,
                }
            }
            if fed > 0 {
                self.socket.flush().await?;
            }
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
            Err(why) => ControlFlow::Break(self.unsent(why)),
        }
    }

    /// Sends one event to this client as a text frame, within the write
    /// timeout.
    async fn send(&mut self, event: ServerEvent) -> Result<(), Unsent> {
        self.send_within(Message::Text(event.to_json().into()))
            .await
    }

    /// Sends one frame to this client, or fails if it cannot go out within
    /// the write timeout (`HEARTBEAT_TIMEOUT_MS`: the client's buffers are
    /// full and it is not reading).
    async fn send_within(&mut self, message: Message) -> Result<(), Unsent> {
        match timeout(self.config.heartbeat_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Unsent::Lost),
            Err(_) => Err(Unsent::TimedOut),
        }
    }

    /// Why the connection ends when a frame could not be sent.
    fn unsent(&self, why: Unsent) -> Ending {
        match why {
            Unsent::TimedOut => self.too_slow_to_write(),
            Unsent::Lost => Ending::LostWhileSending,
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

impl Drop for Connection {
    /// However the connection ends, its session can be taken back for
    /// `RECOVERY_SECONDS` from now.
    fn drop(&mut self) {
        if let Some(secret) = &self.session {
            self.sessions.ended(secret, self.seat);
        }
    }
}

/// Why a frame did not go out.
#[derive(Clone, Copy, Debug)]
enum Unsent {
    /// The socket took nothing for the whole write timeout.
    TimedOut,
    /// The connection failed (the client went away).
    Lost,
}

/// How writing one batch of chat messages to a client went.
enum Batch {
    /// Every frame was handed to the socket.
    Written,
    /// The client fell more than the room's capacity behind; it missed this
    /// many messages.
    FellBehind(u64),
    /// The socket took nothing for the whole write timeout: the client is not
    /// reading at all.
    Stuck,
    /// The connection failed.
    Failed,
}

/// Waits for the next frame of `feed`, or forever when there is none (the
/// connection has not joined a room yet).
async fn next_from(feed: &mut Option<Feed>) -> Result<RoomFrame, RecvError> {
    match feed {
        Some(feed) => feed.recv().await,
        None => std::future::pending().await,
    }
}

/// Queues the frames of `found` (a `skipped` notice first, if older ones
/// were left out) and returns the newest id among them.
fn queue_replay(queue: &mut Vec<Utf8Bytes>, room: &str, found: Found) -> i64 {
    if found.skipped > 0 {
        let skipped = ServerEvent::Skipped {
            room: room.to_owned(),
            count: found.skipped,
        };
        queue.push(skipped.to_json().into());
    }
    let mut newest = 0;
    for stored in &found.messages {
        let event = if stored.room.is_some() {
            message_event(stored)
        } else {
            private_event(stored)
        };
        queue.push(event.to_json().into());
        newest = newest.max(stored.id);
    }
    newest
}

/// The `message` event of a stored room message.
pub(crate) fn message_event(stored: &StoredMessage) -> ServerEvent {
    ServerEvent::Message {
        id: stored.id.to_string(),
        room: stored.room.clone().unwrap_or_default(),
        from: stored.from.clone(),
        text: stored.text.clone(),
        at: stored.at,
    }
}

/// The `private` event of a stored private message.
pub(crate) fn private_event(stored: &StoredMessage) -> ServerEvent {
    ServerEvent::Private {
        id: stored.id.to_string(),
        from: stored.from.clone(),
        to: stored.to.clone().unwrap_or_default(),
        text: stored.text.clone(),
        at: stored.at,
    }
}

/// How many bytes `message` goes out as: the frame its receivers get, with
/// the longest id there is (its real id is known only once it is stored),
/// so never less than the real frame.
fn frame_bytes(message: &NewMessage) -> usize {
    let stored = StoredMessage {
        id: i64::MAX,
        room: message.room.clone(),
        from: message.from.clone(),
        to: message.to.as_ref().map(|(nickname, _key)| nickname.clone()),
        text: message.text.clone(),
        at: message.at,
    };
    let event = match stored.room {
        Some(_) => message_event(&stored),
        None => private_event(&stored),
    };
    event.to_json().len()
}

/// The next of this client's messages to be stored, with its `ack`;
/// forever while none is being stored.
async fn next_saved(saving: &mut FuturesUnordered<Saving>) -> (Option<Ack>, Answer) {
    match saving.next().await {
        Some(saved) => saved,
        None => std::future::pending().await,
    }
}

/// Waits until a newer connection takes the session over (`Ok`), or until
/// nobody can any more (`Err`); forever when there is no session yet.
async fn next_take_over(
    taken_over: &mut Option<oneshot::Receiver<()>>,
) -> Result<(), oneshot::error::RecvError> {
    match taken_over {
        Some(taken_over) => taken_over.await,
        None => std::future::pending().await,
    }
}

/// The server's clock, in milliseconds since the Unix epoch, as `at` says.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// What a client over one of its budgets is told.
fn slow_down(over: Over) -> String {
    let (limit, unit) = match over {
        Over::Frames { per_second } => (per_second, "messages"),
        Over::Bytes { per_second } => (per_second, "bytes"),
    };
    format!(
        "slow down: at most {limit} {unit} per second; \
         the messages beyond that were dropped"
    )
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
            (Ending::RoomClosed, "the chat room closed"),
            (Ending::MessageTooBig, "message too big"),
            (
                Ending::TakenOver,
                "this session was taken over by a newer connection",
            ),
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
