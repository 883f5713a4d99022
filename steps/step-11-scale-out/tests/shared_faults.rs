//! Step 11's attack on the shared chat, mid-traffic: a sender on node A
//! sends 200 messages (with `client_offset`s) while Redis fails under it,
//! and sends again whatever is refused with `"retry": true` or left
//! unanswered, until everything is acknowledged; a receiver on node B
//! reconnects with `last_id` whenever its connection drops. Then every
//! acknowledged id must have reached the receiver exactly once, in id order.
//!
//! The faults: `CLIENT KILL` of one node's Redis connections (the sender's
//! node, then the receiver's), twice during the traffic, after which the
//! node must be back with its three named connections; a restart of Redis
//! itself, and a crash (SIGKILL) of it (append-only file on, fsync on every
//! write, so what it acknowledged survives); and SIGKILL of the sender's
//! own node, after which the sender goes on from the other node, sending
//! again with the same `client_offset`s what had no answer.
//!
//! Each test starts its own `redis-server` (skipped, with one `SKIP:` line,
//! when there is none, unless `REDIS_REQUIRED=1`) and its nodes as the
//! step's binary. Run with `cargo test -p step-11-scale-out --test
//! shared_faults`.

mod common;

use std::time::Duration;

use common::nodes::{
    Fallback, Node, Receiver, assert_each_acked_arrived_once, joined, send_until_all_acked,
    send_until_all_acked_or_move, wait_for_progress,
};
use serde_json::json;
use testkit::{DEADLINE, RedisOptions, RedisServer};
use tokio::{
    sync::watch,
    task::spawn_blocking,
    time::{Instant, sleep, timeout},
};

/// How many messages the sender sends.
const COUNT: usize = 200;

/// How long the whole traffic may take, faults included.
const TRAFFIC_LIMIT: Duration = Duration::from_secs(60);

/// At most one new message per 5 ms: the 200 take a second at least, so
/// each fault lands in the middle of the traffic, not after it.
const PACE: Duration = Duration::from_millis(5);

/// For the sender whose node is killed: fast enough that its whole window
/// is in flight when the node dies (some of it stored, none of it
/// answered), so the retries on the other node meet offsets already stored.
const FULL_WINDOW_PACE: Duration = Duration::from_micros(100);

/// Which node's Redis connections a test cuts.
#[derive(Clone, Copy, Debug)]
enum Cut {
    SendersNode,
    ReceiversNode,
}

/// Waits (polling Redis's client list, a short pause between looks, within
/// [`DEADLINE`]) until node `name` has its three named connections.
async fn wait_for_named_connections(redis: &RedisServer, name: &str) {
    let wanted: Vec<String> = ["commands", "reader", "pubsub"]
        .iter()
        .map(|role| format!("realtime-{name}-{role}"))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let names = redis.client_names();
        if wanted.iter().all(|one| names.contains(one)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {name}'s Redis connections are {names:?}, not {wanted:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

/// The `CLIENT KILL` attack: node `a`'s sender and node `b`'s receiver,
/// and the connections of one of them killed at 50 and at 120 messages
/// acknowledged.
async fn cut_mid_traffic(cut: Cut) {
    // Arrange
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start_connected(&redis.url(), "a").await;
    let b = Node::start_connected(&redis.url(), "b").await;
    wait_for_named_connections(&redis, "a").await;
    wait_for_named_connections(&redis, "b").await;
    let receiver = Receiver::join(b.addr(), "receiver", "general").await;
    let (sender, _) = joined(a.addr(), "sender", "general").await;
    let (progress, mut acked) = watch::channel(0);
    let receiving = tokio::spawn(receiver.collect(COUNT, TRAFFIC_LIMIT));
    let sending = tokio::spawn(send_until_all_acked(
        sender,
        "cut",
        COUNT,
        progress,
        (PACE, TRAFFIC_LIMIT),
    ));
    let (victim, victim_name) = match cut {
        Cut::SendersNode => (a.client_prefix(), "a"),
        Cut::ReceiversNode => (b.client_prefix(), "b"),
    };

    // Act
    let mut killed = Vec::new();
    for at in [50, 120] {
        wait_for_progress(&mut acked, at).await;
        // The node is back from the first cut before the second.
        wait_for_named_connections(&redis, victim_name).await;
        killed.push((*acked.borrow(), redis.kill_clients_named(&victim)));
    }
    let (_sender, sent) = timeout(TRAFFIC_LIMIT, sending)
        .await
        .expect("the sender finishes")
        .expect("the sender ran");
    let mut receiver = timeout(TRAFFIC_LIMIT, receiving)
        .await
        .expect("the receiver finishes")
        .expect("the receiver ran");

    // Assert
    assert!(
        killed.iter().all(|(at, count)| *count >= 1 && *at < COUNT),
        "{cut:?}: (acknowledged, connections killed) {killed:?}"
    );
    assert_each_acked_arrived_once("cut", &sent, &receiver.messages);
    receiver.assert_no_more_messages().await;
    wait_for_named_connections(&redis, "a").await;
    wait_for_named_connections(&redis, "b").await;
    eprintln!(
        "{cut:?}: (acknowledged, connections killed) {killed:?}; {} refused for a retry, {} unanswered, {} reconnections",
        sent.refused_for_retry, sent.resent_unanswered, receiver.reconnects
    );
}

/// `CLIENT KILL` of the sender's node's Redis connections, twice,
/// mid-traffic: nothing acknowledged is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_senders_nodes_redis_connections_loses_nothing() {
    cut_mid_traffic(Cut::SendersNode).await;
}

/// `CLIENT KILL` of the receiver's node's Redis connections (its pub/sub
/// and stream reader among them), twice, mid-traffic: the receiver still
/// gets everything, once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_receivers_nodes_redis_connections_loses_nothing() {
    cut_mid_traffic(Cut::ReceiversNode).await;
}

