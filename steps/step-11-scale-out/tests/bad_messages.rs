//! Step 11 checkpoint: a `message` whose data is not text worth sending (not
//! a string, empty, only whitespace, or nothing visible; step 10 also takes
//! `{"text", "client_offset"}`, whose `text` follows the same rule) is
//! refused to its sender only — with
//! an `error` event, or on its `ack` when it carried one; nobody else in the
//! room hears about it, and the sender can go on chatting.
//!
//! Run with `cargo test -p step-11-scale-out --test bad_messages`.

mod common;

use common::{connect_as, error_reply, next_message, refusal_on_ack, say, spawn_app};
use serde_json::{Value, json};
use testkit::{assert_nothing_arrives, next_event};
use tokio_tungstenite::tungstenite::Message;

/// Each kind of wrong data for a `message`, as the frame's `data` (`None`:
/// left out), and how the refusal's sentence ends.
///
/// Step 10 changed one rule: an object is no longer wrong in itself, since
/// `{"text": "hi", "client_offset": "..."}` is how a message that may be
/// retried is sent; an object is refused for its `text` instead (left out,
/// or not a string).
fn wrong_data() -> [(Option<Value>, &'static str); 8] {
    [
        (Some(json!(42)), "got a number"),
        (Some(json!({ "text": 42 })), "got a number"),
        (Some(json!({ "words": "hi" })), "got null"),
        (
            Some(json!("\u{200B}\u{2800}\u{3164}")),
            "got nothing visible",
        ),
        (Some(json!(["hi"])), "got an array"),
        (None, "got null"),
        (Some(json!("")), "got an empty string"),
        (Some(json!("  \n\t ")), "got only whitespace"),
    ]
}

/// A `message` envelope with `data`, or with no `data` at all.
fn message_with(data: Option<Value>) -> Value {
    match data {
        Some(data) => json!({ "event": "message", "data": data }),
        None => json!({ "event": "message" }),
    }
}

/// Asserts that `sentence` is the refusal of a `message`'s data, ending
/// with `expected`.
fn assert_refused_as_not_text(sentence: &str, expected: &str) {
    assert!(
        sentence.starts_with(r#"the "message" event needs a non-empty string as "data""#),
        "{sentence}"
    );
    assert!(sentence.ends_with(expected), "{sentence}");
}

/// Each kind of wrong data is refused with an `error` event, and the error
/// says what was wrong.
#[tokio::test]
async fn a_message_that_is_not_text_gets_an_error() {
    // Arrange
    let addr = spawn_app().await;
    let (mut sender, _) = connect_as(addr, "sender").await;

    for (data, expected) in wrong_data() {
        // Act
        let frame = Message::text(message_with(data).to_string());
        let sentence = error_reply(&mut sender, frame).await;

        // Assert
        assert_refused_as_not_text(&sentence, expected);
    }
}

/// The same wrong data, sent with an `ack`, is refused on that ack with the
/// same sentence, and no `error` event follows.
#[tokio::test]
async fn a_message_that_is_not_text_is_refused_on_its_ack() {
    // Arrange
    let addr = spawn_app().await;
    let (mut sender, _) = connect_as(addr, "sender").await;

    for (data, expected) in wrong_data() {
        // Act
        let sentence = refusal_on_ack(&mut sender, message_with(data)).await;

        // Assert
        assert_refused_as_not_text(&sentence, expected);
    }
    assert_nothing_arrives(&mut sender).await;
}

/// The refusal goes to the sender only: another member of the room
/// receives nothing, and the first thing it does receive is the sender's
/// next, valid message, while the sender gets that message's answer.
#[tokio::test]
async fn errors_go_to_the_sender_only_and_the_chat_goes_on() {
    // Arrange
    let addr = spawn_app().await;
    let (mut bystander, _) = connect_as(addr, "bystander").await;
    let (mut sender, _) = connect_as(addr, "sender").await;
    let _ = next_event(&mut bystander).await; // sender joined

    // Act
    error_reply(
        &mut sender,
        Message::text(r#"{"event":"message","data":""}"#),
    )
    .await;
    refusal_on_ack(&mut sender, json!({ "event": "message", "data": 7 })).await;

    // Assert: silence for the bystander, then the chat works for both.
    assert_nothing_arrives(&mut bystander).await;
    let answer = say(&mut sender, "sorry, now for real").await;
    let message = next_message(&mut bystander).await;
    assert_eq!(message.from, "sender");
    assert_eq!(message.text, "sorry, now for real");
    assert_eq!(answer["id"], Value::String(message.id));
}
