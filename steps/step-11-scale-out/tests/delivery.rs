//! Step 11 checkpoint: nothing lost, nothing twice. A first join gets the
//! room's history; a join with `last_id` gets every message after it, even
//! while others publish; far behind, the client is told how many it missed;
//! a retry (same `client_offset`) is one message; a session is taken back
//! while its old connection still looks alive, with the private messages
//! it missed; a write the database refuses is refused, and its retry works;
//! a message over the chat's budget is refused before it is stored.
//!
//! Run with `cargo test -p step-11-scale-out --test delivery`.

mod common;

use std::collections::BTreeSet;

use common::{chat_message, connect_as, join, next_message, request, request_ok, spawn_app_with};
use serde_json::{Value, json};
use step_11_scale_out::{AppState, config::Config, history::History};
use testkit::{Client, DEADLINE, assert_nothing_arrives, connect, next_event, next_frame};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

/// Says `text` with `offset` as its client_offset; returns the answer.
async fn say_once(client: &mut Client, text: &str, offset: &str) -> Result<Value, String> {
    let data = json!({ "text": text, "client_offset": offset });
    request(client, "message", data).await.0
}

/// The id in an answer, as a number.
fn id_of(answer: &Value) -> i64 {
    answer["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("an answer with a string id: {answer}"))
}

/// Joins with `data` (a nickname, and perhaps a room, a session, a
/// last_id); returns the answer, which must come before any other frame.
async fn join_with(client: &mut Client, data: Value) -> Value {
    request_ok(client, "join", data).await
}

/// A state whose messages per client and per second are not what a test is
/// about.
fn roomy() -> Config {
    Config {
        max_messages_per_second: 10_000,
        ..Config::default()
    }
}

/// A first join gets the room's latest messages, oldest first, right after
/// its answer and before anything live.
#[tokio::test]
async fn a_first_join_gets_the_history_before_anything_live() {
    // Arrange
    let addr = spawn_app_with(AppState::in_memory(roomy())).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    for text in ["one", "two", "three"] {
        say_once(&mut alice, text, &format!("a:{text}"))
            .await
            .expect("stored");
    }

    // Act
    let (mut bob, _) = connect_as(addr, "bob").await;

    // Assert
    let mut texts = Vec::new();
    for _ in 0..3 {
        texts.push(next_message(&mut bob).await.text);
    }
    assert_eq!(texts, ["one", "two", "three"]);
}

/// A join with `last_id` gets every message after it, oldest first — none
/// missing and none twice — while another client keeps publishing during
/// the replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_while_others_publish_misses_nothing_and_repeats_nothing() {
    // Arrange: 100 messages, of which Bob saw the first.
    let addr = spawn_app_with(AppState::in_memory(roomy())).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let mut ids = Vec::new();
    for index in 0..100 {
        let answer = say_once(&mut alice, "before", &format!("b:{index}")).await;
        ids.push(id_of(&answer.expect("stored")));
    }

    // Act: Alice publishes 200 more while Bob joins with the first id.
    let publishing = tokio::spawn(async move {
        let mut more = Vec::new();
        for index in 0..200 {
            let answer = say_once(&mut alice, "during", &format!("d:{index}")).await;
            more.push(id_of(&answer.expect("stored")));
        }
        (alice, more)
    });
    let (mut bob, _) = connect(addr).await;
    join_with(
        &mut bob,
        json!({ "nickname": "bob", "last_id": ids[0].to_string() }),
    )
    .await;
    let (_alice, more) = timeout(DEADLINE, publishing)
        .await
        .expect("in time")
        .expect("ran");
    ids.extend(more);

    // Assert: everything after the first, once each, in order.
    let expected: Vec<i64> = ids[1..].to_vec();
    let mut received = Vec::new();
    while received.len() < expected.len() {
        let event = next_event(&mut bob).await;
        if let Some(message) = chat_message(&event) {
            received.push(message.id.parse::<i64>().expect("a numeric id"));
        }
    }
    assert_eq!(received, expected);
    assert_nothing_arrives(&mut bob).await;
}

/// Further behind than `REPLAY_CAP`, a client is told how many older
/// messages it missed, then gets the newest ones.
#[tokio::test]
async fn far_behind_a_client_is_told_how_many_it_missed() {
    // Arrange
    let mut config = roomy();
    config.delivery.replay_cap = 5;
    let addr = spawn_app_with(AppState::in_memory(config)).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let mut first = 0;
    for index in 0..20 {
        let answer = say_once(&mut alice, &index.to_string(), &format!("f:{index}")).await;
        let id = id_of(&answer.expect("stored"));
        first = if index == 0 { id } else { first };
    }

    // Act
    let (mut bob, _) = connect(addr).await;
    join_with(
        &mut bob,
        json!({ "nickname": "bob", "last_id": first.to_string() }),
    )
    .await;

    // Assert
    let skipped = next_event(&mut bob).await;
    assert_eq!(
        skipped,
        json!({ "event": "skipped", "data": { "room": "general", "count": 14 } })
    );
    let mut texts = Vec::new();
    for _ in 0..5 {
        texts.push(next_message(&mut bob).await.text);
    }
    assert_eq!(texts, ["15", "16", "17", "18", "19"]);
}

