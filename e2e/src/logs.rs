//! What the step's server logs, as a browser check sees it.
//!
//! A page can only show what the server told it; to prove the server saw the
//! page (step 04's `a user connected <id>`, step 06's `message received from
//! client <id>`) a check reads the server's own log lines. The server runs in
//! the test binary, so a `tracing` layer installed here receives every line
//! it logs, from whichever thread or runtime it runs on.
//!
//! Subscribe with [`log_lines`] *before* doing what should be logged, then
//! [`LogLines::wait_for`] the line. Connection ids are unique, so checks
//! running side by side in one test binary never mistake each other's lines.

use std::sync::OnceLock;

use tokio::{sync::broadcast, time::timeout};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{Layer, filter::LevelFilter, layer::Context, prelude::*};

use crate::WAIT;

/// A reader of the server's log: the message of every `info!` (and louder)
/// line from the moment [`log_lines`] was called, as a learner reads them in
/// the terminal (`a user connected 1-3f9a0c1d2e4b5a`).
pub struct LogLines(broadcast::Receiver<String>);

/// Starts listening to the server's log.
pub fn log_lines() -> LogLines {
    LogLines(log_sender().subscribe())
}

impl LogLines {
    /// Waits, up to [`WAIT`], until the server logs exactly `expected`.
    pub async fn wait_for(&mut self, expected: &str) {
        self.wait_for_times(expected, 1).await;
    }

    /// Waits, up to [`WAIT`], until the server has logged exactly `expected`
    /// `times` times (counting from when this reader was made, minus any
    /// lines already consumed by an earlier wait).
    pub async fn wait_for_times(&mut self, expected: &str, times: usize) {
        let mut seen = 0;
        let reached = timeout(WAIT, async {
            while seen < times {
                match self.0.recv().await {
                    Ok(line) if line == expected => seen += 1,
                    Ok(_) => {}
                    // Lines were dropped because this reader fell behind: the
                    // one we want may be among them, and then the deadline
                    // fails the check, with the message below.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    // The sender lives in a `static`: it is never dropped.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "the server logged {expected:?} {seen} time(s), not {times}, within {WAIT:?}"
        );
    }
}

impl LogLines {
    /// Counts the times the server logs `expected` before it logs `until`,
    /// waiting up to [`WAIT`] for `until`.
    ///
    /// Waiting for `expected` N times cannot notice an (N+1)th; counting up to
    /// a line the server logs after all of them (the connection's
    /// `user disconnected <id>`) gives the exact number.
    pub async fn count_until(&mut self, expected: &str, until: &str) -> usize {
        let mut seen = 0;
        let reached = timeout(WAIT, async {
            loop {
                match self.0.recv().await {
                    Ok(line) if line == until => return,
                    Ok(line) if line == expected => seen += 1,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        panic!(
                            "the log reader fell {missed} lines behind: the count would be wrong"
                        )
                    }
                    // The sender lives in a `static`: it is never dropped.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "the server did not log {until:?} within {WAIT:?} ({seen} time(s) {expected:?} so far)"
        );
        seen
    }
}

/// The one log capture of this test binary, installed on first use.
///
/// A process has one global `tracing` subscriber; ours forwards the message
/// of every `info!` (and louder) event into a broadcast channel that any
/// number of checks can read. Installing it fails only if something else in
/// the binary installed a subscriber first, which no check does.
fn log_sender() -> &'static broadcast::Sender<String> {
    static SENDER: OnceLock<broadcast::Sender<String>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (sender, _) = broadcast::channel(4096);
        tracing_subscriber::registry()
            // Debug and trace lines (TraceLayer's request traces, hyper's and
            // tungstenite's inner workings) are never built at all.
            .with(ForwardMessages(sender.clone()).with_filter(LevelFilter::INFO))
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
