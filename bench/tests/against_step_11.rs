//! The load generator's two-node mode against two real step 11 nodes,
//! served inside the test on free loopback ports and sharing one
//! `redis-server` that the test starts (testkit's `RedisServer`; without
//! `redis-server` on PATH the tests print one `SKIP:` line and pass, unless
//! `REDIS_REQUIRED=1`).
//!
//! - Split over the two nodes, with the senders on node a, every message
//!   reaches every other client once, the far half's deliveries are counted
//!   and timed apart from the near half's, and Redis's CPU is read.
//! - With every Redis connection of node b, then of node a, killed in the
//!   middle of the window, nothing acknowledged is lost: messages refused
//!   with `"retry": true` are sent again, and each kill is recorded.
//!
//! The nodes run with the limits raised as `compare.sh` raises them.
//!
//! Run: `cargo test -p bench --test against_step_11`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bench::config::LoadConfig;
use bench::result::RunResult;
use common::assert_nothing_lost;
use step_11_scale_out::{
    AppState,
    config::{Config, SharedSettings},
    public_folder, serve,
};
use testkit::{GracefulServer, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest a test's whole run may take: about two seconds of traffic, plus
/// joining and draining.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Longest a node may take to shut down at the end (its grace is 5 s).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);
/// Longest a node may take to reach Redis after it starts.
const READY_LIMIT: Duration = Duration::from_secs(15);

/// Step 11 node `name` on `127.0.0.1:0`, sharing the chat through `redis`,
/// with compare.sh's limits; returned once its `/health` says it can serve.
async fn start_node(redis: &RedisServer, name: &str) -> GracefulServer {
    let config = Config {
        max_messages_per_second: 1_000_000,
        max_bytes_per_second: 1_000_000_000,
        max_published_bytes_per_second: 1_000_000_000,
        queue_capacity: 4096,
        shared: Some(SharedSettings {
            redis_url: redis.url(),
            node_name: name.to_owned(),
            node_liveness: Duration::from_millis(3000),
        }),
        ..Config::default()
    };
    let state = AppState::open(config).expect("the node opens (a good Redis URL)");
    let server =
        GracefulServer::start(move |listener, stop| serve(listener, public_folder(), state, stop))
            .await;
    wait_until_healthy(server.addr()).await;
    server
}

/// Polls `GET /health` (a short pause between looks) until it is `200`,
/// for at most [`READY_LIMIT`].
async fn wait_until_healthy(address: SocketAddr) {
    let deadline = Instant::now() + READY_LIMIT;
    loop {
        let status = tokio::time::timeout(Duration::from_secs(2), health_status(address)).await;
        if let Ok(Ok(200)) = status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {address} did not report healthy within {READY_LIMIT:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status code of one `GET /health`.
async fn health_status(address: SocketAddr) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))
}

/// One two-node loadgen run: rooms protocol with client offsets, as
/// compare.sh drives step 11, near clients on `near`, far ones on `far`.
async fn load(near: SocketAddr, far: SocketAddr, extra: &str) -> RunResult {
    let args = format!(
        "--url ws://{near}/ws --url-far ws://{far}/ws --protocol rooms --client-offsets \
         --warmup 0.2 --duration 2 --drain 10 {extra}"
    );
    let config = LoadConfig::from_args(args.split_whitespace().map(String::from))
        .expect("valid loadgen arguments");
    tokio::time::timeout(RUN_LIMIT, bench::run::run(&config))
        .await
        .unwrap_or_else(|_| panic!("the run did not end within {RUN_LIMIT:?}"))
        .expect("the run succeeds")
}

/// 20 clients in one room, 10 on each node, the 4 senders on node a: each
/// message makes 19 deliveries, 9 near and 10 far, all of them arrive, and
/// each side reports its own; Redis's CPU is read over the window.
#[tokio::test]
async fn clients_split_over_two_nodes_are_counted_per_side() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (start_node(&redis, "a").await, start_node(&redis, "b").await);
    let redis_pid = redis.pid().expect("redis-server runs");

    let result = load(
        a.addr(),
        b.addr(),
        &format!("--clients 20 --senders 4 --rate 100 --redis-pid {redis_pid}"),
    )
    .await;

    assert!(result.messages_sent_measured >= 100, "{result}");
    assert_nothing_lost(&result, 19);
    let two = result.two_nodes.as_ref().expect("two-node figures");
    let sent = result.messages_sent_measured;
    assert_eq!((two.near.clients, two.far.clients), (10, 10), "{result}");
    assert_eq!(two.near.deliveries_expected, sent * 9, "{result}");
    assert_eq!(two.far.deliveries_expected, sent * 10, "{result}");
    assert_eq!(two.far.deliveries_received, sent * 10, "{result}");
    assert!(
        two.near.latency.is_some() && two.far.latency.is_some(),
        "{result}"
    );
    assert!(result.redis.is_some(), "{result}");
    a.shut_down(SHUTDOWN_LIMIT).await;
    b.shut_down(SHUTDOWN_LIMIT).await;
}

/// Node b's Redis connections, then node a's (the senders'), killed a
/// third and two thirds into the window: each kill finds the node's named
/// connections, and nothing is lost (refusals with `"retry": true` are
/// sent again until accepted).
#[tokio::test]
async fn nothing_is_lost_when_nodes_lose_redis_mid_run() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (start_node(&redis, "a").await, start_node(&redis, "b").await);

    let result = load(
        a.addr(),
        b.addr(),
        &format!(
            "--clients 20 --senders 4 --rate 200 --redis-url {} \
             --kill-redis-clients realtime-b-@0.33 --kill-redis-clients realtime-a-@0.66",
            redis.url()
        ),
    )
    .await;

    assert_nothing_lost(&result, 19);
    let kills: Vec<(&str, usize)> = result
        .redis_kills
        .iter()
        .map(|kill| (kill.name_prefix.as_str(), kill.killed.len()))
        .collect();
    assert_eq!(kills, [("realtime-b-", 3), ("realtime-a-", 3)], "{result}");
    a.shut_down(SHUTDOWN_LIMIT).await;
    b.shut_down(SHUTDOWN_LIMIT).await;
}
