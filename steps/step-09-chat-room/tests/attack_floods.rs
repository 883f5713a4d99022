//! Step 09 keeps step 08's defence against floods of frames the text rate
//! limit used not to count. 100,000 one-byte binary frames got 100,000 `error` replies, and
//! 3,000,000 pings got 3,000,000 pongs (5.45 CPU-seconds). Now every frame
//! counts against `MAX_MESSAGES_PER_SECOND`, the client is told once per
//! burst, and a client that keeps sending far past its budget is
//! disconnected with 1008 — so a binary or ping flood costs the server no
//! more than a text flood.
//!
//! The floods go to the real binary, so its CPU time can be read from
//! `/proc/<pid>/stat` around each one. Each flood starts with its client's
//! `join`, in the same burst: the join takes the first token of the budget,
//! and the text flood's messages reach a room, as a chat's would.
//!
//! Run with `cargo test -p step-09-chat-room --test attack_floods`.

mod common;
mod raw_websocket;

use std::time::Duration;

use common::RunningBinary;
use raw_websocket::{
    BINARY, CLOSE, PING, PONG, RawClient, ServerFrame, TEXT, client_frame, join_frame,
};
use step_09_chat_room::rate_limit::FLOOD_TOLERANCE_AT_LEAST;

/// Frames in each flood: enough that answering each one (the bug) costs
/// the server far more CPU than the margin below, and few enough to write
/// in well under a second.
const FRAMES: usize = 100_000;

/// The default `MAX_MESSAGES_PER_SECOND`: the frames each flood may get
/// handled before its budget is spent (the join among them).
const PER_SECOND: usize = 20;

/// How much more CPU time than the text flood a binary or ping flood may
/// cost: five ticks of the kernel's 10 ms accounting, for the noise of a
/// shared machine. Answering 100,000 frames costs far more than that.
const MARGIN: Duration = Duration::from_millis(50);

/// The CPU time (user and system) the process `pid` has used so far, from
/// `/proc/<pid>/stat` (fields 14 and 15, in ticks of 1/100 s: Linux's
/// `USER_HZ`, fixed for `/proc` whatever the kernel's own tick is).
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name, in parentheses, may hold spaces: count from after it.
    let (_, fields) = stat.rsplit_once(')').expect("a stat line");
    let ticks: Vec<u64> = fields
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|field| field.parse().expect("a number of ticks"))
        .collect();
    Duration::from_millis(10 * ticks.iter().sum::<u64>())
}

/// What one flood cost and got back.
struct Flooded {
    /// The server's CPU time from the first frame until it logged the end
    /// of the connection.
    cpu: Duration,
    /// Every frame the server sent back.
    replies: Vec<ServerFrame>,
}

/// Connects to `server`, sends a join as `nickname`, [`FRAMES`] copies of
/// `frame` and then a close frame (so that a server that answers every frame
/// still ends), reads everything it sends back, and waits for it to log the
/// disconnect.
async fn flood_with(server: &mut RunningBinary, nickname: &str, frame: Vec<u8>) -> Flooded {
    let (mut client, id) = RawClient::connect(server.addr).await;
    let mut flood = join_frame(nickname, "general");
    flood.extend(frame.repeat(FRAMES));
    flood.extend(client_frame(CLOSE, &1000u16.to_be_bytes()));
    let before = cpu_time(&server.pid());

    let replies = client.flood(&flood).await;
    server
        .wait_for_line(&format!("user disconnected {id}"))
        .await;

    let cpu = cpu_time(&server.pid()).saturating_sub(before);
    Flooded { cpu, replies }
}

/// How many of `replies` have this opcode.
fn count(replies: &[ServerFrame], opcode: u8) -> usize {
    replies
        .iter()
        .filter(|frame| frame.opcode == opcode)
        .count()
}

/// Asserts the flood ended with 1008 and the flood's reason.
fn assert_closed_as_a_flood(name: &str, replies: &[ServerFrame]) {
    let close = replies
        .iter()
        .find(|frame| frame.opcode == CLOSE)
        .unwrap_or_else(|| panic!("{name}: no close frame in {} replies", replies.len()));
    assert_eq!(close.close_code(), 1008, "{name}: {close:?}");
    assert_eq!(
        close.close_reason(),
        "sent far more than 20 messages per second",
        "{name}"
    );
}

/// The attack: a text flood, a binary flood and a ping flood, 100,000 frames
/// each, after a join. Each is disconnected with 1008 once it is a whole
/// tolerance past its budget; the text flood (every message asking for an
/// `ack`) and the binary flood get their budget's worth of answers (the
/// join's among them) plus one "slow down", the ping flood at most one pong
/// per frame read before the end; and neither costs the server more CPU
/// than the text flood, plus a margin.
#[tokio::test]
async fn binary_and_ping_floods_cost_no_more_than_a_text_flood() {
    // Arrange
    let mut server = RunningBinary::start(&[], None).await;
    // The same `ack` on every frame: the server answers each on it all the
    // same, and the answers are what a text flood costs.
    let text = br#"{"event":"message","data":"flood","ack":2}"#;

    // Act
    let text_flood = flood_with(&mut server, "text", client_frame(TEXT, text)).await;
    let binary_flood = flood_with(&mut server, "binary", client_frame(BINARY, &[0])).await;
    let ping_flood = flood_with(&mut server, "ping", client_frame(PING, b"")).await;

    // Assert: each was cut off as a flood...
    for (name, flooded) in [
        ("text", &text_flood),
        ("binary", &binary_flood),
        ("ping", &ping_flood),
    ] {
        assert_closed_as_a_flood(name, &flooded.replies);
    }
    // ...after its budget's worth of answers, and one "slow down"...
    assert_eq!(count(&text_flood.replies, TEXT), PER_SECOND + 1);
    assert_eq!(count(&binary_flood.replies, TEXT), PER_SECOND + 1);
    let read_at_most = PER_SECOND + FLOOD_TOLERANCE_AT_LEAST as usize + 1;
    let pongs = count(&ping_flood.replies, PONG);
    assert!(pongs <= read_at_most, "{pongs} pongs for {FRAMES} pings");
    // ...and the binary and ping floods cost what the text flood did.
    for (name, flooded) in [("binary", &binary_flood), ("ping", &ping_flood)] {
        assert!(
            flooded.cpu <= text_flood.cpu + MARGIN,
            "{name} flood: {:?} of CPU, text flood {:?}",
            flooded.cpu,
            text_flood.cpu
        );
    }
}
