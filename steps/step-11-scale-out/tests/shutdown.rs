//! Step 11 checkpoint: on Ctrl-C or SIGTERM the server stops accepting,
//! sends every client a close frame 1001 "server shutting down", and exits
//! within a bounded time.
//!
//! Two tests stop an in-process server through its shutdown trigger (one of
//! them with a client that never answers, to show the exit is bounded); one
//! sends SIGTERM (with the `kill` command) to the real binary.
//!
//! Run with `cargo test -p step-11-scale-out --test shutdown`.

mod common;

use std::{process::Stdio, time::Duration};

use common::{connect_as, join, messages_then_going_away, spawn_graceful};
use futures::future::join_all;
use step_11_scale_out::{AppState, config::Config};
use testkit::{Client, DEADLINE, connect, read_greeting};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    sync::mpsc,
    time::timeout,
};
use tokio_tungstenite::connect_async;

/// Reads up to the server's 1001 "server shutting down" (skipping pings and
/// room notices), and checks no chat message came first: nobody said one.
async fn expect_going_away(client: Client) {
    let messages = messages_then_going_away(client).await;
    assert!(messages.is_empty(), "{messages:?}");
}

/// Three members of a room, and a client that has not joined, each get
/// 1001 "server shutting down", the server finishes, and new connections
/// are refused.
#[tokio::test]
async fn shutdown_sends_1001_to_every_client_and_the_server_finishes() {
    // Arrange
    let mut server = spawn_graceful(AppState::default()).await;
    let addr = server.addr();
    let mut clients = Vec::new();
    for nickname in ["alice", "bob", "carol"] {
        clients.push(connect_as(addr, nickname).await.0);
    }
    clients.push(connect(addr).await.0);

    // Act: what Ctrl-C does in `main`.
    server.begin_shutdown();

    // Assert
    join_all(clients.into_iter().map(expect_going_away)).await;
    server.wait_until_finished(DEADLINE).await;
    let late = timeout(DEADLINE, connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("the attempt ends in time");
    assert!(late.is_err(), "a stopped server accepts no connections");
}

/// A client that never answers the close frame (it has stopped reading, like
/// a frozen tab) cannot keep the server alive: it is given up on after
/// `shutdown_grace`, and the server finishes anyway, while a client that does
/// answer still gets its 1001.
#[tokio::test]
async fn a_client_that_never_answers_cannot_hold_up_the_shutdown() {
    // Arrange: a short grace, one client that will never read again.
    let mut server = spawn_graceful(AppState::in_memory(Config {
        shutdown_grace: Duration::from_millis(300),
        ..Config::default()
    }))
    .await;
    let (_frozen, _) = connect_as(server.addr(), "frozen").await;
    let (answering, _) = connect_as(server.addr(), "answering").await;

    // Act
    server.begin_shutdown();

    // Assert: the answering client is told, and the server finishes well
    // within DEADLINE although `_frozen` never sends its close reply.
    expect_going_away(answering).await;
    server.wait_until_finished(DEADLINE).await;
}

/// The real binary, started with `PORT=0` and sent SIGTERM: both members
/// get 1001, the process exits with status 0 well within its grace period, and
/// it says what it did.
#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_the_binary_exits() {
    // Arrange: start the binary and read its log lines as they come.
    let mut child = Command::new(env!("CARGO_BIN_EXE_step-11-scale-out"))
        .env("PORT", "0")
        .env("NO_COLOR", "1")
        .env("SHUTDOWN_GRACE_MS", "3000")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the step-11-scale-out binary");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = timeout(DEADLINE, lines.recv())
            .await
            .expect("the binary logs in time")
            .expect("the binary is still running");
        log.push(line.clone());
        if let Some((_, url)) = line.split_once("listening on http://") {
            break url.trim().to_owned();
        }
    };
    let first = connect_async(format!("ws://{addr}/ws"));
    let second = connect_async(format!("ws://{addr}/ws"));
    let (first, second) = timeout(DEADLINE, async { tokio::join!(first, second) })
        .await
        .expect("both handshakes finish in time");
    let mut clients = Vec::new();
    for (attempt, nickname) in [(first, "alice"), (second, "bob")] {
        let (mut client, _) = attempt.expect("the binary accepts WebSockets");
        read_greeting(&mut client).await;
        join(&mut client, nickname, "general").await;
        clients.push(client);
    }

    // Act: SIGTERM, as a process manager sends it.
    let pid = child.id().expect("the child is running").to_string();
    let killed = timeout(
        DEADLINE,
        Command::new("kill").args(["-TERM", &pid]).status(),
    )
    .await
    .expect("kill finishes in time")
    .expect("run kill");
    assert!(killed.success(), "kill -TERM {pid}");

    // Assert: both clients told, the process gone with status 0, in time.
    join_all(clients.into_iter().map(expect_going_away)).await;
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the binary exits within its grace period")
        .expect("wait for the binary");
    assert!(status.success(), "exit status {status}");
    // The process has exited, so its stdout is closed and the reader task
    // ends: the channel closes once the last lines are through.
    let rest = timeout(DEADLINE, async {
        while let Some(line) = lines.recv().await {
            log.push(line);
        }
    })
    .await;
    assert!(rest.is_ok(), "the binary's last log lines arrive in time");
    let log = log.join("\n");
    for expected in [
        "limits: 10000 connections",
        "shutting down",
        "closing 2 connections",
        "all connections closed",
    ] {
        assert!(log.contains(expected), "{expected:?} in:\n{log}");
    }
}
