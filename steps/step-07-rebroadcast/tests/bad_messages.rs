//! Step 07 checkpoint: a `message` whose data is not text worth sending (not
//! a string, empty, or only whitespace) gets an `error` to its sender only;
//! nobody else hears about it, and the sender can go on chatting.
//!
//! Run with `cargo test -p step-07-rebroadcast --test bad_messages`.

mod common;

use common::{error_reply, next_message, send_message, spawn_app};
use testkit::{assert_nothing_arrives, connect};
use tokio_tungstenite::tungstenite::Message;

/// Each kind of wrong data is refused, and the error says what was wrong.
#[tokio::test]
async fn a_message_that_is_not_text_gets_an_error() {
    // Arrange
    let addr = spawn_app().await;
    let (mut sender, _id) = connect(addr).await;
    let cases = [
        (r#"{"event":"message","data":42}"#, "got a number"),
        (
            r#"{"event":"message","data":{"text":"hi"}}"#,
            "got an object",
        ),
        (r#"{"event":"message","data":["hi"]}"#, "got an array"),
        (r#"{"event":"message"}"#, "got null"),
        (r#"{"event":"message","data":""}"#, "got an empty string"),
        (
            r#"{"event":"message","data":"  \n\t "}"#,
            "got only whitespace",
        ),
    ];

    for (frame, expected) in cases {
        // Act
        let message = error_reply(&mut sender, Message::text(frame)).await;

        // Assert
        assert!(
            message.starts_with(r#"the "message" event needs a non-empty string as "data""#),
            "{frame}: {message}"
        );
        assert!(message.ends_with(expected), "{frame}: {message}");
    }
}

/// The error goes to the sender only: another client receives nothing, and
/// the first thing it does receive is the sender's next, valid message.
#[tokio::test]
async fn errors_go_to_the_sender_only_and_the_chat_goes_on() {
    // Arrange
    let addr = spawn_app().await;
    let (mut sender, sender_id) = connect(addr).await;
    let (mut bystander, _bystander_id) = connect(addr).await;

    // Act
    error_reply(
        &mut sender,
        Message::text(r#"{"event":"message","data":""}"#),
    )
    .await;
    error_reply(
        &mut sender,
        Message::text(r#"{"event":"message","data":7}"#),
    )
    .await;

    // Assert: silence for the bystander, then the chat works for both.
    assert_nothing_arrives(&mut bystander).await;
    send_message(&mut sender, "sorry, now for real").await;
    for client in [&mut sender, &mut bystander] {
        let message = next_message(client).await;
        assert_eq!(message.from, sender_id);
        assert_eq!(message.text, "sorry, now for real");
    }
}
