//! Step 03's checkpoint, part 5: what the real binary says about `PORT`
//! when it cannot use it, and that what it says can be used as it is.
//!
//! `PORT` is read as a `u16`, so its range is the type's: 0 (any free port)
//! to 65535. A busy port's sentence ends with a command to start this very
//! step on the next port; a placeholder such as `<step>` there would be
//! read by the shell as a redirection, so the sentence names the package.
//! Like `tests/startup.rs`, these tests run the binary as a child process.
//!
//! Run with `cargo test -p step-03-static-server --test port_setting`.

use std::{net::Ipv4Addr, time::Duration};

use tokio::{process::Command, time::timeout};

/// How long the child may take to give up.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the step's binary with `PORT=port` until it gives up at start-up;
/// returns its exit code, its stderr, and its log (`tracing` writes to
/// stdout).
async fn start_up_with_port(port: &str) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_step-03-static-server"));
    command
        .env("PORT", port)
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    let run = command.output();
    let output = timeout(TIMEOUT, run)
        .await
        .expect("the binary gives up by itself")
        .expect("run the step's binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// `PORT=65536`, one past the last port, is refused before anything is
/// bound, with a sentence that gives the range.
#[tokio::test]
async fn port_past_65535_is_refused_with_the_range() {
    // Act
    let (code, stderr, log) = start_up_with_port("65536").await;

    // Assert
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains(
            r#"Error: PORT="65536" is not valid: expected a port number from 0 to 65535"#
        ),
        "stderr gives the range:\n{stderr}"
    );
    assert!(!log.contains("listening on"), "never bound:\n{log}");
}

/// A busy port's sentence ends with a command that works when pasted: the
/// next port, and this step's own package name.
#[tokio::test]
async fn busy_port_suggests_a_command_that_works_as_it_is() {
    // Arrange: hold a port, so the binary finds it taken.
    let holder = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    let port = holder.local_addr().expect("a bound address").port();

    // Act
    let (code, stderr, _log) = start_up_with_port(&port.to_string()).await;

    // Assert
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    let command = format!(
        "for example PORT={} cargo run -p step-03-static-server",
        port.wrapping_add(1)
    );
    assert!(
        stderr.trim_end().ends_with(&command),
        "stderr ends with {command:?}:\n{stderr}"
    );
}
