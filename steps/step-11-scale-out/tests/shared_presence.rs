//! Step 11 checkpoint, with real processes and a real Redis: who is online
//! is one list across nodes. A join's `users` names the members on every
//! node, and `joined` and `left` cross nodes; a nickname taken on one node
//! is refused on the other (whatever its case) until its holder leaves; and
//! when a node is killed with SIGKILL — no goodbye to anyone — its users
//! leave the other nodes' lists within a few seconds (`NODE_LIVENESS_MS`
//! 600 here), and their nicknames are free again; after a Redis outage
//! longer than that, everyone still connected is listed again.
//!
//! Each test starts its own `redis-server` (skipped, with one `SKIP:` line,
//! when there is none, unless `REDIS_REQUIRED=1`) and its nodes as the
//! step's binary. Run with `cargo test -p step-11-scale-out --test
//! shared_presence`.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::nodes::{
    LOST, Node, ask, close, joined, refusal, say_with_offset, users_of, wait_for_notice, with_redis,
};
use serde_json::{Value, json};
use testkit::{Client, DEADLINE, RedisOptions, RedisServer, connect};
use tokio::time::{Instant, sleep, timeout};

/// A Redis and two connected nodes, `a` and `b`; `None` without
/// `redis-server`.
async fn two_nodes() -> Option<(RedisServer, Node, Node)> {
    let redis = RedisServer::start()?;
    let a = Node::start_connected(&redis.url(), "a").await;
    let b = Node::start_connected(&redis.url(), "b").await;
    Some((redis, a, b))
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// Reads `client`'s frames until each of `nicknames` has left (in any
/// order), within `limit`; the frames read.
async fn wait_until_left(client: &mut Client, nicknames: &[&str], limit: Duration) -> Vec<Value> {
    let mut waiting = set(nicknames);
    let mut seen = Vec::new();
    let read = async {
        while !waiting.is_empty() {
            let frame = common::next_event_skipping_pings(client).await;
            if frame["event"] == "left" {
                waiting.remove(frame["data"]["nickname"].as_str().unwrap_or_default());
            }
            seen.push(frame);
        }
    };
    if timeout(limit, read).await.is_err() {
        panic!("within {limit:?}, {waiting:?} did not leave; came: {seen:?}");
    }
    seen
}

/// Alice on A, Bob on B, Carol on A: each join's `users` is everyone in the
/// room on both nodes, each member hears the others join, and when Bob
/// leaves, both on A hear it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_online_list_and_its_notices_span_both_nodes() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (mut alice, first) = joined(a.addr(), "alice", "general").await;

    // Act
    let (mut bob, second) = joined(b.addr(), "bob", "general").await;
    let (mut carol, third) = joined(a.addr(), "carol", "general").await;

    // Assert
    assert_eq!(users_of(&first), set(&["alice"]));
    assert_eq!(users_of(&second), set(&["alice", "bob"]));
    assert_eq!(users_of(&third), set(&["alice", "bob", "carol"]));
    wait_for_notice(&mut alice, "joined", "bob", DEADLINE).await;
    wait_for_notice(&mut alice, "joined", "carol", DEADLINE).await;
    wait_for_notice(&mut bob, "joined", "carol", DEADLINE).await;
    close(bob).await;
    wait_for_notice(&mut alice, "left", "bob", DEADLINE).await;
    wait_for_notice(&mut carol, "left", "bob", DEADLINE).await;
    let (_dave, fourth) = joined(b.addr(), "dave", "general").await;
    assert_eq!(users_of(&fourth), set(&["alice", "carol", "dave"]));
}

/// A nickname held on node A is refused on node B, in any case, with step
/// 10's sentence; once its holder has left, B gives it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nickname_taken_on_one_node_is_refused_on_the_other() {
    // Arrange
    let Some((_redis, a, b)) = two_nodes().await else {
        return;
    };
    let (alice, _) = joined(a.addr(), "alice", "general").await;
    let (mut watcher, _) = joined(b.addr(), "watcher", "general").await;
    let (mut other, _) = connect(b.addr()).await;

    // Act
    let (same, _) = ask(&mut other, "join", json!({ "nickname": "alice" })).await;
    let (other_case, _) = ask(
        &mut other,
        "join",
        json!({ "nickname": "ALICE", "room": "x" }),
    )
    .await;
    close(alice).await;
    wait_for_notice(&mut watcher, "left", "alice", DEADLINE).await;
    let (freed, _) = ask(&mut other, "join", json!({ "nickname": "alice" })).await;

    // Assert
    let refused = |answer: &serde_json::Value| refusal(answer).map(|(sentence, _)| sentence);
    assert_eq!(
        refused(&same).as_deref(),
        Some("the nickname alice is taken; choose another"),
        "{same}"
    );
    assert!(
        refused(&other_case).is_some(),
        "ALICE is alice: {other_case}"
    );
    assert!(refusal(&freed).is_none(), "free once alice left: {freed}");
}

/// Node B is killed with SIGKILL while Carol and Dave are on it: Alice, on
/// A, hears both leave within a few seconds, a newcomer's list has only the
/// living, and the nicknames can be taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_leave_the_other_nodes_lists() {
    // Arrange
    let Some((_redis, a, mut b)) = two_nodes().await else {
        return;
    };
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;
    let (_carol, _) = joined(b.addr(), "carol", "general").await;
    let (_dave, answer) = joined(b.addr(), "dave", "general").await;
    assert_eq!(users_of(&answer), set(&["alice", "carol", "dave"]));
    wait_for_notice(&mut alice, "joined", "dave", DEADLINE).await;

    // Act
    let killed_at = Instant::now();
    b.kill_9().await;

    // Assert: liveness 600 ms; within 5 s is "a few seconds" with room for a
    // busy machine.
    let within = Duration::from_secs(5);
    let seen = wait_until_left(&mut alice, &["carol", "dave"], within).await;
    let gone_after = killed_at.elapsed();
    assert!(gone_after < within, "{gone_after:?}");
    let (_eve, answer) = joined(a.addr(), "eve", "general").await;
    assert_eq!(users_of(&answer), set(&["alice", "eve"]), "after {seen:?}");
    let (_carol_again, _) = joined(a.addr(), "carol", "general").await;
}

