//! Step 11 checkpoint: messages up to 16 KiB are read; a bigger one is refused
//! without the server reading it whole, the client is told why, and its
//! room hears it leave.
//!
//! Run with `cargo test -p step-11-scale-out --test message_size`.

mod common;

use common::{connect_as, next_message, spawn_app};
use futures::SinkExt;
use serde_json::json;
use step_11_scale_out::MAX_MESSAGE_BYTES;
use testkit::{DEADLINE, log_lines, next_event, next_frame, send_frame};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{CloseCode, Data, OpCode},
    },
};

/// A `message` envelope of exactly `size` bytes:
/// `{"event":"message","data":"xxx…"}`.
fn envelope_of_size(size: usize) -> String {
    let empty = r#"{"event":"message","data":""}"#;
    let padding = "x".repeat(size - empty.len());
    let envelope = format!(r#"{{"event":"message","data":"{padding}"}}"#);
    assert_eq!(envelope.len(), size);
    envelope
}

/// A message of exactly 16 KiB is read and delivered to the room, whole,
/// and the writer's connection stays open.
#[tokio::test]
async fn a_message_of_16_kib_is_accepted() {
    // Arrange
    let addr = spawn_app().await;
    let (mut reader, _) = connect_as(addr, "reader").await;
    let (mut writer, _) = connect_as(addr, "writer").await;
    let _ = next_event(&mut reader).await; // writer joined
    let envelope = envelope_of_size(MAX_MESSAGE_BYTES);
    let text_length = MAX_MESSAGE_BYTES - r#"{"event":"message","data":""}"#.len();

    // Act
    send_frame(&mut writer, Message::text(envelope)).await;

    // Assert
    let message = next_message(&mut reader).await;
    assert_eq!(message.from, "writer");
    assert_eq!(message.text.len(), text_length);
    send_frame(&mut writer, Message::Ping("still open?".into())).await;
    assert!(matches!(next_frame(&mut writer).await, Message::Pong(_)));
}

/// One byte more and the server closes the connection with code 1009
/// ("message too big") and a reason, logs the disconnect, and the others in
/// the room hear the writer leave.
#[tokio::test]
async fn a_bigger_message_is_refused_with_close_code_1009() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut reader, _) = connect_as(addr, "reader").await;
    let (mut writer, writer_id) = connect_as(addr, "writer").await;
    let _ = next_event(&mut reader).await; // writer joined

    // Act
    send_frame(
        &mut writer,
        Message::text(envelope_of_size(MAX_MESSAGE_BYTES + 1)),
    )
    .await;

    // Assert
    match next_frame(&mut writer).await {
        Message::Close(Some(close)) => {
            assert_eq!(close.code, CloseCode::Size);
            assert!(close.reason.contains("message too big"), "{close:?}");
        }
        other => panic!("expected a close frame with code 1009, got {other:?}"),
    }
    logs.wait_for(&format!("user disconnected {writer_id}"))
        .await;
    assert_eq!(
        next_event(&mut reader).await,
        json!({ "event": "left", "data": { "nickname": "writer", "room": "general" } })
    );
}

/// The limit is on the whole message, not only on each frame: a message sent
/// as three fragments of 8 KiB each (24 KiB in all, every frame under the
/// limit) is refused with 1009 too, as soon as the total passes 16 KiB.
#[tokio::test]
async fn a_big_message_in_small_fragments_is_refused_too() {
    // Arrange
    let addr = spawn_app().await;
    let (mut client, _) = connect_as(addr, "writer").await;
    let fragment = "x".repeat(8 * 1024);

    // Act: a text frame that is not final, then continuation frames.
    let first = Frame::message(fragment.clone(), OpCode::Data(Data::Text), false);
    let middle = Frame::message(fragment.clone(), OpCode::Data(Data::Continue), false);
    let last = Frame::message(fragment, OpCode::Data(Data::Continue), true);
    for frame in [first, middle, last] {
        // The server may already have hung up before the last fragment.
        let sent = timeout(DEADLINE, client.send(Message::Frame(frame)))
            .await
            .expect("the fragment is sent (or refused) in time");
        if sent.is_err() {
            break;
        }
    }

    // Assert
    match next_frame(&mut client).await {
        Message::Close(Some(close)) => assert_eq!(close.code, CloseCode::Size),
        other => panic!("expected a close frame with code 1009, got {other:?}"),
    }
}
