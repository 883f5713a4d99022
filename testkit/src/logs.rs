//! The server's log lines, as a test sees them.
//!
//! A test proves the server *saw* something (`a user connected <id>`,
//! `message received from client <id>`) by reading the server's own log. The
//! server runs in the test binary, so one global `tracing` layer, installed
//! here on first use, receives every line it logs, from whichever thread or
//! runtime it runs on, and forwards the line's message into a broadcast
//! channel that any number of tests can read.
//!
//! Subscribe with [`log_lines`] *before* doing what should be logged, then
//! [`LogLines::wait_for`] the line. Connection ids are unique, so tests
//! running side by side in one test binary never mistake each other's lines.
//!
//! # Which lines
//! Every `info!` (and louder) line, and every `debug!` line except those of
//! the libraries underneath ([`QUIET_LIBRARIES`]). So a step's own `debug!`
//! lines are captured (step 08 logs each chat message at debug level, too
//! costly for info under load) without this crate naming any step: a copied
//! step 09 is captured the same way. `trace!` lines are never captured.
//!
//! # When a reader falls behind
//! The channel holds [`CAPACITY`] lines for each reader; a reader that falls
//! further behind than that has lost lines, and then fails at once, saying
//! how many were dropped (see [`LogLines`]).

use std::{sync::OnceLock, time::Duration};

use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::timeout,
};
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{Layer, filter::Targets, layer::Context, prelude::*};

use crate::DEADLINE;

/// Libraries whose `debug!` lines are their own inner workings (each HTTP
/// request traced by tower-http, each frame read by tungstenite, each socket
/// polled by mio, WebDriver's requests in `e2e`): only their `info!` and
/// louder lines are captured.
///
/// Each is a prefix of a `tracing` target, as in `RUST_LOG`: `tower` also
/// covers `tower_http`, `tokio` also `tokio_tungstenite`. If a reader ever
/// fails because lines were dropped, the likely cause is a library missing
/// from this list that floods the log at debug level.
pub const QUIET_LIBRARIES: &[&str] = &[
    "axum",
    "fantoccini",
    "h2",
    "hyper",
    "hyper_util",
    "mio",
    "rustls",
    "tokio",
    "tokio_tungstenite",
    "tower",
    "tower_http",
    "tungstenite",
    "want",
];

/// How many lines the capture holds for a reader that has not read them yet.
///
/// The policy on lag is "large enough, and loud if not": the busiest test
/// here (2,000 chat messages, each logged at debug level, while another test
/// in the same binary logs too) stays far below this, so a healthy run never
/// drops a line; a reader that does fall this far behind has lost lines it
/// may be waiting for or counting, and fails at once saying so, instead of
/// timing out seconds later with a message far from the cause. The channel
/// costs about 1 MB, allocated once per test binary.
pub const CAPACITY: usize = 16_384;

/// A reader of the server's log: the message of every captured line from the
/// moment [`log_lines`] was called, as a learner reads them in the terminal
/// (`a user connected 1-3f9a0c1d2e4b5a`).
///
/// Each wait is bounded ([`DEADLINE`] unless [`LogLines::within`] says
/// otherwise) and fails with a sentence naming the line it waited for. A
/// reader that fell more than [`CAPACITY`] lines behind fails as soon as it
/// reads again, saying how many lines were dropped: a wait could otherwise
/// miss its line and a count come out wrong without a word.
pub struct LogLines {
    receiver: broadcast::Receiver<String>,
    /// How long each wait may take.
    patience: Duration,
}

/// Starts listening to the server's log (installing the capture on first
/// use); each wait is bounded by [`DEADLINE`].
pub fn log_lines() -> LogLines {
    LogLines {
        receiver: log_sender().subscribe(),
        patience: DEADLINE,
    }
}

/// Installs the capture, so that no line the server logs from now on is
/// lost, even before any test subscribes. The servers in [`crate::server`]
/// call it before they start.
pub(crate) fn start_capture() {
    log_sender();
}

