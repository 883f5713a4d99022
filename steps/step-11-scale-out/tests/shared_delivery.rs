//! Step 11 checkpoint, with real processes and a real Redis: two nodes are
//! one chat. A message said on node A reaches the members on node B (and on
//! A) with the id A acknowledged; ids from both nodes are one increasing
//! sequence that everyone receives in the same order; a private message
//! crosses nodes; a retry sent to another node (same `client_offset`) is
//! one message; a client whose node is killed with SIGKILL recovers on
//! the other node with `last_id`: everything it missed, once each, in
//! order (and a private message missed, with its session); and a session
//! is taken back on another node from a connection that still looks alive.
//!
//! Each test starts its own `redis-server` (skipped, with one `SKIP:` line,
//! when there is none, unless `REDIS_REQUIRED=1`) and its nodes as the
//! step's binary. Run with `cargo test -p step-11-scale-out --test
//! shared_delivery`.

mod common;

use std::time::Duration;

use common::nodes::{
    Node, Receiver, ask, close, id_of, join_patiently, joined, messages_in, refusal,
    say_with_offset, wait_for_notice,
};
use serde_json::json;
use testkit::{Client, DEADLINE, QUIET_PERIOD, RedisServer, assert_nothing_arrives};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

/// A Redis and two connected nodes, `a` and `b`; `None` without
/// `redis-server`.
async fn two_nodes() -> Option<(RedisServer, Node, Node)> {
    let redis = RedisServer::start()?;
    let a = Node::start_connected(&redis.url(), "a").await;
    let b = Node::start_connected(&redis.url(), "b").await;
    Some((redis, a, b))
}

/// Reads frames until `count` chat messages have come, skipping notices.
async fn chat_messages(client: &mut Client, count: usize) -> Vec<common::ChatMessage> {
    let mut messages = Vec::new();
    while messages.len() < count {
        let frame = common::next_event_skipping_pings(client).await;
        messages.extend(messages_in(&[frame]));
    }
    messages
}

/// Fails if a chat message comes within [`QUIET_PERIOD`] (after the last
/// one expected); `joined` and `left` notices may come, from either node.
async fn no_more_chat_messages(client: &mut Client) {
    let mut after = Vec::new();
    while let Ok(frame) = timeout(QUIET_PERIOD, common::next_event_skipping_pings(client)).await {
        after.push(frame);
    }
    assert!(messages_in(&after).is_empty(), "no message more: {after:?}");
}

/// A message said on node A reaches every member of the room, on B and on
/// A, once, from its writer, with the id A acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_said_on_one_node_reaches_the_members_on_both() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (mut bob, _) = joined(b.addr(), "bob", "general").await;
    let (mut bea, _) = joined(b.addr(), "bea", "general").await;
    let (mut amy, _) = joined(a.addr(), "amy", "general").await;
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;

    // Act
    let answer = say_with_offset(&mut alice, "hello from a", "alice:1").await;

    // Assert
    assert!(refusal(&answer).is_none(), "stored: {answer}");
    for (who, client) in [("bob", &mut bob), ("bea", &mut bea), ("amy", &mut amy)] {
        let message = chat_messages(client, 1).await.remove(0);
        assert_eq!(message.text, "hello from a", "{who}");
        assert_eq!(message.from, "alice", "{who}");
        assert_eq!(message.room, "general", "{who}");
        assert_eq!(message.id, id_of(&answer).to_string(), "{who}");
        no_more_chat_messages(client).await;
    }
}

