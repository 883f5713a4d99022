//! Step 09 checkpoint: the chat room. Nicknames and their rules, rooms,
//! who's online, messages to the room but not back to their writer, a
//! `from` nobody can forge, private messages, and acknowledgements.
//!
//! Run with `cargo test -p step-11-scale-out --test chat_room`.

mod common;

use common::{
    chat_message, connect_as, connect_to, join, next_message, request, request_ok, say,
    send_message, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};
use step_11_scale_out::{AppState, config::Config};
use testkit::{assert_nothing_arrives, connect, next_event, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// The join answer names the nickname, the room and everyone in it; the
/// others in the room hear `joined`.
#[tokio::test]
async fn joining_answers_with_the_room_and_tells_the_others() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect(addr).await;

    // Act
    let answer = join(&mut bob, "Bob", "general").await;

    // Assert: step 10's answer also carries the session to take back.
    assert_eq!(answer["nickname"], "Bob");
    assert_eq!(answer["room"], "general");
    assert_eq!(answer["users"], json!(["alice", "Bob"]));
    assert_eq!(answer["recovered"], false);
    assert!(
        answer["session"].as_str().is_some_and(|s| s.len() == 32),
        "{answer}"
    );
    let heard = next_event(&mut alice).await;
    assert_eq!(
        heard,
        json!({ "event": "joined", "data": { "nickname": "Bob", "room": "general" } })
    );
}

/// A `join` without a room goes to `general`.
#[tokio::test]
async fn a_join_without_a_room_goes_to_general() {
    let addr = spawn_app().await;
    let (mut client, _) = connect(addr).await;
    let answer = request_ok(&mut client, "join", json!({ "nickname": "dave" })).await;
    assert_eq!(answer["room"], "general");
}

/// Every rule for names is refused with a sentence saying which rule, on
/// the join's acknowledgement; the connection stays open and can join.
#[tokio::test]
async fn every_broken_name_rule_is_refused_with_its_sentence() {
    // Arrange
    let addr = spawn_app().await;
    let (_taken, _) = connect_as(addr, "Alice").await;
    let (mut client, _) = connect(addr).await;
    let cases = [
        (json!({ "nickname": "   " }), "a nickname cannot be empty"),
        (
            json!({ "nickname": "x".repeat(25) }),
            "a nickname can be at most 24 characters; this one has 25",
        ),
        (
            json!({ "nickname": "evil\u{202E}txt.exe" }),
            "a nickname cannot hold control or formatting characters such as U+202E",
        ),
        (
            json!({ "nickname": "aLiCe" }),
            "the nickname aLiCe is taken; choose another",
        ),
        (
            json!({ "nickname": "carol", "room": "Big Room" }),
            "a room name is 1 to 32 characters of a-z, 0-9 and -; \"Big Room\" is not",
        ),
    ];

    // Act + Assert
    for (data, sentence) in cases {
        let (answer, before) = request(&mut client, "join", data.clone()).await;
        assert_eq!(answer, Err(sentence.to_owned()), "{data}");
        assert!(before.is_empty(), "no error event as well: {before:?}");
    }
    join(&mut client, "carol", "random").await;
}

/// Joining again moves to the new room (and may change the nickname): the
/// old room hears `left`, the new one `joined`.
#[tokio::test]
async fn joining_again_moves_to_the_new_room() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut carol, _) = connect_to(addr, "carol", "random").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined

    // Act
    let answer = join(&mut bob, "bobby", "random").await;

    // Assert
    assert_eq!(answer["users"], json!(["carol", "bobby"]));
    let left = next_event(&mut alice).await;
    assert_eq!(
        left,
        json!({ "event": "left", "data": { "nickname": "bob", "room": "general" } })
    );
    let joined = next_event(&mut carol).await;
    assert_eq!(joined["event"], "joined");
    assert_eq!(joined["data"]["nickname"], "bobby");
    // And the nickname it gave up is free again.
    let (mut dave, _) = connect(addr).await;
    join(&mut dave, "bob", "general").await;
}

