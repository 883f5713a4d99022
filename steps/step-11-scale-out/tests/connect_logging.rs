//! Step 11 checkpoint: the server logs `a user connected <id>` and
//! `user disconnected <id>`, for the right id, however the connection ends,
//! whether or not the client had joined a room. (The log names connections
//! by id, as in every step since 04: a nickname is the client's choice.)
//!
//! The tests read the server's real log lines (see `testkit::log_lines`); they
//! never sleep and hope.
//!
//! Run with `cargo test -p step-11-scale-out --test connect_logging`.

mod common;

use common::{connect_as, spawn_app};
use serde_json::json;
use testkit::{connect, log_lines, next_event, next_frame, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// Connecting is logged with the id the client was given.
#[tokio::test]
async fn connecting_is_logged_with_the_clients_id() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();

    // Act
    let (_client, id) = connect(addr).await;

    // Assert
    logs.wait_for(&format!("a user connected {id}")).await;
}

/// A client that closes politely (a close frame, as a closing tab sends) is
/// logged as disconnected, and gets the server's closing reply.
#[tokio::test]
async fn a_close_frame_is_logged_as_a_disconnect() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut client, id) = connect(addr).await;

    // Act
    send_frame(&mut client, Message::Close(None)).await;

    // Assert: the closing handshake completes, and the server logs it.
    assert!(matches!(next_frame(&mut client).await, Message::Close(_)));
    logs.wait_for(&format!("user disconnected {id}")).await;
}

/// A client whose TCP connection just goes away, with no close frame (a
/// killed browser, a closed laptop lid), is logged as disconnected too.
#[tokio::test]
async fn a_dropped_connection_is_logged_as_a_disconnect() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (client, id) = connect(addr).await;

    // Act: dropping the stream closes the socket without a close frame.
    drop(client);

    // Assert
    logs.wait_for(&format!("user disconnected {id}")).await;
}

/// Each member's disconnect is logged with its own connection id: closing
/// one member logs that id, the other member hears it leave the room, and
/// stays connected.
#[tokio::test]
async fn a_disconnect_names_the_client_that_left() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (leaving, leaving_id) = connect_as(addr, "leaving").await;
    let (mut staying, _staying_id) = connect_as(addr, "staying").await;

    // Act
    drop(leaving);

    // Assert: the leaving id is logged, the room is told, and the other
    // connection still answers.
    logs.wait_for(&format!("user disconnected {leaving_id}"))
        .await;
    assert_eq!(
        next_event(&mut staying).await,
        json!({ "event": "left", "data": { "nickname": "leaving", "room": "general" } })
    );
    send_frame(&mut staying, Message::Ping("still there?".into())).await;
    assert!(matches!(next_frame(&mut staying).await, Message::Pong(_)));
}