/// Two writers on two nodes take turns: their ids are one increasing
/// sequence, and members on both nodes receive all of them in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_from_both_nodes_are_one_sequence_everyone_receives_in_order() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (mut on_a, _) = joined(a.addr(), "watcher-a", "general").await;
    let (mut on_b, _) = joined(b.addr(), "watcher-b", "general").await;
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;
    let (mut bob, _) = joined(b.addr(), "bob", "general").await;

    // Act
    let mut ids = Vec::new();
    for turn in 0..20 {
        let (writer, name) = if turn % 2 == 0 {
            (&mut alice, "alice")
        } else {
            (&mut bob, "bob")
        };
        let answer =
            say_with_offset(writer, &format!("turn {turn}"), &format!("{name}:{turn}")).await;
        assert!(refusal(&answer).is_none(), "turn {turn}: {answer}");
        ids.push(id_of(&answer));
    }

    // Assert
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids increase across nodes: {ids:?}"
    );
    for client in [&mut on_a, &mut on_b] {
        let received: Vec<i64> = chat_messages(client, 20)
            .await
            .iter()
            .map(common::nodes::numeric_id)
            .collect();
        assert_eq!(received, ids);
    }
}

/// A private message from node A reaches its recipient on node B (in
/// another room), with its id; nobody else hears of it; a private message
/// to a nickname nobody has on either node is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_message_crosses_nodes_to_its_recipient_only() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (mut bob, _) = joined(b.addr(), "bob", "random").await;
    let (mut carol, _) = joined(b.addr(), "carol", "quiet").await;
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;

    // Act
    let data = json!({ "to": "bob", "text": "just for you", "client_offset": "p:1" });
    let (answer, _) = ask(&mut alice, "private", data).await;
    let to_nobody = json!({ "to": "nobody", "text": "anyone?", "client_offset": "p:2" });
    let (nobody, _) = ask(&mut alice, "private", to_nobody).await;

    // Assert
    assert!(refusal(&answer).is_none(), "sent: {answer}");
    let private = common::next_event_skipping_pings(&mut bob).await;
    assert_eq!(private["event"], "private", "{private}");
    assert_eq!(private["data"]["from"], "alice");
    assert_eq!(private["data"]["to"], "bob");
    assert_eq!(private["data"]["text"], "just for you");
    assert_eq!(private["data"]["id"], answer["data"]["id"]);
    let (sentence, _) = refusal(&nobody).unwrap_or_else(|| panic!("refused: {nobody}"));
    assert!(sentence.contains("nobody"), "{sentence}");
    assert_nothing_arrives(&mut bob).await;
    assert_nothing_arrives(&mut carol).await;
}

/// Alice says something on node A; her tab loses its connection and, on
/// node B, sends it again with the same `client_offset` (its answer was
/// lost): the answer has the first id, and the room hears it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sent_to_another_node_is_one_message() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (mut observer, _) = joined(b.addr(), "observer", "general").await;
    let (mut alice, answer) = joined(a.addr(), "alice", "general").await;
    let session = answer["session"].clone();
    let first = say_with_offset(&mut alice, "only once", "tab-1:1").await;
    assert!(refusal(&first).is_none(), "stored: {first}");
    let seen = chat_messages(&mut observer, 1).await;
    close(alice).await;
    wait_for_notice(&mut observer, "left", "alice", DEADLINE).await;

    // Act
    let (mut again, _) = testkit::connect(b.addr()).await;
    let data = json!({ "nickname": "alice", "room": "general", "session": session });
    let (rejoined, _) = ask(&mut again, "join", data).await;
    assert!(refusal(&rejoined).is_none(), "alice joins on b: {rejoined}");
    let retried = say_with_offset(&mut again, "only once", "tab-1:1").await;

    // Assert
    assert_eq!(seen[0].text, "only once");
    assert!(refusal(&retried).is_none(), "answered: {retried}");
    assert_eq!(retried["data"]["id"], first["data"]["id"], "the first id");
    no_more_chat_messages(&mut observer).await;
}

