//! Step 08 checkpoint: a message published by one client reaches every
//! connected client, the sender included, exactly once, in one shared order.
//!
//! Run with `cargo test -p step-08-production --test rebroadcast`.

mod common;

use common::{ChatMessage, next_message, send_message, spawn_app};
use futures::future::join;
use testkit::{Client, assert_nothing_arrives, connect, log_lines};

/// A sends one message: A and B each receive it once, with A's id as `from`,
/// and then nothing more (see `common::QUIET_PERIOD`).
#[tokio::test]
async fn a_message_reaches_every_client_once_with_the_senders_id() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, alice_id) = connect(addr).await;
    let (mut bob, _bob_id) = connect(addr).await;
    let expected = ChatMessage {
        from: alice_id,
        text: "hello, everyone".to_owned(),
    };

    // Act
    send_message(&mut alice, "hello, everyone").await;

    // Assert
    assert_eq!(next_message(&mut alice).await, expected);
    assert_eq!(next_message(&mut bob).await, expected);
    assert_nothing_arrives(&mut alice).await;
    assert_nothing_arrives(&mut bob).await;
}

/// The server logs each message with its sender and how many clients it was
/// sent to.
#[tokio::test]
async fn a_message_is_logged_with_its_sender_and_audience() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut alice, alice_id) = connect(addr).await;
    let (_bob, _bob_id) = connect(addr).await;

    // Act
    send_message(&mut alice, "anyone there?").await;

    // Assert
    logs.wait_for(&format!("message from {alice_id} sent to 2 clients"))
        .await;
}

/// Reads `count` chat messages from `client`.
async fn read_messages(client: &mut Client, count: usize) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        messages.push(next_message(client).await);
    }
    messages
}

/// Publishes each of `texts`, in order, without waiting for replies.
async fn send_all(client: &mut Client, texts: &[String]) {
    for text in texts {
        send_message(client, text).await;
    }
}

/// Twenty messages, ten from each of two senders who send at the same time,
/// arrive at all three clients complete and in the same order; each sender's
/// own messages keep the order they were sent in.
#[tokio::test]
async fn twenty_messages_from_two_senders_arrive_everywhere_in_one_order() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, alice_id) = connect(addr).await;
    let (mut bob, bob_id) = connect(addr).await;
    let (mut carol, _carol_id) = connect(addr).await;
    let texts_from = |who: &str| (0..10).map(|i| format!("{who} {i}")).collect::<Vec<_>>();
    let (alice_texts, bob_texts) = (texts_from("alice"), texts_from("bob"));

    // Act: both send all ten without waiting, so their messages interleave.
    join(
        send_all(&mut alice, &alice_texts),
        send_all(&mut bob, &bob_texts),
    )
    .await;
    let seen_by_alice = read_messages(&mut alice, 20).await;
    let seen_by_bob = read_messages(&mut bob, 20).await;
    let seen_by_carol = read_messages(&mut carol, 20).await;

    // Assert: one shared order...
    assert_eq!(seen_by_alice, seen_by_bob);
    assert_eq!(seen_by_alice, seen_by_carol);
    // ...holding every message, each sender's in the order it was sent.
    let texts_sent_by = |id: &str| -> Vec<String> {
        seen_by_carol
            .iter()
            .filter(|message| message.from == id)
            .map(|message| message.text.clone())
            .collect()
    };
    assert_eq!(texts_sent_by(&alice_id), alice_texts);
    assert_eq!(texts_sent_by(&bob_id), bob_texts);
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_nothing_arrives(client).await;
    }
}
