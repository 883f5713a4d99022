//! Step 06 checkpoint: a frame the server cannot accept gets an `error` event,
//! to that client only, and the connection stays open.
//!
//! "Stays open" is proved the way a page would notice: after the errors, the
//! same connection sends `fromClient`, and the server logs it.
//!
//! Run with `cargo test -p step-06-client-events --test bad_frames`.

mod common;

use common::{error_reply, spawn_app};
use testkit::{Client, connect, log_lines, next_frame, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// A frame the server must refuse: what it is (for failure messages), the
/// frame, and a check of the `error` message it gets back.
type BadFrame = (&'static str, Message, fn(&str) -> bool);

/// Every kind of frame the server refuses, and what its error must say. An
/// unknown event's error names the event, whether `data` is present or left out.
/// (`fromServer` is the server's event: a client sending it is as unknown as
/// any other name.)
fn bad_frames() -> [BadFrame; 7] {
    [
        (
            "text that is not JSON",
            Message::text("hello, server"),
            |error| error.contains("not valid JSON"),
        ),
        (
            "JSON that is not an object",
            Message::text(r#"["fromClient"]"#),
            |error| error.contains("got an array"),
        ),
        (
            "an object without \"event\"",
            Message::text(r#"{"data": 1}"#),
            |error| error.contains(r#"no "event" field"#),
        ),
        (
            "an \"event\" that is not a string",
            Message::text(r#"{"event": 42}"#),
            |error| error.contains("must be a string, got a number"),
        ),
        (
            "a binary frame",
            Message::binary(vec![0u8, 159, 146, 150]),
            |error| error.contains("binary frames are not accepted"),
        ),
        (
            "an unknown event without data",
            Message::text(r#"{"event":"fromServer"}"#),
            |error| error.starts_with(r#"unknown event "fromServer""#),
        ),
        (
            "an unknown event with data",
            Message::text(r#"{"event":"chat","data":{"text":"hi"}}"#),
            |error| error.starts_with(r#"unknown event "chat""#),
        ),
    ]
}

/// After an error, the same connection is still served: a `fromClient` sent
/// on it reaches the server, which logs it with this client's id.
async fn assert_still_served(client: &mut Client, id: &str) {
    let mut logs = log_lines();
    send_frame(client, Message::text(r#"{"event":"fromClient"}"#)).await;
    logs.wait_for(&format!("message received from client {id}"))
        .await;
}

/// The connection is open and nothing is waiting for this client: its next
/// frame is the pong to its ping (not, say, an `error` meant for someone
/// else).
async fn assert_nothing_arrived(client: &mut Client) {
    send_frame(client, Message::Ping("still there?".into())).await;
    assert!(matches!(next_frame(client).await, Message::Pong(_)));
}

/// Each kind of bad frame, on a connection of its own, is refused with an
/// error that says what is wrong, and the connection is still served.
#[tokio::test]
async fn each_bad_frame_gets_an_error_saying_what_is_wrong() {
    // Arrange
    let addr = spawn_app().await;

    for (name, frame, says_what_is_wrong) in bad_frames() {
        let (mut client, id) = connect(addr).await;

        // Act
        let message = error_reply(&mut client, frame).await;

        // Assert
        assert!(says_what_is_wrong(&message), "{name}: {message}");
        assert_still_served(&mut client, &id).await;
    }
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
/// `error`, in order, and then the same connection's `fromClient` is still
/// received by the server.
#[tokio::test]
async fn a_run_of_bad_frames_leaves_the_connection_working() {
    // Arrange
    let addr = spawn_app().await;
    let (mut client, id) = connect(addr).await;

    // Act + Assert: an error for each, in the order they were sent...
    for (name, frame, says_what_is_wrong) in bad_frames() {
        let message = error_reply(&mut client, frame).await;
        assert!(says_what_is_wrong(&message), "{name}: {message}");
    }
    // ...and the connection is still served.
    assert_still_served(&mut client, &id).await;
}
