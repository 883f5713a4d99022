//! Step 11 checkpoint: a client that falls too far behind is disconnected
//! with a clear reason (close code 1008), and meanwhile it cannot slow down,
//! block or grow the memory of the server for everyone else.
//!
//! One test only, in its own file: it measures the memory of this test
//! process, which other tests running beside it would disturb.
//!
//! Run with `cargo test -p step-11-scale-out --test slow_client`.

mod common;

use std::{path::Path, time::Duration};

use common::{
    TempDatabase, chat_message, connect_as, connect_stalling_client, index_of, is_notice,
    next_message_skipping_notices, spawn_app_with, text_of,
};
use futures::{SinkExt, StreamExt, future::join};
use serde_json::{Value, json};
use step_11_scale_out::{AppState, config::Config, store::Store};
use testkit::{DEADLINE, log_lines, next_frame};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

/// How many messages the active client sends (and must get back).
const MESSAGES: usize = 2_000;

/// A generous bound for all 2,000 messages to make the round trip: it takes
/// well under a second on a laptop; the margin is for a busy CI machine. It
/// is a deadline, not a speed test.
const BULK_DEADLINE: Duration = Duration::from_secs(60);

/// How much this whole process (server and test clients) may grow while one
/// client stalls. With the hub's 256-message ring it grows by about 4 MiB
/// (the ring holds 2 MiB of these messages); a hub big enough to keep every
/// message for the stalled client grew it by about 19 MiB when we tried.
const MEMORY_GROWTH_LIMIT_KIB: u64 = 8 * 1024;

/// How much memory this process has in RAM right now (`VmRSS`), in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux has /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("/proc/self/status has a VmRSS line in kB")
}

/// The limits for these tests: the default queue of 256 messages, no rate
/// or byte limits to speak of (one client sends 2,000 messages of 8 KiB at
/// once), and a write timeout and heartbeat far longer than the test, so
/// that the only thing that can end the slow client is falling behind.
fn config() -> Config {
    Config {
        max_messages_per_second: 1_000_000,
        max_bytes_per_second: 1_000_000_000,
        max_published_bytes_per_second: 1_000_000_000,
        heartbeat_interval: Duration::from_secs(600),
        heartbeat_timeout: Duration::from_secs(600),
        ..Config::default()
    }
}

/// While one member reads nothing at all, another member writes 2,000
/// messages of 8 KiB and a third receives every one of them, in order,
/// within a generous deadline; the process's memory stays within a few MB
/// of where it was. When the slow member reads again, it gets the messages
/// that were already on their way, then a close frame with code 1008 "too
/// slow: fell N messages behind", and the server logs why it disconnected
/// it.
///
/// (Step 08's active client wrote and read back its own messages; step 09
/// sends no message back to its writer, so one member writes and another
/// reads.)
#[tokio::test]
async fn a_client_that_falls_behind_is_disconnected_and_does_not_hold_up_the_others() {
    // Arrange: step 10 stores every message, and a database in memory
    // would hold all 16 MB of them in this process; a file of the test's
    // own keeps only SQLite's page cache (2 MB at most) in memory.
    let database = TempDatabase::new("slow-client");
    let store = Store::open(Path::new(database.path()), 10_000).expect("a fresh database file");
    let state = AppState::new(config(), store);
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (mut stalled, stalled_id) = connect_stalling_client(addr, "stalled").await;
    let (mut writer, _) = connect_as(addr, "writer").await;
    let (mut reader, _) = connect_as(addr, "reader").await;
    let memory_before = resident_kib();

    // Act: send and receive at the same time, as a browser tab does.
    let sending = async {
        for index in 0..MESSAGES {
            let frame = json!({ "event": "message", "data": text_of(index) }).to_string();
            writer
                .send(Message::text(frame))
                .await
                .expect("the active client can send");
        }
    };
    let receiving = async {
        for expected in 0..MESSAGES {
            let message = next_message_skipping_notices(&mut reader).await;
            assert_eq!(message.from, "writer");
            assert_eq!(
                index_of(&message.text),
                expected,
                "messages arrive in order"
            );
        }
    };
    let finished = timeout(BULK_DEADLINE, join(sending, receiving)).await;

    // Assert: the reader got everything, promptly...
    assert!(
        finished.is_ok(),
        "{MESSAGES} messages did not reach the reader within {BULK_DEADLINE:?}"
    );
    // ...and the server did not keep a growing pile for the stalled client.
    let growth = resident_kib().saturating_sub(memory_before);
    eprintln!("memory grew by {growth} KiB while a client stalled");
    assert!(
        growth < MEMORY_GROWTH_LIMIT_KIB,
        "memory grew by {growth} KiB (limit {MEMORY_GROWTH_LIMIT_KIB} KiB) while a client stalled"
    );

    // Act: the stalled client wakes up and reads until the server closes.
    let mut received = Vec::new();
    let close = loop {
        match next_frame(&mut stalled).await {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).expect("the server sends JSON");
                // The others joined after it: it hears that first.
                if is_notice(&event) {
                    continue;
                }
                let message = chat_message(&event)
                    .unwrap_or_else(|| panic!("only chat messages before the close: {event:.200}"));
                received.push(index_of(&message.text));
            }
            Message::Close(close) => break close.expect("the close frame gives a reason"),
            other => panic!("unexpected frame {other:?}"),
        }
    };

    // Assert: what it got was in order; then it was told why it is cut off.
    eprintln!(
        "the slow client got {} messages, then {close:?}",
        received.len()
    );
    assert!(received.len() < MESSAGES, "it cannot have kept up");
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "in order"
    );
    assert_eq!(close.code, CloseCode::Policy, "close code 1008");
    let missed: u64 = close
        .reason
        .strip_prefix("too slow: fell ")
        .and_then(|rest| rest.strip_suffix(" messages behind"))
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("a reason like 'too slow: fell N messages behind': {close:?}"));
    assert!(missed > 0);
    // Reading on sends the client's closing reply; then the server hangs up.
    let end = timeout(DEADLINE, stalled.next())
        .await
        .expect("the server ends the connection in time");
    assert!(end.is_none(), "nothing after the close frame: {end:?}");
    logs.wait_for(&format!("disconnecting {stalled_id}: {}", close.reason))
        .await;
    logs.wait_for(&format!("user disconnected {stalled_id}"))
        .await;
}