/// How Redis goes away mid-traffic.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// SIGTERM, as an operator restarts it.
    Restart,
    /// SIGKILL, as a crash: no shutdown of its own.
    Crash,
}

/// Node `a`'s sender and node `b`'s receiver while Redis (AOF on, fsync on
/// every write) goes away at 60 messages acknowledged and comes back.
async fn redis_outage_mid_traffic(outage: Outage) {
    // Arrange
    let Some(redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let mut a = Node::start_connected(&redis.url(), "a").await;
    let mut b = Node::start_connected(&redis.url(), "b").await;
    let receiver = Receiver::join(b.addr(), "receiver", "general").await;
    let (sender, _) = joined(a.addr(), "sender", "general").await;
    let (progress, mut acked) = watch::channel(0);
    let receiving = tokio::spawn(receiver.collect(COUNT, TRAFFIC_LIMIT));
    let sending = tokio::spawn(send_until_all_acked(
        sender,
        "outage",
        COUNT,
        progress,
        (PACE, TRAFFIC_LIMIT),
    ));

    // Act
    wait_for_progress(&mut acked, 60).await;
    let down_at = *acked.borrow();
    let mut redis = spawn_blocking(move || {
        let mut redis = redis;
        match outage {
            Outage::Restart => redis.restart(),
            Outage::Crash => {
                redis.kill();
                redis.restart();
            }
        }
        redis
    })
    .await
    .expect("Redis started again");
    let (_sender, sent) = timeout(TRAFFIC_LIMIT, sending)
        .await
        .expect("the sender finishes")
        .expect("the sender ran");
    let mut receiver = timeout(TRAFFIC_LIMIT, receiving)
        .await
        .expect("the receiver finishes")
        .expect("the receiver ran");

    // Assert
    assert!(down_at < COUNT, "{outage:?} mid-traffic, at {down_at}");
    assert_each_acked_arrived_once("outage", &sent, &receiver.messages);
    receiver.assert_no_more_messages().await;
    for node in [&mut a, &mut b] {
        node.wait_for_line(common::nodes::LOST).await;
        node.wait_until_back().await;
    }
    assert!(redis.is_running());
    eprintln!(
        "{outage:?} at {down_at}: {} refused for a retry, {} unanswered, {} reconnections",
        sent.refused_for_retry, sent.resent_unanswered, receiver.reconnects
    );
}

/// Redis (AOF on) is restarted while 200 messages are being sent: every
/// message acknowledged — before, during or after — reaches the receiver on
/// the other node once, in id order, and ids go on increasing after the
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_traffic_loses_no_acknowledged_message() {
    redis_outage_mid_traffic(Outage::Restart).await;
}

/// Redis (AOF on, fsync on every write) is killed with SIGKILL mid-traffic
/// and started again: what it acknowledged was on disk, so the same holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_crash_mid_traffic_loses_no_acknowledged_message() {
    redis_outage_mid_traffic(Outage::Crash).await;
}

/// The sender's own node is killed with SIGKILL at 80 messages
/// acknowledged: the sender joins node `b` (same nickname, its session) and
/// sends again, with the same `client_offset`s, whatever had no answer —
/// some of it stored by `a` before it died. The receiver on `b` gets every
/// message once, in id order: a retry on another node is never a second copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_whose_node_is_killed_retries_on_the_other_without_duplicates() {
    // Arrange
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut a = Node::start_connected(&redis.url(), "a").await;
    let b = Node::start_connected(&redis.url(), "b").await;
    let receiver = Receiver::join(b.addr(), "receiver", "general").await;
    let (sender, answer) = joined(a.addr(), "sender", "general").await;
    let fallback = Fallback {
        addr: b.addr(),
        join: json!({ "nickname": "sender", "room": "general", "session": answer["session"] }),
    };
    let (progress, mut acked) = watch::channel(0);
    let receiving = tokio::spawn(receiver.collect(COUNT, TRAFFIC_LIMIT));
    let sending = tokio::spawn(send_until_all_acked_or_move(
        sender,
        "moved",
        COUNT,
        progress,
        (FULL_WINDOW_PACE, TRAFFIC_LIMIT),
        Some(fallback),
    ));

    // Act
    wait_for_progress(&mut acked, 80).await;
    let killed_at = *acked.borrow();
    a.kill_9().await;
    let (_sender, sent) = timeout(TRAFFIC_LIMIT, sending)
        .await
        .expect("the sender finishes")
        .expect("the sender ran");
    let mut receiver = timeout(TRAFFIC_LIMIT, receiving)
        .await
        .expect("the receiver finishes")
        .expect("the receiver ran");

    // Assert
    assert!(killed_at < COUNT, "killed mid-traffic, at {killed_at}");
    assert_eq!(sent.moves, 1, "the sender moved to b once");
    assert_each_acked_arrived_once("moved", &sent, &receiver.messages);
    receiver.assert_no_more_messages().await;
    eprintln!(
        "killed a at {killed_at}: {} sent again on b, {} refused for a retry",
        sent.resent_unanswered, sent.refused_for_retry
    );
}
