//! The log capture's policy on lag: a reader that fell so far behind that
//! lines were dropped fails at once, saying so, instead of timing out later
//! with a message far from the cause.
//!
//! One test only, in its own file (its own test binary): it floods the
//! capture, which would make any reader in a test beside it lag too.
//!
//! Run with `cargo test -p testkit --test lagging_reader`.

use testkit::{log_lines, logs::CAPACITY};
use tracing::info;

/// More lines than the capture holds, logged while a reader reads none:
/// its next wait fails with how many lines it lost.
#[tokio::test]
#[should_panic(expected = "log lines were dropped before this test read them")]
async fn a_reader_that_lost_lines_fails_saying_so() {
    // Arrange
    let mut logs = log_lines();

    // Act
    for index in 0..CAPACITY + 10 {
        info!("line {index}");
    }

    // Assert: the line is in the channel, but lines before it were lost.
    logs.wait_for(&format!("line {}", CAPACITY + 9)).await;
}
