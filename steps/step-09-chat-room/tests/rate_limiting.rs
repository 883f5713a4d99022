//! Step 09 checkpoint: a client that sends faster than
//! `MAX_MESSAGES_PER_SECOND` has its excess dropped and is told once — with
//! an `error` event, or on the `ack` of the first frame dropped; everyone
//! else is unaffected.
//!
//! Every frame counts, a `join` too. Each flood here starts with the
//! flooder's own `join`, written in the same burst as its messages, so the
//! bucket is exactly full when the burst arrives and the counts do not
//! depend on how long the test machine took in between.
//!
//! Run with `cargo test -p step-09-chat-room --test rate_limiting`.

mod common;

use std::net::SocketAddr;

use common::{ChatMessage, connect_as, next_ack, next_message, say, spawn_app_with};
use futures::SinkExt;
use serde_json::{Value, json};
use step_09_chat_room::{AppState, config::Config};
use testkit::{Client, DEADLINE, assert_nothing_arrives, connect, log_lines, next_event};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Two frames a second (bursts of two): slow enough that no token comes
/// back while the test's burst is read, so the counts are exact. The
/// flooder's `join` takes the first, its first message the second.
const PER_SECOND: u32 = 2;

/// What the flooder is told about its dropped messages.
const SLOW_DOWN: &str =
    "slow down: at most 2 messages per second; the messages beyond that were dropped";

/// A server with the test's rate limit, and a bystander who has joined.
async fn a_room_with_a_bystander() -> (SocketAddr, Client) {
    let state = AppState::new(Config {
        max_messages_per_second: PER_SECOND,
        ..Config::default()
    });
    let addr = spawn_app_with(state).await;
    let (bystander, _) = connect_as(addr, "bystander").await;
    (addr, bystander)
}

/// Writes `frames` to `client` in one go: queued, then flushed once.
async fn write_burst(client: &mut Client, frames: &[Value]) {
    let burst = async {
        for frame in frames {
            client.feed(Message::text(frame.to_string())).await?;
        }
        client.flush().await
    };
    timeout(DEADLINE, burst)
        .await
        .expect("written in time")
        .expect("the connection is open");
}

/// A join as `nickname` with an `ack`, then twenty messages, `ack` or not:
/// the flood.
fn join_then_twenty(nickname: &str, acks: Option<&[u64]>) -> Vec<Value> {
    let join = json!({ "event": "join", "data": { "nickname": nickname }, "ack": next_ack() });
    let messages = (0..20).map(|index| {
        let mut frame = json!({ "event": "message", "data": format!("flood {index}") });
        if let Some(acks) = acks {
            frame["ack"] = json!(acks[index]);
        }
        frame
    });
    std::iter::once(join).chain(messages).collect()
}

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

/// The same flood with an `ack` on every message: the first is answered
/// with its id, the first one dropped is refused on its own ack with the
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
    let answered = next_event(&mut flooder).await;
    assert_eq!(answered["ack"], acks[0], "{answered}");
    assert!(answered["data"]["id"].is_string(), "{answered}");
    let refused = next_event(&mut flooder).await;
    assert_eq!(
        refused,
        json!({ "ack": acks[1], "error": { "message": SLOW_DOWN } })
    );
    assert_nothing_arrives(&mut flooder).await;
    assert_eq!(next_event(&mut bystander).await["event"], "joined");
    assert_eq!(next_message(&mut bystander).await.text, "flood 0");
    assert_nothing_arrives(&mut bystander).await;
}