/// A message before joining is refused: "join a room first".
#[tokio::test]
async fn a_message_before_joining_is_refused() {
    let addr = spawn_app().await;
    let (mut client, _) = connect(addr).await;
    let (answer, _) = request(&mut client, "message", json!("hello?")).await;
    assert_eq!(answer, Err("join a room first".to_owned()));
}

/// A message goes to everyone else in the room, with the writer's nickname
/// as the server knows it; the writer gets only the answer, `{id, at}`.
#[tokio::test]
async fn a_message_goes_to_the_others_and_its_writer_gets_the_answer() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined

    // Act
    let answer = say(&mut alice, "hello, room").await;

    // Assert
    let heard = next_message(&mut bob).await;
    assert_eq!(heard.from, "alice");
    assert_eq!(heard.text, "hello, room");
    assert_eq!(heard.room, "general");
    assert_eq!(answer["id"], Value::String(heard.id));
    assert!(
        answer["at"]
            .as_u64()
            .is_some_and(|at| at > 1_700_000_000_000)
    );
    assert_nothing_arrives(&mut alice).await;
}

/// `from` is always the server's record: a client that writes its own
/// `from` (or a whole forged message) does not change who it says it is.
#[tokio::test]
async fn a_client_cannot_write_another_name() {
    // Arrange
    let addr = spawn_app().await;
    let (mut mallory, _) = connect_as(addr, "mallory").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let forged = json!({
        "event": "message",
        "data": "I am alice",
        "from": "alice",
        "nickname": "alice",
    });

    // Act
    send_frame(&mut mallory, Message::text(forged.to_string())).await;

    // Assert
    let heard = next_message(&mut bob).await;
    assert_eq!(heard.from, "mallory");
    assert_eq!(heard.text, "I am alice");
}

/// Rooms are separate: what is said in `general` never reaches `random`.
#[tokio::test]
async fn a_room_hears_only_its_own_messages() {
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut carol, _) = connect_to(addr, "carol", "random").await;
    say(&mut alice, "general only").await;
    assert_nothing_arrives(&mut carol).await;
}

/// A private message reaches only its recipient, whatever room either is
/// in, and the writer gets `{id, at}`.
#[tokio::test]
async fn a_private_message_reaches_only_its_recipient() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let (mut carol, _) = connect_to(addr, "carol", "random").await;
    let _ = next_event(&mut alice).await; // bob joined

    // Act
    let data = json!({ "to": "Carol", "text": "just for you" });
    let answer = request_ok(&mut alice, "private", data).await;

    // Assert
    let private = next_event(&mut carol).await;
    assert_eq!(private["event"], "private");
    assert_eq!(private["data"]["from"], "alice");
    assert_eq!(private["data"]["to"], "carol");
    assert_eq!(private["data"]["text"], "just for you");
    assert_eq!(private["data"]["id"], answer["id"]);
    assert_nothing_arrives(&mut bob).await;
}

/// A private message is refused when nobody has that nickname, when it is
/// the writer's own, or when its text is empty.
#[tokio::test]
async fn a_private_message_nobody_can_receive_is_refused() {
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let cases = [
        (
            json!({ "to": "bob", "text": "hi" }),
            "nobody called bob is online",
        ),
        (
            json!({ "to": "ALICE", "text": "hi" }),
            "you cannot send a private message to yourself",
        ),
        (
            json!({ "to": "alice", "text": "" }),
            r#"the "private" event needs a non-empty string as "data", got an empty string"#,
        ),
    ];
    for (data, sentence) in cases {
        let (answer, _) = request(&mut alice, "private", data.clone()).await;
        assert_eq!(answer, Err(sentence.to_owned()), "{data}");
    }
}

