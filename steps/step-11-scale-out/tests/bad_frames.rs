//! Step 11 checkpoint: a frame the server cannot accept is refused to that
//! client only, and the connection stays open. A frame without an `ack`
//! gets an `error` event, as in step 08; a JSON object that carries an
//! `"ack": n` gets its refusal as the answer on that ack instead, and no
//! `error` event; a bad `ack` itself gets an `error` event, and the frame is
//! not acted on.
//!
//! "Stays open" is proved the way a page would notice: after the errors, the
//! same connection says something, and its `message` is acknowledged. (A
//! `message` with the wrong data is tested in `bad_messages.rs`.)
//!
//! Run with `cargo test -p step-11-scale-out --test bad_frames`.

mod common;

use common::{
    connect_as, connect_to, error_reply, join, next_message, refusal_on_ack, request_ok, spawn_app,
};
use serde_json::{Value, json};
use testkit::{Client, assert_nothing_arrives, connect, next_event, next_frame, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// A frame the server must refuse: what it is (for failure messages), the
/// frame, and a check of the sentence it gets back.
type BadFrame = (&'static str, Message, fn(&str) -> bool);

/// Every kind of frame the server refuses, and what its refusal must say.
/// An unknown event's refusal names the event, whether `data` is present or
/// left out. (`fromServer` is the server's event: a client sending it is as
/// unknown as any other name.)
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

/// A bad frame that is a JSON object, so it can carry an `ack`: its name,
/// the object, and the check of its sentence.
type BadEnvelope = (&'static str, Value, fn(&str) -> bool);

/// The bad frames that are JSON objects, the ones that can carry an `ack`.
fn bad_envelopes() -> Vec<BadEnvelope> {
    bad_frames()
        .into_iter()
        .filter_map(|(name, frame, check)| {
            let Message::Text(text) = frame else {
                return None;
            };
            let value: Value = serde_json::from_str(&text).ok()?;
            value.is_object().then_some((name, value, check))
        })
        .collect()
}

/// After a refusal, the same connection is still served: its `message` is
/// answered on its ack, with an id, before any other frame (so no `error`
/// event is still on its way either).
async fn assert_still_served(client: &mut Client) {
    let answer = request_ok(client, "message", json!("still here?")).await;
    assert!(answer["id"].is_string(), "{answer}");
}

/// Sends every kind of bad frame in a row, and checks that each gets its
/// own `error` event, in order, saying what is wrong with it.
async fn send_every_bad_frame(client: &mut Client) {
    for (name, frame, says_what_is_wrong) in bad_frames() {
        let message = error_reply(client, frame).await;
        assert!(says_what_is_wrong(&message), "{name}: {message}");
    }
}

/// The connection is open and nothing is waiting for this client: its next
/// frame is the pong to its ping (not, say, an `error` meant for someone
/// else).
async fn assert_nothing_arrived(client: &mut Client) {
    send_frame(client, Message::Ping("still there?".into())).await;
    assert!(matches!(next_frame(client).await, Message::Pong(_)));
}

/// Each kind of bad frame, on a connection of its own (in a room of its
/// own), is refused with an `error` event that says what is wrong, and the
/// connection is still served.
#[tokio::test]
async fn each_bad_frame_gets_an_error_saying_what_is_wrong() {
    // Arrange
    let addr = spawn_app().await;

    for (index, (name, frame, says_what_is_wrong)) in bad_frames().into_iter().enumerate() {
        let (mut client, _) =
            connect_to(addr, &format!("tester-{index}"), &format!("case-{index}")).await;

        // Act
        let message = error_reply(&mut client, frame).await;

        // Assert
        assert!(says_what_is_wrong(&message), "{name}: {message}");
        assert_still_served(&mut client).await;
    }
}

/// Each bad envelope that carries an `ack` is refused on that ack, with the
/// same sentence, and gets no `error` event as well; the connection is
/// still served.
#[tokio::test]
async fn each_bad_envelope_with_an_ack_is_refused_on_its_ack_only() {
    // Arrange
    let addr = spawn_app().await;
    let (mut client, _) = connect_as(addr, "tester").await;

    for (name, envelope, says_what_is_wrong) in bad_envelopes() {
        // Act
        let message = refusal_on_ack(&mut client, envelope).await;

        // Assert
        assert!(says_what_is_wrong(&message), "{name}: {message}");
        assert_still_served(&mut client).await;
    }
}

/// An `ack` that is not a whole number from 1 to 2^53 − 1 cannot be
/// answered on: the frame gets an `error` event naming the `ack` field, and
/// the message it carried is not said to the room.
#[tokio::test]
async fn a_bad_ack_gets_an_error_event_and_the_frame_is_not_acted_on() {
    // Arrange
    let addr = spawn_app().await;
    let (mut bystander, _) = connect_as(addr, "bystander").await;
    let (mut sender, _) = connect_as(addr, "sender").await;
    let _ = next_event(&mut bystander).await; // sender joined
    let bad_acks = [
        json!(0),
        json!(-1),
        json!(1.5),
        json!(9_007_199_254_740_992_u64),
        json!("7"),
        json!(null),
        json!([1]),
    ];

    for ack in bad_acks {
        // Act
        let frame = json!({ "event": "message", "data": "not said", "ack": ack });
        let message = error_reply(&mut sender, Message::text(frame.to_string())).await;

        // Assert
        assert!(
            message.starts_with(r#"the "ack" field must be a whole number from 1 to"#),
            "ack {ack}: {message}"
        );
    }
    assert_nothing_arrives(&mut bystander).await;
}

/// The refusal goes to the client that sent the bad frame, not to anyone
/// else in its room: the other client's next frame is the pong to its own
/// ping, and then the sender's next message.
#[tokio::test]
async fn errors_go_to_the_sender_only() {
    // Arrange
    let addr = spawn_app().await;
    let (mut bystander, _) = connect_as(addr, "bystander").await;
    let (mut sender, _) = connect_as(addr, "sender").await;
    let _ = next_event(&mut bystander).await; // sender joined

    // Act
    let message = error_reply(&mut sender, Message::text("not json")).await;

    // Assert
    assert!(message.contains("not valid JSON"), "{message}");
    assert_nothing_arrived(&mut bystander).await;
    assert_still_served(&mut sender).await;
    let heard = next_message(&mut bystander).await;
    assert_eq!(
        (heard.from, heard.text),
        ("sender".into(), "still here?".into())
    );
}

/// One connection sends every kind of bad frame in a row, each gets its own
/// `error`, in order, and then the same connection is still served.
#[tokio::test]
async fn a_run_of_bad_frames_leaves_the_connection_working() {
    // Arrange
    let addr = spawn_app().await;
    let (mut client, _) = connect_as(addr, "tester").await;

    // Act + Assert: an error for each, in the order they were sent...
    send_every_bad_frame(&mut client).await;
    // ...and the connection is still served.
    assert_still_served(&mut client).await;
}

/// Bad frames before joining are refused just the same (the envelope is
/// read before anything else), and the connection can then join and chat.
#[tokio::test]
async fn bad_frames_before_joining_leave_the_connection_able_to_join() {
    // Arrange
    let addr = spawn_app().await;
    let (mut client, _) = connect(addr).await;

    // Act + Assert
    send_every_bad_frame(&mut client).await;
    join(&mut client, "latecomer", "general").await;
    assert_still_served(&mut client).await;
}
