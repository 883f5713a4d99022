//! Step 07 checkpoint: clients come and go without disturbing the chat. A
//! client that joins later sees only what is said after it joined; a client
//! that leaves is logged as gone, and the others carry on.
//!
//! Run with `cargo test -p step-07-rebroadcast --test joining_and_leaving`.

mod common;

use common::{
    ChatMessage, next_message, send_message, spawn_app, spawn_app_with, wait_for_live_connections,
};
use step_07_rebroadcast::AppState;
use testkit::{assert_nothing_arrives, connect, log_lines};

/// A client that connects after a message was sent does not get it (there is
/// no history); the first message it gets is the next one.
#[tokio::test]
async fn a_client_that_joins_later_sees_only_later_messages() {
    // Arrange: Alice says something before Dave is there.
    let addr = spawn_app().await;
    let (mut alice, alice_id) = connect(addr).await;
    send_message(&mut alice, "before Dave").await;
    assert_eq!(next_message(&mut alice).await.text, "before Dave");

    // Act
    let (mut dave, _dave_id) = connect(addr).await;
    send_message(&mut alice, "after Dave").await;

    // Assert: Dave's first message is the later one, and nothing follows.
    let expected = ChatMessage {
        from: alice_id,
        text: "after Dave".to_owned(),
    };
    assert_eq!(next_message(&mut dave).await, expected);
    assert_eq!(next_message(&mut alice).await, expected);
    assert_nothing_arrives(&mut dave).await;
}

/// A client that has just joined gets a message sent the moment its
/// `connect` arrived: the server subscribes it to the chat *before* it says
/// "connect", so there is no gap in between.
#[tokio::test]
async fn a_client_gets_messages_sent_right_after_its_connect() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, alice_id) = connect(addr).await;

    // Act: as soon as Dave has his id, Alice speaks.
    let (mut dave, _dave_id) = connect(addr).await;
    send_message(&mut alice, "welcome, Dave").await;

    // Assert
    let message = next_message(&mut dave).await;
    assert_eq!(message.from, alice_id);
    assert_eq!(message.text, "welcome, Dave");
}

/// A client whose connection drops (no close frame) is logged as
/// disconnected and its handler ends, and the clients that stay keep chatting
/// as before.
#[tokio::test]
async fn a_client_that_leaves_does_not_disturb_the_rest() {
    // Arrange: three clients, all of them in the chat.
    let state = AppState::new();
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (mut alice, alice_id) = connect(addr).await;
    let (mut bob, _bob_id) = connect(addr).await;
    let (mut carol, carol_id) = connect(addr).await;
    send_message(&mut alice, "hi all").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(next_message(client).await.text, "hi all");
    }

    // Act: Carol's connection goes away while the others keep talking.
    drop(carol);
    logs.wait_for(&format!("user disconnected {carol_id}"))
        .await;
    wait_for_live_connections(&state, 2).await;
    send_message(&mut alice, "bye, Carol").await;

    // Assert: Alice and Bob get it, and it went to exactly those two.
    let expected = ChatMessage {
        from: alice_id.clone(),
        text: "bye, Carol".to_owned(),
    };
    assert_eq!(next_message(&mut alice).await, expected);
    assert_eq!(next_message(&mut bob).await, expected);
    logs.wait_for(&format!("message from {alice_id} sent to 2 clients"))
        .await;
    assert_nothing_arrives(&mut bob).await;
}
