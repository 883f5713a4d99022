//! Step 11 checkpoint: a node without its Redis says so and loses nothing.
//! `/health` is `200 ok` while Redis answers, `503` with a sentence while
//! it is down, and `200` again once it is back; while it is down a message
//! or a private message is refused on its ack with `"retry": true` (and a
//! join too), and the same message sent again (same `client_offset`) once
//! Redis is back is stored once and delivered once; and a node started
//! while Redis is down serves its page, refuses joins with a sentence, and
//! works as soon as Redis starts.
//!
//! Redis runs with its append-only file on, so a restart keeps the chat
//! (and the id counter). Each test starts its own `redis-server` (skipped,
//! with one `SKIP:` line, when there is none, unless `REDIS_REQUIRED=1`) and
//! its nodes as the step's binary. Run with `cargo test -p
//! step-11-scale-out --test shared_redis_down`.

mod common;

use common::nodes::{
    BACK, CONNECTED, LOST, Node, Receiver, ask, get, id_of, joined, refusal, say_with_offset,
    with_redis,
};
use serde_json::json;
use testkit::{DEADLINE, RedisOptions, RedisServer, connect};

/// `GET /health`: the status, and the body without its line end.
async fn health(addr: std::net::SocketAddr) -> (u16, String) {
    let (status, body) = get(addr, "/health").await;
    (status, body.trim_end().to_owned())
}

/// The sentence of a refusal that must say `"retry": true`.
fn retry_refusal(answer: &serde_json::Value) -> String {
    match refusal(answer) {
        Some((sentence, true)) => sentence,
        _ => panic!("expected a refusal with \"retry\": true, got {answer}"),
    }
}

/// `/health`: 200 `ok`, then 503 with a sentence once the node has lost
/// Redis, then 200 `ok` once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_redis_is_down_and_200_before_and_after() {
    // Arrange
    let Some(redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let mut node = Node::start_connected(&redis.url(), "a").await;
    let before = health(node.addr()).await;

    // Act
    let redis = with_redis(redis, RedisServer::stop).await;
    node.wait_for_line(LOST).await;
    let down = health(node.addr()).await;
    let _redis = with_redis(redis, RedisServer::restart).await;
    let back = node.wait_until_back().await;
    let after = health(node.addr()).await;

    // Assert
    assert_eq!(before, (200, "ok".to_owned()));
    assert_eq!(down.0, 503, "{down:?}");
    assert!(down.1.contains("cannot reach Redis"), "{down:?}");
    assert_eq!(after, (200, "ok".to_owned()));
    assert!(
        back.contains(BACK),
        "the log says {BACK:?} on recovery: {back}"
    );
}

/// While Redis is down, Alice's message (and a private message, and a
/// newcomer's join) on node A is refused with `"retry": true`. Once Redis
/// is back she sends the same message again, same `client_offset`: it is
/// acknowledged, Bob on node B receives it once, and a newcomer's history
/// has it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_while_redis_is_down_is_stored_once_when_sent_again() {
    // Arrange
    let Some(redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let mut a = Node::start_connected(&redis.url(), "a").await;
    let mut b = Node::start_connected(&redis.url(), "b").await;
    let bob = Receiver::join(b.addr(), "bob", "general").await;
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;
    let redis = with_redis(redis, RedisServer::stop).await;
    a.wait_for_line(LOST).await;
    b.wait_for_line(LOST).await;

    // Act
    let refused = say_with_offset(&mut alice, "while down", "alice:1").await;
    let private = json!({ "to": "bob", "text": "psst", "client_offset": "alice:2" });
    let (private_refused, _) = ask(&mut alice, "private", private).await;
    let (mut newcomer, _) = connect(a.addr()).await;
    let (join_refused, _) = ask(&mut newcomer, "join", json!({ "nickname": "carol" })).await;
    let _redis = with_redis(redis, RedisServer::restart).await;
    a.wait_until_back().await;
    b.wait_until_back().await;
    let stored = say_with_offset(&mut alice, "while down", "alice:1").await;
    let again = say_with_offset(&mut alice, "while down", "alice:1").await;

    // Assert
    for answer in [&refused, &private_refused, &join_refused] {
        let sentence = retry_refusal(answer);
        assert!(
            sentence.split_whitespace().count() >= 3,
            "a sentence: {answer}"
        );
    }
    assert!(
        refusal(&stored).is_none(),
        "stored once Redis is back: {stored}"
    );
    assert_eq!(
        id_of(&again),
        id_of(&stored),
        "the retry is the same message"
    );
    let mut bob = bob.collect(1, DEADLINE).await;
    assert_eq!(bob.messages[0].text, "while down");
    assert_eq!(bob.messages[0].id, id_of(&stored).to_string());
    bob.assert_no_more_messages().await;
    let history = Receiver::join(b.addr(), "dave", "general").await;
    let mut history = history.collect(1, DEADLINE).await;
    assert_eq!(history.ids(), [id_of(&stored)]);
    history.assert_no_more_messages().await;
}

/// A node started while its Redis is down listens, serves its page, says
/// 503 on `/health` and refuses a join with a sentence (`"retry": true`);
/// once Redis starts on the port the node was given, it connects, and joins
/// and messages work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_redis_is_down_works_once_redis_starts() {
    // Arrange: a port reserved for Redis, not started yet.
    let Some(redis) = RedisServer::stopped(RedisOptions::with_aof()) else {
        return;
    };
    let mut node = Node::start(&redis.url(), "a").await;
    let page = get(node.addr(), "/").await;
    let health_before = health(node.addr()).await;
    let (mut early, _) = connect(node.addr()).await;
    let (refused, _) = ask(&mut early, "join", json!({ "nickname": "alice" })).await;

    // Act
    let _redis = with_redis(redis, RedisServer::restart).await;
    node.wait_for_line(CONNECTED).await;

    // Assert
    assert_eq!(page.0, 200, "the page: {page:?}");
    assert!(
        page.1.contains("<html") || page.1.contains("<!DOCTYPE"),
        "{page:?}"
    );
    assert_eq!(health_before.0, 503, "{health_before:?}");
    let sentence = retry_refusal(&refused);
    assert!(
        sentence.split_whitespace().count() >= 3,
        "a sentence: {sentence}"
    );
    let (answer, _) = ask(&mut early, "join", json!({ "nickname": "alice" })).await;
    assert!(
        refusal(&answer).is_none(),
        "the same connection joins now: {answer}"
    );
    let listener = Receiver::join(node.addr(), "bob", "general").await;
    let said = say_with_offset(&mut early, "hello", "alice:1").await;
    let listener = listener.collect(1, DEADLINE).await;
    assert_eq!(listener.ids(), [id_of(&said)]);
    assert_eq!(health(node.addr()).await, (200, "ok".to_owned()));
}
