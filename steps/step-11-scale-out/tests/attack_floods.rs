//! Step 11 under attack (step 08's attacks, carried over): floods of frames the
//! text rate limit used not to count. 100,000 one-byte binary frames got
//! 100,000 `error` replies, and 3,000,000 pings got 3,000,000 pongs (5.45
//! CPU-seconds). Now every frame counts against `MAX_MESSAGES_PER_SECOND`, the
//! client is told once per burst, and a client that keeps sending far past its
//! budget is disconnected with 1008 — so a binary or ping flood costs the
//! server no more than a text flood.
//!
//! The floods go to the real binary, so its CPU time can be read from
//! `/proc/<pid>/stat` around each one.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_floods`.

mod common;
mod raw_websocket;

use std::time::Duration;

use common::RunningBinary;
use raw_websocket::{BINARY, CLOSE, PING, PONG, RawClient, ServerFrame, TEXT, client_frame};
use step_11_scale_out::rate_limit::FLOOD_TOLERANCE_AT_LEAST;

/// Frames in each flood: enough that answering each one (the bug) costs
/// the server far more CPU than the margin below, and few enough to write
/// in well under a second.
const FRAMES: usize = 100_000;

/// The default `MAX_MESSAGES_PER_SECOND`: the frames each flood may get
/// handled before its budget is spent.
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

/// Connects to `server`, sends [`FRAMES`] copies of `frame` and then a close
/// frame (so that a server that answers every frame still ends), reads
/// everything it sends back, and waits for it to log the disconnect.
async fn flood_with(server: &mut RunningBinary, frame: Vec<u8>) -> Flooded {
    let (mut client, id) = RawClient::connect(server.addr).await;
    let mut flood = frame.repeat(FRAMES);
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
/// each. Each is disconnected with 1008 once it is a whole tolerance past
/// its budget; the binary flood gets at most its budget's worth of `error`
/// replies plus one "slow down", the ping flood at most one pong per frame
/// read before the end; and neither costs the server more CPU than the text
/// flood, plus a margin. (The floods come from connections that have not
/// joined, so each text frame within the budget is answered, with "join a
/// room first", as each binary frame is: the same count of replies.)
#[tokio::test]
async fn binary_and_ping_floods_cost_no_more_than_a_text_flood() {
    // Arrange
    let mut server = RunningBinary::start(&[], None).await;
    let text = br#"{"event":"message","data":"flood"}"#;

    // Act
    let text_flood = flood_with(&mut server, client_frame(TEXT, text)).await;
    let binary_flood = flood_with(&mut server, client_frame(BINARY, &[0])).await;
    let ping_flood = flood_with(&mut server, client_frame(PING, b"")).await;

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
