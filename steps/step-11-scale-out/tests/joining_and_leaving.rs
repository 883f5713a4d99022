//! Step 11 checkpoint: members come and go without disturbing the room. A
//! client that joins later gets the room's history, then what is said after
//! it joined — or, with `HISTORY_SIZE=0`, only the latter, as in step 09 —
//! (and a connection that has not joined hears nothing at all); a client
//! that leaves is logged as gone, the room is told, and the others carry on.
//!
//! Step 08's chat began at the `connect` greeting; step 10's room begins at
//! the join answer, so "right after its connect" becomes "right after its
//! join answer" here.
//!
//! Run with `cargo test -p step-11-scale-out --test joining_and_leaving`.

mod common;

use common::{
    ChatMessage, chat_message, connect_as, join, next_message, say, send_message, spawn_app,
    spawn_app_with, wait_for_live_connections,
};
use serde_json::json;
use step_11_scale_out::{AppState, config::Config};
use testkit::{assert_nothing_arrives, connect, log_lines, next_event};

/// A member who joins after a message was said gets it first, as history
/// (step 10 changed step 09's rule, "no history": a new tab sees the
/// conversation), then the next one live, each once; its join answer lists
/// who is there.
#[tokio::test]
async fn a_client_that_joins_later_gets_the_history_then_later_messages() {
    // Arrange: Alice says something before Dave is there.
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let before = say(&mut alice, "before Dave").await;

    // Act
    let (mut dave, _) = connect(addr).await;
    let answer = join(&mut dave, "dave", "general").await;
    let after = say(&mut alice, "after Dave").await;

    // Assert: the history, then the later message, and nothing follows.
    assert_eq!(answer["users"], json!(["alice", "dave"]));
    for (said, text) in [(before, "before Dave"), (after, "after Dave")] {
        let expected = ChatMessage {
            id: said["id"].as_str().expect("a string id").to_owned(),
            room: "general".to_owned(),
            from: "alice".to_owned(),
            text: text.to_owned(),
        };
        assert_eq!(next_message(&mut dave).await, expected);
    }
    assert_nothing_arrives(&mut dave).await;
}

/// Step 09's rule, kept with `HISTORY_SIZE=0`: a member who joins after a
/// message was said does not get it, and the first message it gets is the
/// next one.
#[tokio::test]
async fn without_history_a_client_that_joins_later_sees_only_later_messages() {
    // Arrange: Alice says something before Dave is there.
    let mut config = Config::default();
    config.delivery.history_size = 0;
    let addr = spawn_app_with(AppState::in_memory(config)).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    say(&mut alice, "before Dave").await;

    // Act
    let (mut dave, _) = connect(addr).await;
    join(&mut dave, "dave", "general").await;
    let said = say(&mut alice, "after Dave").await;

    // Assert: Dave's first frame is the later message, and nothing follows.
    let expected = ChatMessage {
        id: said["id"].as_str().expect("a string id").to_owned(),
        room: "general".to_owned(),
        from: "alice".to_owned(),
        text: "after Dave".to_owned(),
    };
    assert_eq!(next_message(&mut dave).await, expected);
    assert_nothing_arrives(&mut dave).await;
}

/// A member who has just been answered gets a message said the moment that
/// answer arrived: the server subscribes it to the room *before* it answers
/// the join, so there is no gap in between.
#[tokio::test]
async fn a_client_gets_messages_sent_right_after_its_join_answer() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;

    // Act: as soon as Dave has his answer, Alice speaks.
    let (mut dave, _) = connect_as(addr, "dave").await;
    send_message(&mut alice, "welcome, Dave").await;

    // Assert
    let message = next_message(&mut dave).await;
    assert_eq!(message.from, "alice");
    assert_eq!(message.text, "welcome, Dave");
}

/// A connection that has not joined is in no room: it hears no message and
/// no notice, however much is said, until it joins.
#[tokio::test]
async fn a_client_that_has_not_joined_hears_nothing() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut lurker, _) = connect(addr).await;

    // Act
    let (_bob, _) = connect_as(addr, "bob").await;
    say(&mut alice, "is anyone listening?").await;

    // Assert
    assert_nothing_arrives(&mut lurker).await;
}

/// A member whose connection drops (no close frame) is logged as
/// disconnected and its handler ends; the others hear `left`, and keep
/// chatting as before, each message going to exactly those still there.
#[tokio::test]
async fn a_client_that_leaves_does_not_disturb_the_rest() {
    // Arrange: four members, all in the same room.
    let state = AppState::default();
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (mut alice, alice_id) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let (mut dave, _) = connect_as(addr, "dave").await;
    let (carol, carol_id) = connect_as(addr, "carol").await;

    // Act: Carol's connection goes away while the others keep talking.
    drop(carol);
    logs.wait_for(&format!("user disconnected {carol_id}"))
        .await;
    wait_for_live_connections(&state, 3).await;
    say(&mut alice, "bye, Carol").await;

    // Assert: Bob and Dave are told she left, then get the message, which
    // went to exactly those two.
    let left = json!({ "event": "left", "data": { "nickname": "carol", "room": "general" } });
    for member in [&mut bob, &mut dave] {
        let mut notices = Vec::new();
        let message = loop {
            let event = next_event(member).await;
            match chat_message(&event) {
                Some(message) => break message,
                None => notices.push(event),
            }
        };
        assert_eq!(notices.last(), Some(&left), "{notices:?}");
        assert_eq!(
            (message.from, message.text),
            ("alice".into(), "bye, Carol".into())
        );
    }
    logs.wait_for(&format!("message from {alice_id} sent to 2 clients"))
        .await;
    assert_eq!(state.rooms.members("general"), ["alice", "bob", "dave"]);
    assert_nothing_arrives(&mut bob).await;
}
