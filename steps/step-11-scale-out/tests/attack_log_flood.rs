//! Step 08 under attack, its log (issue 10, point 6): refused upgrades sent
//! as fast as a client can, to fill the server's disk with log.
//!
//! Each 403 logged the whole `Origin` header: 2,000 upgrades with a 100 KB
//! Origin wrote 200 MB of log in 1.23 s. Now the origin is cut to 100
//! characters, in the log and in the 403's body, and each kind of refusal is
//! logged at most once a second, with the count of those left out.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_log_flood --
//! --nocapture` to see the measured figures ("Attacks it survives" in
//! `notes/08-production.md`).

mod raw_http;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use raw_http::upgrade;
use step_11_scale_out::{AppState, app, config::Config, public_folder};
use testkit::log_lines;

/// How many refused upgrades each flood sends, as in the issue.
const REQUESTS: usize = 2_000;

/// How many connections send them, side by side (keep-alive, one request
/// after another on each).
const SENDERS: usize = 4;

/// The most bytes one refusal's log line may take, with the origin cut to
/// 100 characters and " (and N more like it)" at its end.
const MOST_BYTES_PER_LINE: usize = 250;

/// Sends [`REQUESTS`] copies of `request` to `addr` over [`SENDERS`]
/// connections; returns each response's status and body length, and how
/// long it took.
async fn flood(addr: SocketAddr, request: Vec<u8>) -> (Vec<(u16, usize)>, Duration) {
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut connection = raw_http::connect(addr).await;
                let mut answers = Vec::new();
                for _ in 0..REQUESTS / SENDERS {
                    let response = connection.exchange(&request).await;
                    answers.push((response.status, response.body.len()));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for sender in senders {
        answers.extend(sender.await.expect("a sender finishes"));
    }
    (answers, started.elapsed())
}

/// The most lines a once-a-second log line may have written in `elapsed`:
/// one at the start, then one per second begun.
fn most_lines_in(elapsed: Duration) -> usize {
    1 + elapsed.as_secs() as usize + 1
}

/// 2,000 upgrades from a page whose `Origin` is 100 KB: every one is
/// refused with 403 and a body under 1 KB, and all of them together write
/// at most one line a second of at most [`MOST_BYTES_PER_LINE`] bytes — a
/// few hundred bytes, not 200 MB.
///
/// The app is served by `axum::serve`, whose hyper reads headers of up to
/// about 400 KB, so the 100 KB Origin really reaches the handler: the limit
/// holds in the app itself, whatever server is in front (step 08's own
/// server would already refuse such headers with 431, see
/// `attack_slow_connections.rs`).
#[tokio::test]
async fn a_flood_of_100_kb_origins_writes_a_few_hundred_bytes_of_log() {
    // Arrange
    let addr = testkit::serve(app(public_folder(), AppState::default())).await;
    let marker = format!("http://flood-{}.example/", addr.port());
    let origin = format!("{marker}{}", "a".repeat(100_000 - marker.len()));
    let request = upgrade(&addr.to_string(), &[("Origin", &origin)]);
    let mut logs = log_lines();

    // Act
    let (answers, elapsed) = flood(addr, request).await;
    let end = format!("the origin flood on {addr} is over");
    tracing::info!("{end}");
    let lines: Vec<String> = logs.lines_until(&end).await;

    // Assert
    let refusals: Vec<&String> = lines.iter().filter(|l| l.contains(&marker)).collect();
    let bytes: usize = refusals.iter().map(|line| line.len()).sum();
    assert!(
        answers.iter().all(|&(status, _)| status == 403),
        "{answers:?}"
    );
    let longest_body = answers.iter().map(|&(_, length)| length).max();
    assert!(
        longest_body < Some(1024),
        "a body of {longest_body:?} bytes"
    );
    assert!(refusals.len() <= most_lines_in(elapsed), "{refusals:#?}");
    assert!(
        bytes <= refusals.len() * MOST_BYTES_PER_LINE,
        "{refusals:#?}"
    );
    println!(
        "measured: {REQUESTS} upgrades with a 100 KB Origin in {elapsed:?}: {} log lines, \
         {bytes} bytes; the first: {:?}",
        refusals.len(),
        refusals.first()
    );
}

/// 2,000 upgrades past `MAX_CONNECTIONS` each get their 503, and the
/// refusal is logged at most once a second, the next line counting the
/// ones left out — and no ERROR line per 503 from `TraceLayer`.
#[tokio::test]
async fn a_flood_past_the_connection_limit_is_logged_once_a_second() {
    // Arrange
    let state = AppState::in_memory(Config {
        max_connections: 1,
        ..Config::default()
    });
    let addr = testkit::serve(app(public_folder(), state)).await;
    let (_the_one_client, _id) = testkit::connect(addr).await;
    let mut logs = log_lines();

    // Act
    let (answers, elapsed) = flood(addr, upgrade(&addr.to_string(), &[])).await;
    let end = format!("the flood past the limit on {addr} is over");
    tracing::info!("{end}");
    let lines = logs.lines_until(&end).await;

    // Assert
    let refusal = "refusing a WebSocket: already 1 connections (MAX_CONNECTIONS)";
    let refusals: Vec<&String> = lines.iter().filter(|l| l.starts_with(refusal)).collect();
    assert!(
        answers.iter().all(|&(status, _)| status == 503),
        "{answers:?}"
    );
    assert!(!refusals.is_empty(), "the first refusal is logged");
    assert!(refusals.len() <= most_lines_in(elapsed), "{refusals:#?}");
    assert!(!lines.iter().any(|l| l == "response failed"), "{lines:#?}");
    println!("measured: {REQUESTS} upgrades past the limit in {elapsed:?}: {refusals:?}",);
}
