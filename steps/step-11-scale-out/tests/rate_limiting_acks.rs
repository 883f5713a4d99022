//! Step 11 checkpoint: a flood with an `ack` on every frame is refused
//! once, on the ack of the first frame dropped; the rest of the burst is
//! dropped without an answer.
//!
//! Apart from `rate_limiting.rs` (the same flood without acks) because the
//! "sending too fast" line is written at most once a second for the whole
//! process: in one test binary, this flood could hide that test's line.
//!
//! Run with `cargo test -p step-11-scale-out --test rate_limiting_acks`.

mod common;

use common::{
    SLOW_DOWN, a_room_with_a_bystander, join_then_twenty, next_ack, next_message, write_burst,
};
use serde_json::json;
use testkit::{assert_nothing_arrives, connect, next_event};

/// The same flood with an `ack` on every message: the first is answered
/// with its id (once stored), the first one dropped is refused on its own ack with the
/// same sentence (and no `error` event), and the rest of the burst is
/// dropped without an answer, as the error events are: answering each one
/// would let a flood make the server flood back. (A page waiting on one of
/// those acks times out: `socket.timeout(ms).emit`.)
#[tokio::test]
async fn a_flood_with_acks_is_refused_once_on_the_first_dropped_ack() {
    // Arrange
    let (addr, mut bystander) = a_room_with_a_bystander().await;
    let (mut flooder, _) = connect(addr).await;
    let acks: Vec<u64> = (0..20).map(|_| next_ack()).collect();

    // Act
    write_burst(&mut flooder, &join_then_twenty("flooder", Some(&acks))).await;

    // Assert
    let _join_answer = next_event(&mut flooder).await;
    // The first message's answer comes once it is stored, so the refusal,
    // which needs no database, may come first: each carries its own ack.
    let mut answers = [
        next_event(&mut flooder).await,
        next_event(&mut flooder).await,
    ];
    answers.sort_by_key(|answer| answer["ack"].as_u64());
    let [answered, refused] = answers;
    assert_eq!(answered["ack"], acks[0], "{answered}");
    assert!(answered["data"]["id"].is_string(), "{answered}");
    assert_eq!(
        refused,
        json!({ "ack": acks[1], "error": { "message": SLOW_DOWN } })
    );
    assert_nothing_arrives(&mut flooder).await;
    assert_eq!(next_event(&mut bystander).await["event"], "joined");
    assert_eq!(next_message(&mut bystander).await.text, "flood 0");
    assert_nothing_arrives(&mut bystander).await;
}