/// Acknowledgements: a frame with `"ack": n` gets exactly one answer with
/// that `n`; a refused frame without `ack` gets an `error` event instead; a
/// bad `ack` gets an `error` event and the frame is not acted on.
#[tokio::test]
async fn acks_answer_once_and_a_bad_ack_is_an_error_event() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined

    // Act + Assert: refused without an ack, an `error` event.
    let unacked = json!({ "event": "private", "data": { "to": "nobody", "text": "x" } });
    send_frame(&mut alice, Message::text(unacked.to_string())).await;
    let error = next_event(&mut alice).await;
    assert_eq!(error["event"], "error");
    assert_eq!(error["data"]["message"], "nobody called nobody is online");

    // A bad ack: an `error` event, and the message is not sent.
    let bad = json!({ "event": "message", "data": "not sent", "ack": 0 });
    send_frame(&mut alice, Message::text(bad.to_string())).await;
    let error = next_event(&mut alice).await;
    assert_eq!(error["event"], "error");
    let sentence = error["data"]["message"].as_str().unwrap_or_default();
    assert!(
        sentence.starts_with(r#"the "ack" field must be a whole number"#),
        "{error}"
    );

    // Exactly one answer per ack.
    let ack = json!({ "event": "typing", "data": false, "ack": 42 });
    send_frame(&mut alice, Message::text(ack.to_string())).await;
    assert_eq!(
        next_event(&mut alice).await,
        json!({ "ack": 42, "data": null })
    );
    assert_nothing_arrives(&mut alice).await;
    assert_nothing_arrives(&mut bob).await;
}

/// `typing` reaches the others in the room, and a message from the typist
/// says `typing: false` for them, so no indicator hangs.
#[tokio::test]
async fn typing_is_heard_and_cleared_by_the_next_message() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined

    // Act
    send_frame(
        &mut alice,
        Message::text(r#"{"event":"typing","data":true}"#),
    )
    .await;
    let typing = next_event(&mut bob).await;
    send_message(&mut alice, "done typing").await;

    // Assert
    assert_eq!(
        typing,
        json!({ "event": "typing", "data": { "nickname": "alice", "typing": true } })
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_event(&mut bob).await);
    }
    assert!(seen.iter().any(|e| chat_message(e).is_some()), "{seen:?}");
    assert!(
        seen.contains(
            &json!({ "event": "typing", "data": { "nickname": "alice", "typing": false } })
        ),
        "{seen:?}"
    );
}

/// A typist who disconnects is said to stop typing, then to have left.
#[tokio::test]
async fn typing_is_cleared_when_the_typist_disconnects() {
    // Arrange
    let addr = spawn_app().await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined
    send_frame(
        &mut alice,
        Message::text(r#"{"event":"typing","data":true}"#),
    )
    .await;
    let _ = next_event(&mut bob).await; // typing: true

    // Act
    drop(alice);

    // Assert
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_event(&mut bob).await);
    }
    assert!(
        seen.contains(
            &json!({ "event": "typing", "data": { "nickname": "alice", "typing": false } })
        ),
        "{seen:?}"
    );
    assert!(
        seen.contains(
            &json!({ "event": "left", "data": { "nickname": "alice", "room": "general" } })
        ),
        "{seen:?}"
    );
}

/// Rooms exist while someone is in them: nothing grows with the number of
/// rooms ever used.
#[tokio::test]
async fn an_empty_room_is_removed() {
    // Arrange
    let state = AppState::in_memory(Config {
        max_messages_per_second: 1000,
        ..Config::default()
    });
    let addr = spawn_app_with(state.clone()).await;
    let (mut client, _) = connect(addr).await;

    // Act
    for room in 0..50 {
        join(&mut client, "wanderer", &format!("room-{room}")).await;
    }

    // Assert
    assert_eq!(state.rooms.room_count(), 1);
    assert_eq!(state.rooms.members("room-49"), ["wanderer"]);
}
