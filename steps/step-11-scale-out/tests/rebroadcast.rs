//! Step 11 checkpoint: a message said in a room reaches everyone else in
//! that room exactly once, in one shared order, and not its writer, who gets
//! the acknowledgement instead.
//!
//! Step 08 sent every message back to its sender too; step 10's writer shows
//! its message at once and only waits for the answer on its `ack`, so these
//! are step 08's rebroadcast tests with that one change.
//!
//! Run with `cargo test -p step-11-scale-out --test rebroadcast`.

mod common;

use std::collections::HashSet;

use common::{
    ChatMessage, connect_as, connect_to, index_of, member_without_connection, next_message,
    next_message_skipping_notices, publish_as, say, send_message, spawn_app, spawn_app_with,
};
use futures::future::join;
use serde_json::Value;
use step_11_scale_out::AppState;
use testkit::{Client, DEADLINE, assert_nothing_arrives, log_lines, next_event};
use tokio::time::timeout;

/// Alice says one thing with an ack: Bob and Carol, in her room, each
/// receive it once with her nickname as `from` and the id her answer gave;
/// she gets only the answer; Dave, in another room, gets nothing.
#[tokio::test]
async fn a_message_reaches_everyone_else_in_the_room_once_and_its_writer_gets_the_ack() {
    // Arrange
    let addr = spawn_app().await;
    let (mut dave, _) = connect_to(addr, "dave", "random").await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let (mut carol, _) = connect_as(addr, "carol").await;
    for _ in 0..2 {
        let _ = next_event(&mut alice).await; // bob joined, carol joined
    }
    let _ = next_event(&mut bob).await; // carol joined

    // Act
    let answer = say(&mut alice, "hello, everyone").await;

    // Assert
    let id = answer["id"].as_str().expect("the answer's id is a string");
    let expected = ChatMessage {
        id: id.to_owned(),
        room: "general".to_owned(),
        from: "alice".to_owned(),
        text: "hello, everyone".to_owned(),
    };
    assert_eq!(next_message(&mut bob).await, expected);
    assert_eq!(next_message(&mut carol).await, expected);
    for client in [&mut alice, &mut bob, &mut carol, &mut dave] {
        assert_nothing_arrives(client).await;
    }
}

/// The server logs each message with its writer's connection id and how
/// many clients it went to: the others in the room, not the writer, and
/// nobody in another room.
#[tokio::test]
async fn a_message_is_logged_with_its_sender_and_audience() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut alice, alice_id) = connect_as(addr, "alice").await;
    let (_bob, _) = connect_as(addr, "bob").await;
    let (_carol, _) = connect_as(addr, "carol").await;
    let (_dave, _) = connect_to(addr, "dave", "random").await;

    // Act
    send_message(&mut alice, "anyone there?").await;

    // Assert
    logs.wait_for(&format!("message from {alice_id} sent to 2 clients"))
        .await;
}

/// Reads `count` chat messages from `client`, skipping room notices.
async fn read_messages(client: &mut Client, count: usize) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        messages.push(next_message_skipping_notices(client).await);
    }
    messages
}

/// Reads up to `count` chat messages, skipping room notices, but stops
/// early once none has come for half the [`DEADLINE`] (messages on their
/// way come within milliseconds), so that a test can say which are missing
/// rather than only that one did not come.
async fn read_up_to(client: &mut Client, count: usize) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        match timeout(DEADLINE / 2, next_message_skipping_notices(client)).await {
            Ok(message) => messages.push(message),
            Err(_nothing_more) => break,
        }
    }
    messages
}

/// Says each of `texts`, in order, without waiting for answers.
async fn send_all(client: &mut Client, texts: &[String]) {
    for text in texts {
        send_message(client, text).await;
    }
}

/// The messages of `seen` that `nickname` did not write: what `nickname`
/// itself should have received, in the same order.
fn not_from(seen: &[ChatMessage], nickname: &str) -> Vec<ChatMessage> {
    seen.iter()
        .filter(|message| message.from != nickname)
        .cloned()
        .collect()
}

/// Twenty messages, ten from each of two writers who send at the same time:
/// Carol gets all twenty; Alice gets Bob's ten and Bob gets Alice's, each in
/// the order Carol saw them (one shared order); every writer's messages keep
/// the order they were sent in, and every message has an id of its own.
#[tokio::test]
async fn twenty_messages_from_two_senders_arrive_everywhere_in_one_order() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let (mut carol, _) = connect_as(addr, "carol").await;
    let texts_from = |who: &str| (0..10).map(|i| format!("{who} {i}")).collect::<Vec<_>>();
    let (alice_texts, bob_texts) = (texts_from("alice"), texts_from("bob"));

    // Act: both send all ten without waiting, so their messages interleave.
    join(
        send_all(&mut alice, &alice_texts),
        send_all(&mut bob, &bob_texts),
    )
    .await;
    let seen_by_alice = read_messages(&mut alice, 10).await;
    let seen_by_bob = read_messages(&mut bob, 10).await;
    let seen_by_carol = read_messages(&mut carol, 20).await;

    // Assert: one shared order, without each writer's own messages...
    assert_eq!(seen_by_alice, not_from(&seen_by_carol, "alice"));
    assert_eq!(seen_by_bob, not_from(&seen_by_carol, "bob"));
    // ...holding every message, each writer's in the order it was sent...
    let texts_written_by = |nickname: &str| -> Vec<String> {
        seen_by_carol
            .iter()
            .filter(|message| message.from == nickname)
            .map(|message| message.text.clone())
            .collect()
    };
    assert_eq!(texts_written_by("alice"), alice_texts);
    assert_eq!(texts_written_by("bob"), bob_texts);
    // ...each with an id of its own.
    let ids: HashSet<&str> = seen_by_carol.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 20, "{ids:?}");
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_nothing_arrives(client).await;
    }
}

/// A writer's answers come in the order it wrote, each with a different id,
/// and the others receive the messages under those same ids, in that order.
#[tokio::test]
async fn the_answers_and_the_deliveries_agree_on_every_id() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;

    // Act
    let mut answered = Vec::new();
    for index in 0..5 {
        let answer = say(&mut alice, &format!("number {index}")).await;
        answered.push(answer["id"].clone());
    }

    // Assert
    let delivered: Vec<Value> = read_messages(&mut bob, 5)
        .await
        .into_iter()
        .map(|message| Value::String(message.id))
        .collect();
    assert_eq!(delivered, answered);
    let distinct: HashSet<String> = answered.iter().map(Value::to_string).collect();
    assert_eq!(distinct.len(), 5, "{answered:?}");
}

/// A burst said faster than a member's connection can forward it (more
/// than one batch waits for it at once, well within the room's queue) still
/// reaches that member whole: every message once, in order. The server
/// writes what waits in batches, and no batch may drop a frame.
#[tokio::test]
async fn a_burst_longer_than_a_batch_reaches_every_member_whole() {
    // Arrange
    const MESSAGES: usize = 200;
    let state = AppState::default();
    let addr = spawn_app_with(state.clone()).await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let announcer = member_without_connection(&state.rooms, "announcer", "general");

    // Act: all of it is in the room's queue before Bob's connection runs.
    for index in 0..MESSAGES {
        publish_as(&announcer, format!("{index:04}"));
    }
    let received = read_up_to(&mut bob, MESSAGES).await;

    // Assert
    let indices: Vec<usize> = received.iter().map(|m| index_of(&m.text)).collect();
    let missing: Vec<usize> = (0..MESSAGES).filter(|i| !indices.contains(i)).collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    assert!(indices.is_sorted(), "in order");
    assert_nothing_arrives(&mut bob).await;
}
