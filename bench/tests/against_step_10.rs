//! The load generator and the recovery measurement against the real step 10
//! server, served inside the test on a free loopback port with its database
//! in memory (`AppState::in_memory`): messages with client offsets, flat out,
//! are each committed once, acknowledged and delivered to everyone else;
//! history a join brings (from an earlier run) is never counted as a
//! delivery; a client that missed messages gets every one back, and a
//! server that would skip some stops the measurement with the reason.
//!
//! The server runs with the limits raised as `compare.sh` raises them (the
//! benchmark measures fan-out and commits, not step 10's protective limits).
//!
//! Run: `cargo test -p bench --test against_step_10`.

mod common;

use common::assert_nothing_lost;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use bench::config::LoadConfig;
use bench::recovery::{RecoveryConfig, RecoveryResult};
use bench::result::RunResult;
use step_10_delivery::{
    AppState,
    config::{Config, DeliveryConfig},
    public_folder, serve,
    store::Query,
};
use testkit::GracefulServer;

/// Longest a test's whole run may take: about a second of traffic, plus
/// joining and draining.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Longest the server may take to shut down at the end (its grace is 5 s).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);
/// Far more messages per room than a test sends: nothing is trimmed away
/// before it is counted.
const KEEP_EVERYTHING: usize = 10_000_000;

/// Step 10 on `127.0.0.1:0` with compare.sh's limits and a database in
/// memory, replaying at most `replay_cap` missed messages; and its state,
/// to look into the database.
async fn spawn_step_10(replay_cap: usize) -> (GracefulServer, AppState) {
    let config = Config {
        max_messages_per_second: 1_000_000,
        max_bytes_per_second: 1_000_000_000,
        max_published_bytes_per_second: 1_000_000_000,
        queue_capacity: 4096,
        delivery: DeliveryConfig {
            retention_per_room: KEEP_EVERYTHING,
            replay_cap,
            ..DeliveryConfig::default()
        },
        ..Config::default()
    };
    let state = AppState::in_memory(config);
    let served = state.clone();
    let server =
        GracefulServer::start(move |listener, stop| serve(listener, public_folder(), served, stop))
            .await;
    (server, state)
}

/// One loadgen run in the rooms protocol against `address`.
async fn load(address: SocketAddr, extra: &str) -> Result<RunResult, String> {
    let args = format!(
        "--url ws://{address}/ws --protocol rooms --warmup 0.2 --duration 1 --drain 5 {extra}"
    );
    let config = LoadConfig::from_args(args.split_whitespace().map(String::from))
        .map_err(|error| error.to_string())?;
    tokio::time::timeout(RUN_LIMIT, bench::run::run(&config))
        .await
        .map_err(|_| format!("the run did not end within {RUN_LIMIT:?}"))?
}

/// One recovery measurement against `address`.
async fn recover(address: SocketAddr, extra: &str) -> Result<RecoveryResult, String> {
    let args = format!("--url ws://{address}/ws {extra}");
    let config = RecoveryConfig::from_args(args.split_whitespace().map(String::from))
        .map_err(|error| error.to_string())?;
    tokio::time::timeout(RUN_LIMIT, bench::recovery::measure(&config))
        .await
        .map_err(|_| format!("the measurement did not end within {RUN_LIMIT:?}"))?
}

/// The texts of every message stored in `room`, oldest first.
async fn stored_texts(state: &AppState, room: &str) -> Vec<String> {
    let found = state
        .store
        .find(Query::RoomAfter {
            room: room.to_owned(),
            after: 0,
            cap: KEEP_EVERYTHING,
        })
        .await
        .expect("the database answers");
    assert_eq!(found.skipped, 0, "the cap holds every message");
    found
        .messages
        .into_iter()
        .map(|stored| stored.text)
        .collect()
}

/// The write-heavy shape in small: everyone in one room sends flat out with
/// client offsets. Every message is committed exactly once (one row each,
/// no two alike), acknowledged, and delivered to the 19 others; the acks of
/// the window are counted as committed messages per second.
#[tokio::test]
async fn write_heavy_flat_out_run_commits_every_message_once() {
    let (server, state) = spawn_step_10(1000).await;

    let result = load(
        server.addr(),
        "--clients 20 --senders 20 --flat-out --in-flight 4 --client-offsets",
    )
    .await
    .expect("the run succeeds");
    let texts = stored_texts(&state, "lg-0").await;

    assert!(result.messages_sent_measured > 20 * 4, "{result}");
    assert_nothing_lost(&result, 19);
    assert!(result.client_offsets, "{result}");
    assert_eq!(texts.len() as u64, result.messages_sent_total, "{result}");
    let distinct: HashSet<&String> = texts.iter().collect();
    assert_eq!(distinct.len(), texts.len(), "a message was stored twice");
    let acks = result.acks.expect("a run with acks reports them");
    assert!(
        acks.in_window > 0 && acks.in_window <= acks.received,
        "{result}"
    );
    assert!(
        (acks.per_second - acks.in_window as f64 / result.measured_seconds).abs() < 1e-6,
        "{result}"
    );
    server.shut_down(SHUTDOWN_LIMIT).await;
}

/// A second run into the same rooms: every join brings the first run's
/// latest messages as history. They are counted as history, never as
/// deliveries of this run, so its figures are exact and nothing is lost.
#[tokio::test]
async fn history_of_an_earlier_run_is_not_counted_as_deliveries() {
    let (server, _state) = spawn_step_10(1000).await;
    let paced = "--clients 40 --rooms 4 --senders 8 --rate 100 --client-offsets";
    let first = load(server.addr(), paced).await.expect("the first run");

    let second = load(server.addr(), paced).await.expect("the second run");

    assert_eq!(first.history_received, 0, "{first}");
    assert!(second.history_received > 0, "{second}");
    assert!(second.messages_sent_measured >= 80, "{second}");
    assert_nothing_lost(&second, 9);
    server.shut_down(SHUTDOWN_LIMIT).await;
}

/// A client that missed 300 messages, twice, gets all of them back after
/// its join with its session and last id, takes its session back, and the
/// times are measured from the join.
#[tokio::test]
async fn recovery_of_missed_messages_is_measured() {
    let (server, _state) = spawn_step_10(1000).await;

    let result = recover(server.addr(), "--missed 300 --repeats 2")
        .await
        .expect("the measurement succeeds");

    assert_eq!(result.repeats.len(), 2, "{result}");
    for repeat in &result.repeats {
        assert_eq!(repeat.replayed, 300, "{result}");
        assert!(repeat.recovered, "{result}");
        assert!(
            0.0 < repeat.answer_ms && repeat.answer_ms <= repeat.replay_ms,
            "{result}"
        );
    }
    assert!(result.replay_ms_median <= result.replay_ms_max, "{result}");
    server.shut_down(SHUTDOWN_LIMIT).await;
}

/// A server whose REPLAY_CAP is below what the client missed sends a
/// `skipped` notice: the measurement stops and says which setting to raise.
#[tokio::test]
async fn recovery_past_the_replay_cap_stops_with_the_reason() {
    let (server, _state) = spawn_step_10(100).await;

    let error = recover(server.addr(), "--missed 300 --repeats 1")
        .await
        .expect_err("the measurement stops");

    assert!(error.contains("REPLAY_CAP"), "{error}");
    server.shut_down(SHUTDOWN_LIMIT).await;
}