/// A message sent again with the same `client_offset` (its answer was
/// lost) is answered with the original id, and delivered once.
#[tokio::test]
async fn a_resent_message_is_one_message() {
    // Arrange
    let addr = spawn_app_with(AppState::in_memory(roomy())).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined

    // Act
    let first = say_once(&mut alice, "only once", "tab-1:7")
        .await
        .expect("stored");
    let again = say_once(&mut alice, "only once", "tab-1:7")
        .await
        .expect("answered");

    // Assert
    assert_eq!(first, again);
    assert_eq!(next_message(&mut bob).await.text, "only once");
    assert_nothing_arrives(&mut bob).await;
}

/// The same retry from a new connection (the tab reconnected) is still one
/// message: the offset is the writer's, not the connection's.
#[tokio::test]
async fn a_retry_after_reconnecting_is_one_message() {
    // Arrange
    let addr = spawn_app_with(AppState::in_memory(roomy())).await;
    let (mut alice, _) = connect(addr).await;
    let answer = join(&mut alice, "alice", "general").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let first = say_once(&mut alice, "hello", "tab-2:1")
        .await
        .expect("stored");
    assert_eq!(next_message(&mut bob).await.text, "hello");
    drop(alice);

    // Act
    let (mut again, _) = connect(addr).await;
    let session = answer["session"].clone();
    join_with(
        &mut again,
        json!({ "nickname": "alice", "session": session }),
    )
    .await;
    let retried = say_once(&mut again, "hello", "tab-2:1")
        .await
        .expect("answered");

    // Assert
    assert_eq!(retried["id"], first["id"]);
    let mut seen = Vec::new();
    while let Ok(frame) = timeout(testkit::QUIET_PERIOD, next_event(&mut bob)).await {
        seen.push(frame);
    }
    assert!(
        seen.iter().all(|e| chat_message(e).is_none()),
        "no second copy: {seen:?}"
    );
}

/// A join with the session of a connection that looks alive (nobody has
/// noticed it is dead) takes the nickname back: the answer says
/// `recovered`, and the old connection is closed with 4001 and a reason.
#[tokio::test]
async fn a_session_is_taken_back_from_a_connection_that_looks_alive() {
    // Arrange
    let addr = spawn_app_with(AppState::default()).await;
    let (mut old, _) = connect(addr).await;
    let answer = join(&mut old, "alice", "general").await;
    let session = answer["session"].as_str().expect("a session").to_owned();

    // Act
    let (mut new, _) = connect(addr).await;
    let resumed = join_with(&mut new, json!({ "nickname": "alice", "session": session })).await;

    // Assert
    assert_eq!(resumed["recovered"], true);
    assert_eq!(resumed["session"], session.as_str());
    assert_eq!(resumed["users"], json!(["alice"]));
    let close = loop {
        match next_frame(&mut old).await {
            Message::Close(close) => break close.expect("a reason"),
            _ => continue,
        }
    };
    assert_eq!(close.code, CloseCode::from(4001));
    assert_eq!(
        close.reason,
        "this session was taken over by a newer connection"
    );
}

/// A wrong session, or one for another nickname, is an ordinary join: not
/// recovered, and the nickname still taken by its holder.
#[tokio::test]
async fn a_wrong_session_is_an_ordinary_join() {
    let addr = spawn_app_with(AppState::default()).await;
    let (_alice, _) = connect_as(addr, "alice").await;
    let (mut other, _) = connect(addr).await;
    let data = json!({ "nickname": "alice", "session": "0123456789abcdef0123456789abcdef" });
    let (answer, _) = request(&mut other, "join", data).await;
    assert_eq!(
        answer,
        Err("the nickname alice is taken; choose another".to_owned())
    );
    let joined = join_with(&mut other, json!({ "nickname": "eve", "session": "nope" })).await;
    assert_eq!(joined["recovered"], false);
}

