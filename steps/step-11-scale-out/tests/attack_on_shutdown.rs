//! Step 11 under attack, at shutdown: clients that never finish their HTTP
//! request cannot keep the server alive, a second signal exits at once, and
//! every message said in a room before the shutdown reaches every member
//! before its 1001.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_on_shutdown`.

mod common;

use std::time::{Duration, Instant};

use common::{
    RunningBinary, connect_as, connect_stalling_client, connection_that_sent, index_of,
    member_without_connection, messages_then_going_away, publish_as, spawn_graceful,
};
use futures::future::join_all;
use step_11_scale_out::{AppState, config::Config};
use testkit::{DEADLINE, connect};
use tokio::{io::AsyncReadExt, process::Command, time::timeout};

/// The shutdown grace these tests give the server.
const GRACE: Duration = Duration::from_millis(500);

/// How much longer than the grace a shutdown may take: the closing of what
/// is left, on a busy test machine.
const MARGIN: Duration = Duration::from_millis(1500);

/// The attack: requests that are never finished (headers without their
/// last empty line, half an upgrade) and 200 pipelined requests whose
/// answers are never read. They used to keep `axum::serve`'s graceful
/// shutdown waiting forever, so no WebSocket heard 1001. Now every client
/// gets its 1001 and the server is done within the grace, plus a margin.
#[tokio::test]
async fn unfinished_requests_cannot_hold_up_the_shutdown() {
    // Arrange
    let mut server = spawn_graceful(AppState::in_memory(Config {
        shutdown_grace: GRACE,
        ..Config::default()
    }))
    .await;
    let addr = server.addr();
    let pipelined = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
    let _attackers = [
        connection_that_sent(addr, b"GET / HTTP/1.1\r\nHost: x\r\n").await,
        connection_that_sent(
            addr,
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",
        )
        .await,
        connection_that_sent(addr, pipelined.as_bytes()).await,
    ];
    let mut clients = Vec::new();
    for nickname in ["alice", "bob", "carol"] {
        clients.push(connect_as(addr, nickname).await.0);
    }

    // Act
    let started = Instant::now();
    server.begin_shutdown();

    // Assert
    join_all(clients.into_iter().map(messages_then_going_away)).await;
    server.wait_until_finished(GRACE + MARGIN).await;
    assert!(
        started.elapsed() < GRACE + MARGIN,
        "{:?}",
        started.elapsed()
    );
}

/// The attack's other half: a burst of messages, then shutdown at once.
/// Every message said in the room before the shutdown began reaches every
/// member still connected, in order, and only then its 1001 (the
/// connections used to answer the shutdown first and drop what was still
/// queued).
///
/// The members do not read until the shutdown has begun, and each has a
/// small receive buffer, so most of the burst is still waiting in the
/// room's queue for them when the shutdown starts. The burst is said by a
/// member the test holds itself (`member_without_connection`), so all of
/// it is in the queue before the shutdown begins (step 08 published into
/// its hub the same way).
#[tokio::test]
async fn every_message_published_before_the_shutdown_arrives_before_the_1001() {
    // Arrange: 4 MB for each of five members, far more than the kernel
    // buffers for a client that does not read.
    const MESSAGES: usize = 1000;
    let state = AppState::in_memory(Config {
        queue_capacity: 4096,
        ..Config::default()
    });
    let mut server = spawn_graceful(state.clone()).await;
    let mut clients = Vec::new();
    for index in 0..5 {
        let nickname = format!("member-{index}");
        clients.push(connect_stalling_client(server.addr(), &nickname).await.0);
    }
    let announcer = member_without_connection(&state.rooms, "announcer", "general");
    let padding = "x".repeat(4096);

    // Act
    for index in 0..MESSAGES {
        publish_as(&announcer, format!("{index:04} {padding}"));
    }
    server.begin_shutdown();

    // Assert
    for received in join_all(clients.into_iter().map(messages_then_going_away)).await {
        let indices: Vec<usize> = received.iter().map(|m| index_of(&m.text)).collect();
        let missing: Vec<usize> = (0..MESSAGES).filter(|i| !indices.contains(i)).collect();
        assert!(
            missing.is_empty(),
            "every message, then the 1001; missing {missing:?}"
        );
        assert_eq!(indices.len(), MESSAGES, "each message once");
        assert!(indices.is_sorted(), "in order");
    }
    server.wait_until_finished(DEADLINE).await;
}

/// A first SIGTERM starts the graceful shutdown; a second one, while the
/// server still waits (here for a client that never answers, with a grace
/// of a minute), ends the process at once, with exit code 130.
#[tokio::test]
async fn a_second_signal_exits_at_once() {
    // Arrange
    let mut server = RunningBinary::start(&[("SHUTDOWN_GRACE_MS", "60000")], None).await;
    let (_frozen, _) = connect(server.addr).await;

    // Act
    let started = Instant::now();
    kill("-TERM", &server.pid()).await;
    server.wait_for_line("shutting down").await;
    kill("-TERM", &server.pid()).await;
    let status = timeout(DEADLINE, server.child.wait())
        .await
        .expect("the second signal ends the process at once")
        .expect("wait for the child");

    // Assert
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
}

/// Sends `signal` to `pid` with the `kill` command.
async fn kill(signal: &str, pid: &str) {
    let status = Command::new("kill")
        .args([signal, pid])
        .status()
        .await
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}: {status:?}");
}

/// After the shutdown, the unfinished requests' connections are closed too:
/// nothing keeps a socket open once the server is done.
#[tokio::test]
async fn unfinished_requests_are_closed_by_the_shutdown() {
    // Arrange
    let mut server = spawn_graceful(AppState::in_memory(Config {
        shutdown_grace: GRACE,
        ..Config::default()
    }))
    .await;
    let mut half_sent = connection_that_sent(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n").await;

    // Act
    server.begin_shutdown();
    server.wait_until_finished(GRACE + MARGIN).await;

    // Assert: the server side is gone, so the read ends (EOF or reset).
    let mut buffer = [0u8; 64];
    let read = timeout(DEADLINE, half_sent.read(&mut buffer))
        .await
        .expect("the connection is closed, not left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}