/// Bob reads the room on node A while Alice writes on node B. Node A is
/// killed with SIGKILL in the middle; Alice goes on writing. Bob joins on
/// node B with his session and the last id he received: he gets every
/// message after it — the ones that were on their way when A died and the
/// ones written while he was away — once each, in order, then the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_node_is_killed_a_client_recovers_everything_on_the_other() {
    // Arrange
    let Some((_redis, mut a, b)) = two_nodes().await else {
        return;
    };
    let mut bob = Receiver::join(a.addr(), "bob", "general").await;
    let (mut alice, _) = joined(b.addr(), "alice", "general").await;
    let mut acked = Vec::new();
    for index in 0..30 {
        let answer = say_with_offset(
            &mut alice,
            &format!("before {index}"),
            &format!("b:{index}"),
        )
        .await;
        acked.push(id_of(&answer));
    }
    bob = bob.collect(10, DEADLINE).await;

    // Act
    a.kill_9().await;
    bob.read_until_cut().await;
    for index in 0..30 {
        let answer =
            say_with_offset(&mut alice, &format!("away {index}"), &format!("w:{index}")).await;
        acked.push(id_of(&answer));
    }
    let patience = Duration::from_millis(600) + DEADLINE;
    bob.move_to(b.addr(), patience).await;
    for index in 0..10 {
        let answer =
            say_with_offset(&mut alice, &format!("back {index}"), &format!("k:{index}")).await;
        acked.push(id_of(&answer));
    }

    // Assert
    let bob = bob.collect(acked.len(), DEADLINE).await;
    assert_eq!(bob.ids(), acked, "every message once, in order");
    let mut bob = bob;
    bob.assert_no_more_messages().await;
}

/// Alice's tab on node A looks alive (nobody has noticed it is gone) when
/// she joins on node B with its session: the answer says `recovered`, and
/// the old connection, on the other node, is closed with 4001 and step
/// 10's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_taken_back_on_another_node() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (mut old, answer) = joined(a.addr(), "alice", "general").await;
    let session = answer["session"].as_str().expect("a session").to_owned();

    // Act
    let (mut new, _) = testkit::connect(b.addr()).await;
    let data = json!({ "nickname": "alice", "room": "general", "session": session });
    let (resumed, _) = ask(&mut new, "join", data).await;

    // Assert
    assert!(refusal(&resumed).is_none(), "taken back: {resumed}");
    assert_eq!(resumed["data"]["recovered"], true, "{resumed}");
    assert_eq!(resumed["data"]["session"], session.as_str());
    assert_eq!(resumed["data"]["users"], json!(["alice"]));
    let close = timeout(DEADLINE, async {
        loop {
            match testkit::next_frame(&mut old).await {
                Message::Close(close) => break close.expect("a reason"),
                _ => continue,
            }
        }
    })
    .await
    .expect("the old connection is closed in time");
    assert_eq!(close.code, CloseCode::from(4001));
    assert_eq!(
        close.reason,
        "this session was taken over by a newer connection"
    );
}

/// Carol's node A is killed while a private message for her is on its way
/// (her tab was not reading). She joins node B with her session and the
/// last room message she saw: the session is hers again, and the private
/// message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_message_missed_when_its_node_died_arrives_on_the_other() {
    // Arrange: Carol, on A, stops reading.
    let Some((_redis, mut a, b)) = two_nodes().await else {
        return;
    };
    let (_away, answer) = joined(a.addr(), "carol", "random").await;
    let session = answer["session"].clone();
    let (mut alice, _) = joined(b.addr(), "alice", "random").await;
    let seen = say_with_offset(&mut alice, "a room message", "x:1").await;
    let data = json!({ "to": "carol", "text": "while you were away", "client_offset": "p:1" });
    let (sent, _) = ask(&mut alice, "private", data).await;
    assert!(refusal(&sent).is_none(), "sent: {sent}");

    // Act
    a.kill_9().await;
    let (mut carol, _) = testkit::connect(b.addr()).await;
    let data = json!({
        "nickname": "carol",
        "room": "random",
        "session": session,
        "last_id": seen["data"]["id"],
    });
    let resumed = join_patiently(&mut carol, data, DEADLINE, true).await;

    // Assert
    assert_eq!(resumed["recovered"], true, "{resumed}");
    let private = timeout(DEADLINE, async {
        loop {
            let event = common::next_event_skipping_pings(&mut carol).await;
            if event["event"] == "private" {
                break event;
            }
        }
    })
    .await
    .expect("the private message arrives in time");
    assert_eq!(private["data"]["text"], "while you were away");
    assert_eq!(private["data"]["id"], sent["data"]["id"]);
}
