//! Step 05 checkpoint: every connected client gets `{"event":"fromServer"}`
//! once per tick, on its own ticker, and the ticker stops when its socket
//! closes.
//!
//! The tick interval comes from `AppState`, so these tests tick every few
//! milliseconds instead of every two seconds. Timing is only ever checked
//! from below ("no sooner than"): a busy machine may deliver ticks late, but
//! never early.
//!
//! Run with `cargo test -p step-05-server-ticks --test server_ticks`.

mod common;

use std::time::Duration;

use common::{next_tick, spawn_app_with, wait_for_live_connections};
use step_05_server_ticks::AppState;
use testkit::{DEADLINE, connect, next_frame, send_frame};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

/// Several ticks arrive, one interval apart: five ticks at 20 ms take at
/// least 100 ms from the moment the client started to connect.
#[tokio::test]
async fn ticks_arrive_at_the_configured_interval() {
    // Arrange
    let interval = Duration::from_millis(20);
    let addr = spawn_app_with(AppState::new(interval)).await;
    // Taken before connecting, so it is earlier than the moment the server
    // starts this client's ticker: the bound below cannot be wrong.
    let started = Instant::now();
    let (mut client, _id) = connect(addr).await;

    // Act
    for _ in 0..5 {
        next_tick(&mut client).await;
    }

    // Assert
    let elapsed = started.elapsed();
    assert!(
        elapsed >= 5 * interval,
        "5 ticks every {interval:?} came after only {elapsed:?}"
    );
}

/// Like `setInterval`, the first tick comes one interval after connecting,
/// not at once: `connect` is followed by nothing for the first 200 ms.
#[tokio::test]
async fn the_first_tick_comes_one_interval_after_connecting() {
    // Arrange
    let interval = Duration::from_millis(200);
    let addr = spawn_app_with(AppState::new(interval)).await;
    let started = Instant::now();

    // Act
    let (mut client, _id) = connect(addr).await;
    next_tick(&mut client).await;

    // Assert
    let elapsed = started.elapsed();
    assert!(
        elapsed >= interval,
        "the first tick came after {elapsed:?}, before one interval of {interval:?}"
    );
}

/// Each client has a ticker of its own, started when it connects: a client
/// that joins later waits a full interval for its first tick, whatever the
/// first client's ticker is doing, and then both keep ticking.
#[tokio::test]
async fn two_clients_tick_independently() {
    // Arrange: the first client is already ticking.
    let interval = Duration::from_millis(50);
    let addr = spawn_app_with(AppState::new(interval)).await;
    let (mut first, _first_id) = connect(addr).await;
    next_tick(&mut first).await;

    // Act
    let second_started = Instant::now();
    let (mut second, _second_id) = connect(addr).await;
    next_tick(&mut second).await;
    let second_waited = second_started.elapsed();

    // Assert: the second client's clock started at its own connect, and
    // both clients go on getting ticks.
    assert!(
        second_waited >= interval,
        "the second client's first tick came after {second_waited:?}, within one interval"
    );
    for _ in 0..3 {
        next_tick(&mut first).await;
        next_tick(&mut second).await;
    }
}

/// Closing one client ends its handler (the live count drops to 1) and does
/// not stop the other client's ticks.
#[tokio::test]
async fn closing_one_client_does_not_stop_the_other() {
    // Arrange
    let state = AppState::new(Duration::from_millis(20));
    let addr = spawn_app_with(state.clone()).await;
    let (mut leaving, _leaving_id) = connect(addr).await;
    let (mut staying, _staying_id) = connect(addr).await;
    wait_for_live_connections(&state, 2).await;

    // Act: the leaving client closes politely, as a closing tab does.
    send_frame(&mut leaving, Message::Close(None)).await;

    // Assert
    wait_for_live_connections(&state, 1).await;
    for _ in 0..3 {
        next_tick(&mut staying).await;
    }
}

/// When every client has gone — one with a close frame, one by dropping its
/// TCP connection — the live count returns to 0: each handler, and the
/// ticker it owns, has ended. (The lesson's `setInterval` would still be
/// firing for both.)
#[tokio::test]
async fn the_live_count_returns_to_zero_when_every_client_has_left() {
    // Arrange: both clients are ticking.
    let state = AppState::new(Duration::from_millis(10));
    let addr = spawn_app_with(state.clone()).await;
    let (mut polite, _polite_id) = connect(addr).await;
    let (mut abrupt, _abrupt_id) = connect(addr).await;
    next_tick(&mut polite).await;
    next_tick(&mut abrupt).await;
    wait_for_live_connections(&state, 2).await;

    // Act
    send_frame(&mut polite, Message::Close(None)).await;
    drop(abrupt);

    // Assert
    wait_for_live_connections(&state, 0).await;
}

/// No task outlives its connection: once both clients have gone, the
/// runtime is back to the tasks it had before they came. The lesson's
/// `setInterval` translated word for word — a ticker spawned as a task of its
/// own — would still be alive here, and this test would fail.
#[tokio::test]
async fn no_task_outlives_its_connection() {
    // Arrange
    let state = AppState::new(Duration::from_millis(10));
    let addr = spawn_app_with(state.clone()).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    let (mut polite, _polite_id) = connect(addr).await;
    let (mut abrupt, _abrupt_id) = connect(addr).await;
    next_tick(&mut polite).await;
    next_tick(&mut abrupt).await;

    // Act
    send_frame(&mut polite, Message::Close(None)).await;
    drop(abrupt);

    // Assert: the handlers end first (the live count), then their tasks
    // finish; yielding lets them run, and the deadline bounds the wait.
    wait_for_live_connections(&state, 0).await;
    let settled = timeout(DEADLINE, async {
        while metrics.num_alive_tasks() > tasks_before {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "{} tasks still alive, against {tasks_before} before the clients came",
        metrics.num_alive_tasks()
    );
}

/// A client that closes while ticks are flowing (one every millisecond)
/// completes the closing handshake: it gets the server's close reply after
/// any ticks already on their way, and the handler ends.
#[tokio::test]
async fn a_close_frame_gets_its_reply_while_ticks_are_flowing() {
    // Arrange
    let state = AppState::new(Duration::from_millis(1));
    let addr = spawn_app_with(state.clone()).await;
    let (mut client, _id) = connect(addr).await;
    next_tick(&mut client).await;

    // Act
    send_frame(&mut client, Message::Close(None)).await;

    // Assert: ticks sent before the close frame reached the server may still
    // be on their way; after them comes the close reply, then nothing.
    loop {
        match next_frame(&mut client).await {
            Message::Text(text) if text.as_str() == r#"{"event":"fromServer"}"# => continue,
            Message::Close(_) => break,
            other => panic!("expected ticks, then the close reply; got {other:?}"),
        }
    }
    wait_for_live_connections(&state, 0).await;
}