/// Redis (AOF on) is down for longer than `NODE_LIVENESS_MS` while Alice
/// (on A) and Bob (on B) stay connected, so when it comes back every
/// node's "alive" key has expired and a sweep may take the other node's
/// users out. No node sweeps in its first liveness period after coming
/// back, so neither list flickers: Alice never hears Bob leave, a
/// newcomer's list has both, and Alice's message reaches Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_longer_than_the_liveness_everyone_is_listed_again() {
    // Arrange
    let Some(redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let mut a = Node::start_connected(&redis.url(), "a").await;
    let mut b = Node::start_connected(&redis.url(), "b").await;
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;
    let (mut bob, _) = joined(b.addr(), "bob", "general").await;

    // Act
    let redis = with_redis(redis, RedisServer::stop).await;
    a.wait_for_line(LOST).await;
    b.wait_for_line(LOST).await;
    // The outage's length is the fault here (longer than the 600 ms
    // liveness), not a wait for something to happen.
    sleep(Duration::from_millis(900)).await;
    let _redis = with_redis(redis, RedisServer::restart).await;
    a.wait_until_back().await;
    b.wait_until_back().await;

    // Assert
    let users = listed_eventually(a.addr(), &["alice", "bob"]).await;
    assert_eq!(users, set(&["alice", "bob"]));
    let said = say_with_offset(&mut alice, "still here?", "alice:1").await;
    assert!(refusal(&said).is_none(), "{said}");
    let heard = loop {
        let frame = common::next_event_skipping_pings(&mut bob).await;
        if frame["event"] == "message" {
            break frame;
        }
    };
    assert_eq!(heard["data"]["text"], "still here?");
    let bob_left = |event: &Value| event["event"] == "left" && event["data"]["nickname"] == "bob";
    let alice_heard = events_until_quiet(&mut alice).await;
    assert!(
        !alice_heard.iter().any(bob_left),
        "no flicker: {alice_heard:?}"
    );
}

/// Every event `client` receives until it has been quiet for
/// [`testkit::QUIET_PERIOD`] (bounded by [`DEADLINE`]).
async fn events_until_quiet(client: &mut Client) -> Vec<Value> {
    let deadline = Instant::now() + DEADLINE;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        let next = common::next_event_skipping_pings(client);
        match timeout(testkit::QUIET_PERIOD, next).await {
            Ok(event) => events.push(event),
            Err(_) => break,
        }
    }
    events
}

/// Joins `general` on `addr` as a new newcomer each time (a short pause
/// between tries, within [`DEADLINE`]) until the answer's users, newcomers
/// aside, are exactly `expected`; returns them.
async fn listed_eventually(addr: std::net::SocketAddr, expected: &[&str]) -> BTreeSet<String> {
    let deadline = Instant::now() + DEADLINE;
    let expected = set(expected);
    for attempt in 0.. {
        let nickname = format!("newcomer{attempt}");
        let (newcomer, answer) = joined(addr, &nickname, "general").await;
        let mut users = users_of(&answer);
        users.retain(|user| !user.starts_with("newcomer"));
        close(newcomer).await;
        if users == expected || Instant::now() >= deadline {
            return users;
        }
        sleep(Duration::from_millis(100)).await;
    }
    unreachable!("the loop returns")
}

/// The race behind a flickering list: Redis restarts after an outage
/// longer than the liveness, node A is back at once, node B a moment
/// later (here frozen with SIGSTOP across the restart, and thawed 200 ms
/// after A is back: well within one 600 ms liveness period). A node does
/// not sweep in its first period after coming back, so A does not take
/// Bob out in that moment: Alice never hears him leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_a_moment_later_than_another_is_not_swept() {
    // Arrange
    let Some(redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let mut a = Node::start_connected(&redis.url(), "a").await;
    let b = Node::start_connected(&redis.url(), "b").await;
    let (mut alice, _) = joined(a.addr(), "alice", "general").await;
    let (_bob, _) = joined(b.addr(), "bob", "general").await;
    let _ = common::next_event_skipping_pings(&mut alice).await; // bob joined

    // Act
    signal(&b, "-STOP");
    let redis = with_redis(redis, RedisServer::stop).await;
    a.wait_for_line(LOST).await;
    // The outage's length and B's lateness are the fault, not waits.
    sleep(Duration::from_millis(900)).await;
    let _redis = with_redis(redis, RedisServer::restart).await;
    a.wait_until_back().await;
    sleep(Duration::from_millis(200)).await;
    signal(&b, "-CONT");

    // Assert
    let users = listed_eventually(a.addr(), &["alice", "bob"]).await;
    assert_eq!(users, set(&["alice", "bob"]));
    let bob_left = |event: &Value| event["event"] == "left" && event["data"]["nickname"] == "bob";
    let alice_heard = events_until_quiet(&mut alice).await;
    assert!(
        !alice_heard.iter().any(bob_left),
        "no flicker: {alice_heard:?}"
    );
}

/// Sends `signal` (`-STOP`, `-CONT`) to `node`'s process, by its PID.
fn signal(node: &Node, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &node.binary.pid()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} the node");
}
