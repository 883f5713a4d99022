//! Step 06 checkpoint: `TICK_MS` in the environment sets the real binary's
//! tick interval, and a value that cannot be one is refused at start-up.
//!
//! These tests run `target/debug/step-06-client-events` as a child process
//! with its own environment, as step 03's start-up tests do, because reading
//! the environment is `main`'s job, not the router's.
//!
//! Run with `cargo test -p step-06-client-events --test tick_setting`.

mod common;

use std::{
    net::SocketAddr,
    process::{Output, Stdio},
    time::Duration,
};

use common::next_tick;
use testkit::connect;
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    time::{Instant, timeout},
};

/// How long the child may take to start or to give up.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The step's binary on any free port, with `TICK_MS` set to `tick_ms`.
///
/// `kill_on_drop` stops a server the test leaves running; `NO_COLOR` keeps
/// colour codes out of the log the test reads.
fn step_binary(tick_ms: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_step-06-client-events"));
    command
        .env("PORT", "0")
        .env("TICK_MS", tick_ms)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the binary until it exits by itself (it is expected to give up).
async fn run_to_exit(mut command: Command) -> Output {
    let child = command.spawn().expect("start the step's binary");
    timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("the binary exits by itself")
        .expect("collect the binary's output")
}

/// Reads the child's log (`tracing` writes to stdout) until the
/// "listening on" line; returns the address it names and the lines read.
async fn wait_until_listening(child: &mut Child) -> (SocketAddr, Vec<String>) {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut log: Lines<BufReader<ChildStdout>> = BufReader::new(stdout).lines();
    let read_log = async {
        let mut lines = Vec::new();
        while let Some(line) = log.next_line().await.expect("read the log") {
            if let Some((_, address)) = line.split_once("listening on http://") {
                let address = address.trim().parse().expect("a socket address");
                return (address, lines);
            }
            lines.push(line);
        }
        panic!("the binary closed its output without logging `listening on`:\n{lines:#?}");
    };
    timeout(TIMEOUT, read_log)
        .await
        .expect("the binary logs `listening on` within the timeout")
}

/// `TICK_MS=0` is refused with exit code 1 and a sentence that says what a
/// tick interval must be — not a panic, and not a server that ticks
/// nonstop.
#[tokio::test]
async fn tick_ms_of_zero_exits_with_a_clear_sentence() {
    // Act
    let output = run_to_exit(step_binary("0")).await;

    // Assert
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains(
            r#"Error: TICK_MS="0" is not valid: expected a number of milliseconds, 1 or more"#
        ),
        "stderr explains the bad setting:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
}

/// `TICK_MS=30` makes the real server tick every 30 ms: it says so in its
/// log, and a client connected to the binary gets three ticks, no sooner
/// than 90 ms after it started to connect.
#[tokio::test]
async fn tick_ms_sets_the_interval_of_the_real_binary() {
    // Arrange
    let mut child = step_binary("30").spawn().expect("start the step's binary");
    let (addr, log) = wait_until_listening(&mut child).await;
    let started = Instant::now();

    // Act
    let (mut client, _id) = connect(addr).await;
    for _ in 0..3 {
        next_tick(&mut client).await;
    }

    // Assert
    assert!(
        log.iter()
            .any(|line| line.contains("every client gets fromServer every 30 ms")),
        "the log names the interval:\n{log:#?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(90),
        "3 ticks at TICK_MS=30 came after only {elapsed:?}"
    );
}
