//! Step 06 checkpoint: every `fromClient` a client emits reaches the server,
//! which logs `message received from client <id>` once for each, with that
//! client's id.
//!
//! The tests read the server's real log lines (see `common::log_lines`).
//!
//! Run with `cargo test -p step-06-client-events --test client_events`.

mod common;

use common::spawn_app;
use testkit::{connect, log_lines, next_frame, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// The frame `socket.emit("fromClient")` sends: no "data" at all.
fn from_client() -> Message {
    Message::text(r#"{"event":"fromClient"}"#)
}

/// Three `fromClient` events from one client are logged exactly three times:
/// counted among all the lines the server logs up to that client's
/// disconnect.
#[tokio::test]
async fn three_from_client_events_are_logged_three_times() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut client, id) = connect(addr).await;

    // Act: three clicks, then close the tab.
    for _ in 0..3 {
        send_frame(&mut client, from_client()).await;
    }
    send_frame(&mut client, Message::Close(None)).await;

    // Assert: the server reads frames in order, so all three come before
    // the disconnect.
    let lines = logs.lines_until(&format!("user disconnected {id}")).await;
    let received = format!("message received from client {id}");
    let count = lines.iter().filter(|line| **line == received).count();
    assert_eq!(count, 3, "lines logged for {id}: {lines:#?}");
}

/// `fromClient` with data (any JSON) is accepted too: the data is ignored,
/// the event is logged, and no `error` comes back.
#[tokio::test]
async fn from_client_with_data_is_accepted() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut client, id) = connect(addr).await;

    // Act
    send_frame(
        &mut client,
        Message::text(r#"{"event":"fromClient","data":{"button":"btn","clicks":[1,2]}}"#),
    )
    .await;

    // Assert: logged; and the next frame is the pong to our ping, not an error.
    logs.wait_for(&format!("message received from client {id}"))
        .await;
    send_frame(&mut client, Message::Ping("anything for me?".into())).await;
    assert!(matches!(next_frame(&mut client).await, Message::Pong(_)));
}

/// Each client's `fromClient` is logged with its own id, not the other's.
#[tokio::test]
async fn each_client_is_named_by_its_own_id() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut first, first_id) = connect(addr).await;
    let (mut second, second_id) = connect(addr).await;

    // Act
    send_frame(&mut second, from_client()).await;
    logs.wait_for(&format!("message received from client {second_id}"))
        .await;
    send_frame(&mut first, from_client()).await;

    // Assert
    logs.wait_for(&format!("message received from client {first_id}"))
        .await;
}