impl LogLines {
    /// The same reader, waiting up to `patience` in each wait instead of
    /// [`DEADLINE`] (the browser checks wait as long for a log line as for
    /// anything on the page).
    pub fn within(self, patience: Duration) -> LogLines {
        LogLines { patience, ..self }
    }

    /// Waits until the server logs exactly `expected`.
    pub async fn wait_for(&mut self, expected: &str) {
        self.wait_for_times(expected, 1).await;
    }

    /// Waits until the server has logged exactly `expected` `times` times
    /// (counting from when this reader was made, minus any lines already
    /// consumed by an earlier wait).
    pub async fn wait_for_times(&mut self, expected: &str, times: usize) {
        let patience = self.patience;
        let mut seen = 0;
        let reached = timeout(patience, async {
            while seen < times {
                if self.next_line().await == expected {
                    seen += 1;
                }
            }
        })
        .await;
        match (reached, times) {
            (Ok(()), _) => {}
            (Err(_), 1) => panic!("the server did not log {expected:?} within {patience:?}"),
            (Err(_), _) => panic!(
                "the server logged {expected:?} {seen} time(s), not {times}, within {patience:?}"
            ),
        }
    }

    /// Waits until the server logs exactly `last`, and returns every line
    /// logged before it (since [`log_lines`] was called, minus what earlier
    /// waits consumed), so a test can count what happened up to a known
    /// point.
    pub async fn lines_until(&mut self, last: &str) -> Vec<String> {
        let patience = self.patience;
        let mut before = Vec::new();
        let reached = timeout(patience, async {
            loop {
                let line = self.next_line().await;
                if line == last {
                    return;
                }
                before.push(line);
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "the server did not log {last:?} within {patience:?} ({} other lines so far)",
            before.len()
        );
        before
    }

    /// Counts the times the server logs `expected` before it logs `until`.
    ///
    /// Waiting for `expected` N times cannot notice an (N+1)th; counting up to
    /// a line the server logs after all of them (the connection's
    /// `user disconnected <id>`) gives the exact number.
    pub async fn count_until(&mut self, expected: &str, until: &str) -> usize {
        let lines = self.lines_until(until).await;
        lines.iter().filter(|line| *line == expected).count()
    }

    /// The next captured line, however long it takes (the callers bound it).
    async fn next_line(&mut self) -> String {
        match self.receiver.recv().await {
            Ok(line) => line,
            Err(RecvError::Lagged(dropped)) => panic!(
                "{dropped} log lines were dropped before this test read them (the capture \
                 holds {CAPACITY}): the line it waits for may be among them. A library that \
                 floods the log at debug level belongs in testkit's QUIET_LIBRARIES."
            ),
            // The sender lives in a `static`: it is never dropped.
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// The one log capture of this test binary, installed on first use.
///
/// A process has one global `tracing` subscriber; this one has a single
/// layer, [`ForwardMessages`], behind a filter that says which lines it
/// gets (see the module's "Which lines"). Lines the filter refuses are never
/// built at all. Installing it fails only if something else in the binary
/// installed a subscriber first, which no test does.
fn log_sender() -> &'static broadcast::Sender<String> {
    static SENDER: OnceLock<broadcast::Sender<String>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (sender, _) = broadcast::channel(CAPACITY);
        let captured = QUIET_LIBRARIES.iter().fold(
            Targets::new().with_default(Level::DEBUG),
            |targets, library| targets.with_target(*library, Level::INFO),
        );
        tracing_subscriber::registry()
            .with(ForwardMessages(sender.clone()).with_filter(captured))
            .try_init()
            .expect("no other tracing subscriber is installed in this test binary");
        sender
    })
}

/// A `tracing` layer that sends each event's message into a channel.
struct ForwardMessages(broadcast::Sender<String>);

impl<S: Subscriber> Layer<S> for ForwardMessages {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut message = MessageText(String::new());
        event.record(&mut message);
        // No readers yet is fine: nobody is waiting for this line.
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
