//! The log capture's promises: which lines a test can wait for, and that a
//! wait fails, in time, with a sentence naming the line.
//!
//! The lines are logged by the test itself, as a step's server would log
//! them, under targets of its choosing: `step_09_copied` stands for a step
//! that no code in this crate names.
//!
//! Run with `cargo test -p testkit --test log_capture`.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use testkit::log_lines;
use tracing::{debug, info, trace};

/// A word no other test logs, so parallel tests never read each other's
/// lines (as connection ids do for the steps' tests).
fn unique(word: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{word}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A `debug!` line of a crate this crate has never heard of is captured, as
/// step 08's per-message lines are: a copied step works without editing the
/// plumbing.
#[tokio::test]
async fn a_debug_line_of_any_step_is_captured() {
    // Arrange
    let mut logs = log_lines();
    let line = unique("message from a copied step");

    // Act
    debug!(target: "step_09_copied", "{line}");

    // Assert
    logs.wait_for(&line).await;
}

/// The libraries underneath say only their `info!` lines: a `debug!` line
/// of tower-http (a request trace) is not captured, its `info!` line is.
/// `trace!` lines are captured from nobody.
#[tokio::test]
async fn quiet_libraries_and_trace_lines_are_left_out() {
    // Arrange
    let mut logs = log_lines();
    let noise = unique("a request trace");
    let said = unique("something worth saying");
    let whisper = unique("a trace line");

    // Act
    debug!(target: "tower_http::trace::on_request", "{noise}");
    trace!(target: "step_09_copied", "{whisper}");
    info!(target: "tower_http::trace::on_request", "{said}");

    // Assert
    let before = logs.lines_until(&said).await;
    assert!(!before.contains(&noise), "{before:?}");
    assert!(!before.contains(&whisper), "{before:?}");
}

/// `wait_for_times` waits for the n-th time a line is logged, and
/// `count_until` counts every time up to a later line.
#[tokio::test]
async fn repeated_lines_are_waited_for_and_counted() {
    // Arrange
    let mut waiting = log_lines();
    let mut counting = log_lines();
    let click = unique("message received from client");
    let bye = unique("user disconnected");

    // Act
    for _ in 0..3 {
        info!("{click}");
    }
    info!("{bye}");

    // Assert
    waiting.wait_for_times(&click, 3).await;
    assert_eq!(counting.count_until(&click, &bye).await, 3);
}

/// A line that never comes fails the wait once its patience runs out, and
/// the failure names the line.
#[tokio::test]
#[should_panic(expected = "the server did not log \"a line nobody logs\" within 50ms")]
async fn a_line_that_never_comes_fails_the_wait_naming_it() {
    let mut logs = log_lines().within(Duration::from_millis(50));

    logs.wait_for("a line nobody logs").await;
}
