//! The load generator's rooms protocol (`--protocol rooms`) against the real
//! step 09 server, served inside the test on a free loopback port: every
//! client joins its room, senders keep their loop going on acknowledgements,
//! receivers count every delivery, and nothing is lost — the same check
//! `compare.sh` relies on when it measures step 09.
//!
//! The server runs with the limits raised as `compare.sh` raises them (the
//! benchmark measures fan-out, not step 09's protective limits).
//!
//! Run: `cargo test -p bench --test against_step_09`.

mod common;

use common::assert_nothing_lost;
use std::net::SocketAddr;
use std::time::Duration;

use bench::config::LoadConfig;
use bench::result::RunResult;
use step_09_chat_room::{AppState, config::Config, public_folder, serve};
use testkit::{GracefulServer, connect, next_event, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// Longest a test's whole run may take: about a second of traffic, plus
/// joining and draining.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Longest the server may take to shut down at the end (its grace is 5 s).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Step 09 on `127.0.0.1:0`, with compare.sh's limits.
async fn spawn_step_09() -> GracefulServer {
    let config = Config {
        max_messages_per_second: 1_000_000,
        max_bytes_per_second: 1_000_000_000,
        max_published_bytes_per_second: 1_000_000_000,
        queue_capacity: 4096,
        ..Config::default()
    };
    let state = AppState::new(config);
    GracefulServer::start(move |listener, stop| serve(listener, public_folder(), state, stop)).await
}

/// One loadgen run in the rooms protocol against `address`: the outcome, or
/// the run's own error.
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

/// At a fixed rate over 4 rooms of 10, with everyone typing, each message
/// reaches the 9 others of its room and no other room; none is lost, and the
/// typing notices travel without being counted as deliveries.
#[tokio::test]
async fn rooms_paced_run_with_typing_loses_nothing() {
    let server = spawn_step_09().await;

    let result = load(
        server.addr(),
        "--clients 40 --rooms 4 --senders 8 --rate 100 --typing-per-second 2",
    )
    .await
    .expect("the run succeeds");

    assert!(result.messages_sent_measured >= 80, "{result}");
    assert_nothing_lost(&result, 9);
    assert_eq!(result.deliveries_per_message, Some(9.0));
    let rooms = result.rooms.expect("a rooms run reports its rooms");
    assert_eq!(rooms.rooms, 4);
    assert!(rooms.typing_sent > 0, "{result}");
    assert!(rooms.typing_notices_received > 0, "{result}");
    server.shut_down(SHUTDOWN_LIMIT).await;
}

/// Flat out in one room, the senders' loop runs on acknowledgements (step 09
/// sends no echo): far more than the first 4 × 3 messages go, and every one
/// reaches the 19 others.
#[tokio::test]
async fn rooms_flat_out_run_keeps_the_pipeline_full_on_acks() {
    let server = spawn_step_09().await;

    let result = load(
        server.addr(),
        "--clients 20 --senders 4 --flat-out --in-flight 3",
    )
    .await
    .expect("the run succeeds");

    assert!(result.messages_sent_measured > 4 * 3, "{result}");
    assert_nothing_lost(&result, 19);
    server.shut_down(SHUTDOWN_LIMIT).await;
}

/// A nickname the generator needs that someone else already holds stops the
/// run before any traffic, with the server's refusal in the error.
#[tokio::test]
async fn a_refused_join_stops_the_run_with_the_reason() {
    let server = spawn_step_09().await;
    let (mut squatter, _id) = connect(server.addr()).await;
    let join = r#"{"event":"join","data":{"nickname":"LG0","room":"general"},"ack":1}"#;
    send_frame(&mut squatter, Message::Text(join.into())).await;
    let answer = next_event(&mut squatter).await;
    assert_eq!(answer["data"]["nickname"], "LG0", "{answer}");

    let error = load(server.addr(), "--clients 3 --senders 1 --rate 10")
        .await
        .expect_err("the run stops");

    assert!(error.contains("could not join"), "{error}");
    assert!(error.contains("lg0"), "{error}");
    drop(squatter);
    server.shut_down(SHUTDOWN_LIMIT).await;
}
