//! Step 08 checkpoint: a frame the server cannot accept gets an `error` event,
//! to that client only, and the connection stays open.
//!
//! "Stays open" is proved the way a page would notice: after the errors, the
//! same connection sends a `message`, and it comes back. (A `message` with
//! the wrong data is tested in `bad_messages.rs`.)
//!
//! Run with `cargo test -p step-08-production --test bad_frames`.

mod common;

use common::{
    Client, connect, next_event, next_frame, next_message, send_frame, send_message, spawn_app,
};
use tokio_tungstenite::tungstenite::Message;

/// Sends `frame`, and returns the `message` of the `error` event that must
/// come back.
async fn error_reply(client: &mut Client, frame: Message) -> String {
    send_frame(client, frame).await;
    let reply = next_event(client).await;
    assert_eq!(reply["event"], "error", "reply: {reply}");
    reply["data"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error event carries a message: {reply}"))
        .to_owned()
}

/// After an error, the same connection is still served: a `message` sent on
/// it comes back to it, with this client's id.
async fn assert_still_served(client: &mut Client, id: &str) {
    send_message(client, "still here?").await;
    let message = next_message(client).await;
    assert_eq!(message.from, id);
    assert_eq!(message.text, "still here?");
}

/// The connection is open and nothing is waiting for this client: its next
/// frame is the pong to its ping (not, say, an `error` meant for someone
/// else).
async fn assert_nothing_arrived(client: &mut Client) {
    send_frame(client, Message::Ping("still there?".into())).await;
    assert!(matches!(next_frame(client).await, Message::Pong(_)));
}

/// Text that is not JSON is refused with an error that says so.
#[tokio::test]
async fn text_that_is_not_json_gets_an_error() {
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    let message = error_reply(&mut client, Message::text("hello, server")).await;

    assert!(message.contains("not valid JSON"), "{message}");
    assert_still_served(&mut client, &id).await;
}

/// JSON that is not an object (here an array) is refused.
#[tokio::test]
async fn json_that_is_not_an_object_gets_an_error() {
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    let message = error_reply(&mut client, Message::text(r#"["fromClient"]"#)).await;

    assert!(message.contains("got an array"), "{message}");
    assert_still_served(&mut client, &id).await;
}

/// An object without an `"event"` field is refused.
#[tokio::test]
async fn an_object_without_event_gets_an_error() {
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    let message = error_reply(&mut client, Message::text(r#"{"data": 1}"#)).await;

    assert!(message.contains(r#"no "event" field"#), "{message}");
    assert_still_served(&mut client, &id).await;
}

/// An `"event"` that is not a string is refused.
#[tokio::test]
async fn an_event_that_is_not_a_string_gets_an_error() {
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    let message = error_reply(&mut client, Message::text(r#"{"event": 42}"#)).await;

    assert!(
        message.contains("must be a string, got a number"),
        "{message}"
    );
    assert_still_served(&mut client, &id).await;
}

/// A binary frame is refused: this protocol is JSON text only.
#[tokio::test]
async fn a_binary_frame_gets_an_error() {
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    let message = error_reply(&mut client, Message::binary(vec![0u8, 159, 146, 150])).await;

    assert!(
        message.contains("binary frames are not accepted"),
        "{message}"
    );
    assert_still_served(&mut client, &id).await;
}

/// A well-formed envelope with an event this step does not know is refused,
/// naming the event; `data` may be present or left out. (`fromServer` is the
/// server's event: a client sending it is as unknown as any other name.)
#[tokio::test]
async fn an_unknown_event_gets_an_error_naming_it() {
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    let without_data = error_reply(&mut client, Message::text(r#"{"event":"fromServer"}"#)).await;
    let with_data = error_reply(
        &mut client,
        Message::text(r#"{"event":"chat","data":{"text":"hi"}}"#),
    )
    .await;

    assert!(
        without_data.starts_with(r#"unknown event "fromServer""#),
        "{without_data}"
    );
    assert!(
        with_data.starts_with(r#"unknown event "chat""#),
        "{with_data}"
    );
    assert_still_served(&mut client, &id).await;
}

/// The error goes to the client that sent the bad frame, not to anyone else:
/// the other client's next frame is the pong to its own ping.
#[tokio::test]
async fn errors_go_to_the_sender_only() {
    // Arrange
    let addr = spawn_app().await;
    let (mut sender, sender_id) = connect(addr).await;
    let (mut bystander, _bystander_id) = connect(addr).await;

    // Act
    let message = error_reply(&mut sender, Message::text("not json")).await;

    // Assert
    assert!(message.contains("not valid JSON"), "{message}");
    assert_nothing_arrived(&mut bystander).await;
    assert_still_served(&mut sender, &sender_id).await;
}

/// One connection sends every kind of bad frame in a row, each gets its own
/// `error`, in order, and then the same connection's `message` still comes
/// back.
#[tokio::test]
async fn a_run_of_bad_frames_leaves_the_connection_working() {
    // Arrange
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;
    let bad_frames = [
        (Message::text("hello, server"), "not valid JSON"),
        (Message::text("[1, 2]"), "got an array"),
        (Message::text(r#"{"data": 1}"#), r#"no "event" field"#),
        (Message::text(r#"{"event": 42}"#), "must be a string"),
        (Message::binary(vec![1u8, 2, 3]), "binary frames"),
        (
            Message::text(r#"{"event":"hello"}"#),
            r#"unknown event "hello""#,
        ),
    ];

    // Act + Assert: an error for each, in the order they were sent...
    for (frame, expected) in bad_frames {
        let message = error_reply(&mut client, frame).await;
        assert!(message.contains(expected), "{message}");
    }
    // ...and the connection is still served.
    assert_still_served(&mut client, &id).await;
}
