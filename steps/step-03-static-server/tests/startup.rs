//! Step 03's checkpoint, part 4: the real binary starts, refuses, and stops
//! the way the lesson promises.
//!
//! These tests run `target/debug/step-03-static-server` as a child process,
//! because what they check — the exit code, the sentence on the terminal, the
//! reaction to a signal — belongs to the whole program, not to the router.
//! Each child gets its own environment (`PORT=...`), so nothing here touches
//! the test process's own, shared environment.
//!
//! Run with `cargo test -p step-03-static-server --test startup`.

use std::{
    net::{Ipv4Addr, SocketAddr},
    process::{Output, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    net::TcpStream,
    process::{Child, ChildStdout, Command},
};

/// How long the child may take to start, answer, or stop.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The step's binary, built by cargo for these tests, with `PORT` set.
///
/// `kill_on_drop` means a child left running by a failed test is stopped
/// rather than left holding a port. `NO_COLOR` keeps the log free of colour
/// codes so the tests can read it.
fn step_binary(port: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_step-03-static-server"));
    command
        .env("PORT", port)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the binary to completion (it is expected to give up at start-up).
async fn run_to_exit(mut command: Command) -> Output {
    let child = command.spawn().expect("start the step's binary");
    tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("the binary exits by itself")
        .expect("collect the binary's output")
}

/// The child's log, line by line (`tracing` writes to stdout).
type Log = Lines<BufReader<ChildStdout>>;

/// Reads the child's log until the "listening on" line, and returns the
/// address it names, with the rest of the log still to read.
async fn wait_until_listening(child: &mut Child) -> (SocketAddr, Log) {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut log = BufReader::new(stdout).lines();
    let find_address = async {
        while let Some(line) = log.next_line().await.expect("read the log") {
            if let Some((_, address)) = line.split_once("listening on http://") {
                return address.trim().parse().expect("a socket address");
            }
        }
        panic!("the binary closed its output without logging `listening on`");
    };
    let address = tokio::time::timeout(TIMEOUT, find_address)
        .await
        .expect("the binary logs `listening on` within the timeout");
    (address, log)
}

/// Reads what is left of the log, up to the child closing its output.
async fn rest_of(mut log: Log) -> String {
    let mut rest = String::new();
    while let Some(line) = log.next_line().await.expect("read the log") {
        rest.push_str(&line);
        rest.push('\n');
    }
    rest
}

/// A port that is taken for as long as the returned listener lives.
fn busy_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    let port = listener.local_addr().expect("a bound address").port();
    (listener, port)
}

/// A busy port ends start-up with exit code 1 and one sentence that names the
/// port and shows how to pick another with `PORT=` — not a panic.
#[tokio::test]
async fn busy_port_exits_with_a_clear_sentence() {
    // Arrange: hold a port, so the binary finds it taken.
    let (_holder, port) = busy_port();

    // Act
    let output = run_to_exit(step_binary(&port.to_string())).await;

    // Assert
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("Error: port {port} is already in use")),
        "stderr names the port:\n{stderr}"
    );
    assert!(stderr.contains("PORT="), "stderr shows `PORT=`:\n{stderr}");
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
}

/// A `PORT` that is not a number is refused with a sentence saying what was
/// expected, rather than silently falling back to 3000.
#[tokio::test]
async fn port_that_is_not_a_number_exits_with_a_clear_sentence() {
    // Act
    let output = run_to_exit(step_binary("30o0")).await;

    // Assert
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains(r#"Error: PORT="30o0" is not valid: expected a port number"#),
        "stderr explains the bad setting:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
}

/// SIGTERM (what `kill`, systemd and Docker send; Ctrl-C is handled the same
/// way) stops the server gracefully: it logs "shutting down" and exits 0.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_server_with_exit_code_0() {
    // Arrange: start on any free port and wait until it really serves.
    let mut child = step_binary("0").spawn().expect("start the step's binary");
    let (address, log) = wait_until_listening(&mut child).await;
    // One answered request proves the server loop is running, and with it
    // the task that listens for signals: a SIGTERM sent before that task
    // exists would kill the process the hard way instead.
    let status_line = tokio::time::timeout(TIMEOUT, first_line_of_get_root(address))
        .await
        .expect("the server answers within the timeout");
    assert_eq!(status_line, "HTTP/1.1 200 OK");

    // Act: `kill -TERM <pid>`, the command a learner would type.
    let pid = child.id().expect("the child is running");
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("run `kill`");
    assert!(kill.success(), "`kill -TERM {pid}` failed");
    let (exit, rest_of_log) = tokio::time::timeout(TIMEOUT, async {
        let rest_of_log = rest_of(log).await;
        (child.wait().await.expect("wait for the child"), rest_of_log)
    })
    .await
    .expect("the server stops within the timeout");

    // Assert
    assert_eq!(exit.code(), Some(0), "log after SIGTERM:\n{rest_of_log}");
    assert!(
        rest_of_log.contains("shutting down"),
        "log after SIGTERM:\n{rest_of_log}"
    );
}

/// `GET /` over a fresh connection; returns the response's status line.
async fn first_line_of_get_root(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response.lines().next().unwrap_or_default().to_owned()
}
