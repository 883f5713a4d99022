//! Step 11 checkpoint: every numeric setting has a range, and a number
//! outside it stops the real binary before it binds the port, with exit code
//! 1 and one sentence naming the variable, the value and the range. Before
//! the ranges (step 08, issue 9), `MAX_CONNECTIONS=18446744073709551615`
//! printed "listening on ..." and then panicked inside Tokio; step 09 sizes
//! its rooms and inboxes with `QUEUE_CAPACITY`, so the same ranges hold.
//!
//! These tests run `target/debug/step-11-scale-out` as a child process with
//! its own environment, as step 03's start-up tests do: reading the
//! environment is `main`'s job, and the test process's own environment
//! cannot be changed safely. `src/config.rs` tests the same ranges without
//! a process; this file proves `main` checks them, and checks them first.
//!
//! Run with `cargo test -p step-11-scale-out --test setting_bounds`.

use std::{
    process::{Output, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    time::timeout,
};

/// How long the child may take to start or to give up.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The ranges as the refusal sentences spell them.
const CONNECTIONS: &str = "1 to 2305843009213693951 connections";
const MILLISECONDS_FROM_1: &str = "1 to 86400000 milliseconds";

/// The step's binary on any free port with `settings` in its environment,
/// stopped if the test leaves it running.
///
/// `RUST_LOG` is removed so that the `info` lines the tests read are logged
/// whatever the test runner's environment says; piped, the log has no
/// colour codes.
fn step_binary(settings: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_step-11-scale-out"));
    command.env("PORT", "0").envs(settings.iter().copied());
    command.env_remove("RUST_LOG").kill_on_drop(true);
    command
}

/// Runs the binary with `settings` and asserts that it gave up at start-up
/// with `sentence`: exit code 1, `Error: <sentence>` on stderr, no panic,
/// and no "listening on" ever logged (`tracing` writes to stdout).
async fn assert_refused_before_binding(settings: &[(&str, &str)], sentence: &str) {
    let run = step_binary(settings).output();
    let output: Output = timeout(TIMEOUT, run)
        .await
        .expect("the binary gives up by itself")
        .expect("run the step's binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{settings:?}:\n{stderr}");
    assert!(
        stderr.contains(&format!("Error: {sentence}")),
        "{settings:?} gives the sentence {sentence:?}:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
    assert!(!stdout.contains("listening on"), "never bound:\n{stdout}");
}

/// Asserts that `name=value` is refused before binding as out of `range`.
async fn assert_out_of_range(name: &str, value: &str, range: &str) {
    let sentence = format!("{name}={value} is out of range: expected {range}");
    assert_refused_before_binding(&[(name, value)], &sentence).await;
}

/// The three values of the issue, which each panicked after "listening on"
/// (in `Semaphore::new`, in the broadcast channel, and with "capacity
/// overflow"), are refused before binding instead.
#[tokio::test]
async fn the_values_that_panicked_are_refused_before_binding() {
    assert_out_of_range("MAX_CONNECTIONS", "18446744073709551615", CONNECTIONS).await;
    let messages = "1 to 1000000 messages";
    assert_out_of_range("QUEUE_CAPACITY", "18446744073709551615", messages).await;
    assert_out_of_range("QUEUE_CAPACITY", "4611686018427387904", messages).await;
}

/// `MAX_CONNECTIONS` runs from 1 (0 would refuse everyone) to Tokio's
/// `Semaphore::MAX_PERMITS`; one past either end is refused.
#[tokio::test]
async fn max_connections_outside_1_to_the_semaphore_limit_is_refused() {
    assert_out_of_range("MAX_CONNECTIONS", "0", CONNECTIONS).await;
    assert_out_of_range("MAX_CONNECTIONS", "2305843009213693952", CONNECTIONS).await;
}

/// `MAX_MESSAGES_PER_SECOND` runs from 1 to a million; past either end is
/// refused, and so is a number too large for its type, as not a number of
/// messages per second at all.
#[tokio::test]
async fn max_messages_per_second_outside_1_to_a_million_is_refused() {
    let per_second = "1 to 1000000 messages per second";
    assert_out_of_range("MAX_MESSAGES_PER_SECOND", "0", per_second).await;
    assert_out_of_range("MAX_MESSAGES_PER_SECOND", "1000001", per_second).await;
    let not_a_u32 = r#"MAX_MESSAGES_PER_SECOND="4294967296" is not valid: expected a whole number of messages per second"#;
    assert_refused_before_binding(&[("MAX_MESSAGES_PER_SECOND", "4294967296")], not_a_u32).await;
}

/// `QUEUE_CAPACITY` runs from 1 (Tokio's broadcast channel panics on 0) to
/// a million.
#[tokio::test]
async fn queue_capacity_outside_1_to_a_million_is_refused() {
    let messages = "1 to 1000000 messages";
    assert_out_of_range("QUEUE_CAPACITY", "0", messages).await;
    assert_out_of_range("QUEUE_CAPACITY", "1000001", messages).await;
}

/// Both heartbeat durations run from 1 ms to a day, 86400000 ms.
#[tokio::test]
async fn heartbeat_durations_outside_1_ms_to_a_day_are_refused() {
    for name in ["HEARTBEAT_INTERVAL_MS", "HEARTBEAT_TIMEOUT_MS"] {
        assert_out_of_range(name, "0", MILLISECONDS_FROM_1).await;
        assert_out_of_range(name, "86400001", MILLISECONDS_FROM_1).await;
        assert_out_of_range(name, "18446744073709551615", MILLISECONDS_FROM_1).await;
    }
}

/// `SHUTDOWN_GRACE_MS` may be 0 (exit at once) and at most a day.
#[tokio::test]
async fn shutdown_grace_longer_than_a_day_is_refused() {
    let grace = "0 to 86400000 milliseconds";
    assert_out_of_range("SHUTDOWN_GRACE_MS", "86400001", grace).await;
    assert_out_of_range("SHUTDOWN_GRACE_MS", "18446744073709551615", grace).await;
}

/// The HTTP settings: `HEADER_READ_TIMEOUT_MS` runs from 1 ms to a day,
/// `MAX_TCP_CONNECTIONS` has the range of `MAX_CONNECTIONS` and may not be
/// below it (every WebSocket is also a TCP connection).
#[tokio::test]
async fn http_settings_outside_their_ranges_are_refused() {
    assert_out_of_range("HEADER_READ_TIMEOUT_MS", "0", MILLISECONDS_FROM_1).await;
    assert_out_of_range("HEADER_READ_TIMEOUT_MS", "86400001", MILLISECONDS_FROM_1).await;
    assert_out_of_range("MAX_TCP_CONNECTIONS", "0", CONNECTIONS).await;
    let below = r#"MAX_TCP_CONNECTIONS="99" is not valid: expected at least MAX_CONNECTIONS"#;
    let settings = [("MAX_CONNECTIONS", "100"), ("MAX_TCP_CONNECTIONS", "99")];
    assert_refused_before_binding(&settings, below).await;
}

/// The largest allowed value of every setting, all at once, starts a server
/// that logs its limits and "listening on": the upper ends are allowed, and
/// the state they size (a semaphore of 2^61 - 1 permits, a ring of a
/// million messages) is built without a panic.
#[tokio::test]
async fn the_largest_allowed_values_start_the_server() {
    // Arrange
    let largest = [
        ("MAX_CONNECTIONS", "2305843009213693951"),
        ("MAX_MESSAGES_PER_SECOND", "1000000"),
        ("QUEUE_CAPACITY", "1000000"),
        ("HEARTBEAT_INTERVAL_MS", "86400000"),
        ("HEARTBEAT_TIMEOUT_MS", "86400000"),
        ("SHUTDOWN_GRACE_MS", "86400000"),
    ];
    let mut child = step_binary(&largest)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the step's binary");
    let stdout = child.stdout.take().expect("stdout is piped");

    // Act: read the log up to "listening on" (the child is killed on drop).
    let mut log = BufReader::new(stdout).lines();
    let read_log = async {
        let mut lines = Vec::new();
        while let Some(line) = log.next_line().await.expect("read the log") {
            let listening = line.contains("listening on http://");
            lines.push(line);
            if listening {
                return lines;
            }
        }
        panic!("the binary closed its output without logging `listening on`:\n{lines:#?}");
    };
    let lines = timeout(TIMEOUT, read_log)
        .await
        .expect("the binary logs `listening on` within the timeout")
        .join("\n");

    // Assert
    for expected in [
        // No machine has 2^61 file descriptors: the server lowers its
        // connection limits to fit its open-file limit, and says so.
        "and cannot be raised: serving at most",
        "(MAX_CONNECTIONS was 2305843009213693951)",
        "1000000 messages per second per client, 1000000 queued messages per client",
        "ping every 86400000 ms, drop a client silent for 86400000 ms after a ping; \
         shutdown grace 86400000 ms",
    ] {
        assert!(lines.contains(expected), "{expected:?} in:\n{lines}");
    }
}

/// Step 11's settings: a `REDIS_URL` that is not a Redis URL, a
/// `NODE_NAME` that cannot be part of a Redis key, and a
/// `NODE_LIVENESS_MS` too short for a round trip are each refused before
/// binding, with a sentence; none of them needs a Redis to be refused.
#[tokio::test]
async fn step_11_settings_are_refused_before_binding() {
    let url = "http://redis.invalid";
    // The sentence's start: the example URL after it is the server's.
    let sentence = format!("REDIS_URL={url:?} is not valid: expected a URL such as redis://");
    assert_refused_before_binding(&[("REDIS_URL", url)], &sentence).await;
    // Never connected to: the setting after it is refused first.
    let redis = ("REDIS_URL", "redis://redis.invalid");
    let name = "node a";
    let sentence =
        format!("NODE_NAME={name:?} is not valid: expected 1 to 32 letters, digits, '-' or '_'");
    assert_refused_before_binding(&[redis, ("NODE_NAME", name)], &sentence).await;
    let sentence = "NODE_LIVENESS_MS=10 is out of range: expected 30 to 86400000 milliseconds";
    assert_refused_before_binding(&[redis, ("NODE_LIVENESS_MS", "10")], sentence).await;
}

/// Redis is not needed to start: with a `REDIS_URL` nobody answers at, the
/// node still listens, says it cannot reach Redis, and its `/health` says
/// 503 with why, so a load balancer sends nobody there.
#[tokio::test]
async fn a_node_starts_without_redis_and_says_so() {
    // Arrange: a port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = free.local_addr().expect("its address").port();
    drop(free);
    let url = format!("redis://127.0.0.1:{port}");
    let mut child = step_binary(&[("REDIS_URL", &url), ("NODE_NAME", "lonely")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the step's binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();

    // Act: read the log until it has said both things.
    let mut address = None;
    let mut unreachable = false;
    let read = timeout(TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((_, url)) = line.split_once("listening on http://") {
                address = Some(url.trim().to_owned());
            }
            unreachable |= line.contains(&format!("cannot reach Redis at {url}"));
            if address.is_some() && unreachable {
                break;
            }
        }
    });
    read.await
        .expect("the node logs its address and that Redis is unreachable");
    let address = address.expect("listening on ...");
    let health = http_get(&address, "/health").await;

    // Assert
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    assert!(health.contains("this node cannot reach Redis"), "{health}");
    let _ = child.kill().await;
}

/// A plain HTTP/1.1 GET of `path` from `address`: the whole response.
async fn http_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = timeout(TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
        .expect("connects in time")
        .expect("the node accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut response = String::new();
    timeout(TIMEOUT, stream.read_to_string(&mut response))
        .await
        .expect("answered in time")
        .expect("read the answer");
    response
}