/// Private messages sent while their recipient was away (its connection
/// dead but not yet noticed) reach it when it takes its session back.
#[tokio::test]
async fn private_messages_missed_arrive_with_the_session() {
    // Arrange: Carol's first connection stops reading.
    let addr = spawn_app_with(AppState::in_memory(roomy())).await;
    let (mut away, _) = connect(addr).await;
    let answer = join(&mut away, "carol", "random").await;
    let session = answer["session"].clone();
    let (mut alice, _) = connect_as(addr, "alice").await;
    let seen = say_once(&mut alice, "a room message", "x:1")
        .await
        .expect("stored");

    // Act
    let data = json!({ "to": "carol", "text": "while you were away", "client_offset": "p:1" });
    let sent = request_ok(&mut alice, "private", data).await;
    let (mut carol, _) = connect(addr).await;
    let last_id = seen["id"].clone();
    let data =
        json!({ "nickname": "carol", "room": "random", "session": session, "last_id": last_id });
    let resumed = join_with(&mut carol, data).await;

    // Assert
    assert_eq!(resumed["recovered"], true);
    let private = loop {
        let event = next_event(&mut carol).await;
        if event["event"] == "private" {
            break event;
        }
    };
    assert_eq!(private["data"]["text"], "while you were away");
    assert_eq!(private["data"]["id"], sent["id"]);
}

/// A write the database refuses (here a full disk, simulated) is refused
/// on its ack and delivered to nobody; the server keeps serving, and the
/// client's retry succeeds once the fault is gone — once.
#[tokio::test]
async fn a_failed_write_is_refused_and_its_retry_succeeds() {
    // Arrange
    let state = AppState::in_memory(roomy());
    let addr = spawn_app_with(state.clone()).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined

    let History::Local(store) = &state.history else {
        panic!("AppState::in_memory keeps the chat in SQLite");
    };

    // Act
    store.simulate_full_disk(true);
    let refused = say_once(&mut alice, "try me", "r:1").await;
    store.simulate_full_disk(false);
    let retried = say_once(&mut alice, "try me", "r:1").await;

    // Assert
    let refusal = refused.expect_err("refused while the disk is full");
    assert!(
        refusal.starts_with("the message was not stored"),
        "{refusal}"
    );
    assert!(retried.is_ok(), "{retried:?}");
    assert_eq!(next_message(&mut bob).await.text, "try me");
    assert_nothing_arrives(&mut bob).await;
}

/// Ids are unique and increase in the order everyone receives them.
#[tokio::test]
async fn ids_increase_in_the_order_messages_arrive() {
    let addr = spawn_app_with(AppState::in_memory(roomy())).await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let _ = next_event(&mut alice).await; // bob joined
    for index in 0..50 {
        say_once(&mut alice, "x", &format!("i:{index}"))
            .await
            .expect("stored");
    }
    let mut ids = BTreeSet::new();
    let mut last = 0;
    for _ in 0..50 {
        let id: i64 = next_message(&mut bob).await.id.parse().expect("numeric");
        assert!(id > last, "{id} after {last}");
        last = id;
        ids.insert(id);
    }
    assert_eq!(ids.len(), 50);
}

/// The chat's budget (`MAX_PUBLISHED_BYTES_PER_SECOND`) is spent before a
/// message is stored: with room for two messages of 15 KB, the third is
/// refused on its ack ("the chat is busy"), the room hears only the first
/// two, and a member who joins afterwards finds only those two in the
/// history — the refused one was never stored. (Step 08 dropped it before
/// publishing; step 10 publishes from the database, so it must be refused
/// before the database.)
#[tokio::test]
async fn a_message_over_the_chats_budget_is_refused_before_it_is_stored() {
    // Arrange: the smallest budget allowed, 32 KiB a second.
    let addr = spawn_app_with(AppState::in_memory(Config {
        max_published_bytes_per_second: 32_768,
        ..Config::default()
    }))
    .await;
    let (mut bob, _) = connect_as(addr, "bob").await;
    let (mut alice, _) = connect_as(addr, "alice").await;
    let _joined = next_event(&mut bob).await;
    let texts: Vec<String> = (0..3)
        .map(|n| format!("{n} {}", "x".repeat(15_000)))
        .collect();

    // Act
    let mut answers = Vec::new();
    for text in &texts {
        answers.push(request(&mut alice, "message", json!(text)).await.0);
    }

    // Assert: two stored and sent, the third refused on its ack...
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:.80?}");
    let refusal = answers[2]
        .clone()
        .expect_err("the third is over the budget");
    assert!(refusal.starts_with("the chat is busy"), "{refusal}");
    for text in &texts[..2] {
        assert_eq!(&next_message(&mut bob).await.text, text);
    }
    assert_nothing_arrives(&mut bob).await;
    // ...and not in the history either.
    let (mut carol, _) = connect(addr).await;
    join(&mut carol, "carol", "general").await;
    for text in &texts[..2] {
        assert_eq!(&next_message(&mut carol).await.text, text);
    }
    assert_nothing_arrives(&mut carol).await;
}
