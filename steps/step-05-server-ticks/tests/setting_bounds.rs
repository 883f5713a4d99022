//! Step 05 checkpoint: `TICK_MS` has an upper bound as well as a lower one.
//! A tick of a day is the longest the real binary accepts; anything longer
//! (up to `18446744073709551615`, `u64::MAX`) stops it before it binds the
//! port, with exit code 1 and a sentence naming the variable, the value and
//! the range.
//!
//! These tests run `target/debug/step-05-server-ticks` as a child process with its own
//! environment, as `tests/tick_setting.rs` does (that file checks the lower
//! bound, `TICK_MS=0`, and a real interval).
//!
//! Run with `cargo test -p step-05-server-ticks --test setting_bounds`.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    time::timeout,
};

/// How long the child may take to start or to give up.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The step's binary on any free port, with `TICK_MS` set to `tick_ms`, and
/// stopped if the test leaves it running.
///
/// `RUST_LOG` is removed so that the `info` lines the tests read are logged
/// whatever the test runner's environment says; piped, the log has no
/// colour codes.
fn with_tick_ms(tick_ms: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_step-05-server-ticks"));
    command
        .envs([("PORT", "0"), ("TICK_MS", tick_ms)])
        .env_remove("RUST_LOG");
    command.kill_on_drop(true);
    command
}

/// A `TICK_MS` longer than a day — one millisecond longer, and the largest
/// `u64` — is refused at start-up: exit code 1, the sentence on stderr, no
/// panic, and no "listening on" ever logged.
#[tokio::test]
async fn tick_ms_longer_than_a_day_is_refused_before_binding() {
    for tick_ms in ["86400001", "18446744073709551615"] {
        // Act
        let output = timeout(TIMEOUT, with_tick_ms(tick_ms).output())
            .await
            .expect("the binary gives up by itself")
            .expect("run the step's binary");

        // Assert
        let stderr = String::from_utf8_lossy(&output.stderr);
        let log = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
        let sentence = format!(
            "Error: TICK_MS={tick_ms} is out of range: expected 1 to 86400000 milliseconds"
        );
        assert!(stderr.contains(&sentence), "{sentence:?} in:\n{stderr}");
        assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
        assert!(!log.contains("listening on"), "never bound:\n{log}");
    }
}

/// `TICK_MS=86400000`, exactly a day, is allowed: the binary logs the
/// interval and starts listening.
#[tokio::test]
async fn tick_ms_of_a_day_is_allowed() {
    // Arrange
    let mut child = with_tick_ms("86400000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the step's binary");
    let mut log = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();

    // Act: collect the log up to "listening on" (the child is killed on drop).
    let until_listening = async {
        let mut lines = String::new();
        while let Some(line) = log.next_line().await.expect("read the log") {
            lines.push_str(&line);
            lines.push('\n');
            if line.contains("listening on http://") {
                return lines;
            }
        }
        panic!("the binary closed its output without logging `listening on`:\n{lines}");
    };
    let lines = timeout(TIMEOUT, until_listening)
        .await
        .expect("the binary logs `listening on` within the timeout");

    // Assert
    assert!(
        lines.contains("every client gets fromServer every 86400000 ms"),
        "the log names the interval:\n{lines}"
    );
}
