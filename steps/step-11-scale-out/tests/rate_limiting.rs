//! Step 11 checkpoint: a client that sends faster than
//! `MAX_MESSAGES_PER_SECOND` has its excess dropped and is told once — with
//! an `error` event, or on the `ack` of the first frame dropped; everyone
//! else is unaffected.
//!
//! Every frame counts, a `join` too. Each flood here starts with the
//! flooder's own `join`, written in the same burst as its messages, so the
//! bucket is exactly full when the burst arrives and the counts do not
//! depend on how long the test machine took in between.
//!
//! The same flood with an `ack` on every frame is in `rate_limiting_acks.rs`:
//! the "sending too fast" line is written at most once a second for the
//! whole process, so two floods in one test binary would hide each other's
//! line.
//!
//! Run with `cargo test -p step-11-scale-out --test rate_limiting`.

mod common;

use common::{
    ChatMessage, SLOW_DOWN, a_room_with_a_bystander, join_then_twenty, next_message, say,
    write_burst,
};
use serde_json::json;
use testkit::{assert_nothing_arrives, connect, log_lines, next_event};

/// A burst of twenty messages without acks: the first reaches the room,
/// the other nineteen are dropped, the flooder gets exactly one `error`
/// event saying so (after its join's answer), and the bystander's messages
/// still go through.
#[tokio::test]
async fn a_flooding_client_is_told_once_and_its_excess_is_dropped() {
    // Arrange
    let (addr, mut bystander) = a_room_with_a_bystander().await;
    let mut logs = log_lines();
    let (mut flooder, flooder_id) = connect(addr).await;

    // Act
    write_burst(&mut flooder, &join_then_twenty("flooder", None)).await;

    // Assert: the bystander hears the flooder join and its first message.
    assert_eq!(next_event(&mut bystander).await["event"], "joined");
    let first = next_message(&mut bystander).await;
    assert_eq!(
        (first.from, first.text),
        ("flooder".into(), "flood 0".into())
    );
    assert_nothing_arrives(&mut bystander).await;

    // Assert: the flooder gets its join's answer and one error, no more.
    let answer = next_event(&mut flooder).await;
    assert_eq!(answer["data"]["nickname"], "flooder", "{answer}");
    let error = next_event(&mut flooder).await;
    assert_eq!(
        error,
        json!({ "event": "error", "data": { "message": SLOW_DOWN } })
    );
    assert_nothing_arrives(&mut flooder).await;
    logs.wait_for(&format!(
        "{flooder_id} is sending too fast; dropping its excess messages"
    ))
    .await;

    // Assert: the bystander, with its own full bucket, is unaffected.
    let said = say(&mut bystander, "my turn").await;
    let expected = ChatMessage {
        id: said["id"].as_str().expect("a string id").to_owned(),
        room: "general".to_owned(),
        from: "bystander".to_owned(),
        text: "my turn".to_owned(),
    };
    assert_eq!(next_message(&mut flooder).await, expected);
}
