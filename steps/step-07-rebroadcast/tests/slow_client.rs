//! Step 07 checkpoint: a client that stops reading cannot slow down, block or
//! grow the memory of the server for everyone else.
//!
//! One test only, in its own file: it measures the memory of this test
//! process, which other tests running beside it would disturb.
//!
//! Run with `cargo test -p step-07-rebroadcast --test slow_client`.

mod common;

use std::{net::SocketAddr, time::Duration};

use common::{chat_message, spawn_app};
use futures::{SinkExt, StreamExt, future::join};
use serde_json::json;
use step_07_rebroadcast::hub::HUB_CAPACITY;
use testkit::{Client, DEADLINE, connect, log_lines, next_event, read_greeting};
use tokio::{net::TcpSocket, time::timeout};
use tokio_tungstenite::{MaybeTlsStream, client_async, tungstenite::Message};

/// How many messages the active client sends (and must get back).
const MESSAGES: usize = 2_000;

/// The size of each message's text. 2,000 of them are 16 MB: far more than
/// the kernel will buffer for a client that does not read (a few MB), so the
/// server really has to decide what to do with the rest.
const TEXT_BYTES: usize = 8 * 1024;

/// The receive buffer the stalled client asks its kernel for. A fixed size
/// also turns off Linux's automatic growing of the buffer, so how much the
/// kernel holds for the stalled client does not depend on the machine.
const STALLED_RECEIVE_BUFFER: u32 = 64 * 1024;

/// A generous bound for all 2,000 messages to make the round trip: it takes
/// well under a second on a laptop; the margin is for a busy CI machine. It
/// is a deadline, not a speed test.
const BULK_DEADLINE: Duration = Duration::from_secs(60);

/// How much this whole process (server and test clients) may grow while one
/// client stalls. With the hub's 256-message ring it grows by about 4 MiB
/// (the ring holds 2 MiB of these messages); a hub big enough to keep every
/// message for the stalled client grew it by about 19 MiB when we tried.
const MEMORY_GROWTH_LIMIT_KIB: u64 = 8 * 1024;

/// The text of message number `index`: its number, then padding.
fn text_of(index: usize) -> String {
    format!("{index:04} {}", "x".repeat(TEXT_BYTES))
}

/// The number at the start of a message's text.
fn index_of(text: &str) -> usize {
    text.get(..4)
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("a test message starts with its number: {text:.20}"))
}

/// How much memory this process has in RAM right now (`VmRSS`), in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux has /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("/proc/self/status has a VmRSS line in kB")
}

/// Connects a client with a small, fixed receive buffer and reads its
/// greeting. From here on the test never reads from it: its kernel buffer
/// fills, then the server's send buffer for it, and the server's task for it
/// waits.
async fn connect_stalling_client(addr: SocketAddr) -> (Client, String) {
    let socket = TcpSocket::new_v4().expect("make a TCP socket");
    socket
        .set_recv_buffer_size(STALLED_RECEIVE_BUFFER)
        .expect("set the receive buffer");
    let stream = timeout(DEADLINE, socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("the server accepts TCP connections");
    let (mut client, _response) = timeout(
        DEADLINE,
        client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream)),
    )
    .await
    .expect("the WebSocket handshake finishes in time")
    .expect("the server accepts the WebSocket upgrade");
    let id = read_greeting(&mut client).await;
    (client, id)
}

/// While one client reads nothing at all, another client sends 2,000
/// messages of 8 KiB and gets every one of them back, in order, within a
/// generous deadline; the process's memory stays within a few MB of where it
/// was. When the stalled client finally reads, it gets an `error` saying how
/// many messages it missed, then exactly the `HUB_CAPACITY` newest ones: the
/// server kept no more than that for it.
#[tokio::test]
async fn a_stalled_client_does_not_hold_up_or_bloat_the_others() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();
    let (mut stalled, stalled_id) = connect_stalling_client(addr).await;
    let (active, active_id) = connect(addr).await;
    let (mut writer, mut reader) = active.split();
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
            let event = next_event(&mut reader).await;
            let message =
                chat_message(&event).unwrap_or_else(|| panic!("expected a message: {event:.200}"));
            assert_eq!(message.from, active_id);
            assert_eq!(
                index_of(&message.text),
                expected,
                "messages arrive in order"
            );
        }
    };
    let finished = timeout(BULK_DEADLINE, join(sending, receiving)).await;

    // Assert: the active client got everything, promptly...
    assert!(
        finished.is_ok(),
        "{MESSAGES} messages did not reach the active client within {BULK_DEADLINE:?}"
    );
    // ...and the server did not keep a growing pile for the stalled client.
    let growth = resident_kib().saturating_sub(memory_before);
    eprintln!("memory grew by {growth} KiB while a client stalled");
    assert!(
        growth < MEMORY_GROWTH_LIMIT_KIB,
        "memory grew by {growth} KiB (limit {MEMORY_GROWTH_LIMIT_KIB} KiB) while a client stalled"
    );

    // Act: the stalled client wakes up and reads up to the last message.
    let mut received = Vec::new();
    let mut missed = Vec::new();
    while received.last() != Some(&(MESSAGES - 1)) {
        let event = next_event(&mut stalled).await;
        if let Some(message) = chat_message(&event) {
            received.push(index_of(&message.text));
        } else {
            assert_eq!(event["event"], "error", "{event}");
            let text = event["data"]["message"].as_str().unwrap_or_default();
            let count = text
                .strip_prefix("you fell behind and missed ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|number| number.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("the error says how many were missed: {text}"));
            missed.push((received.len(), count));
        }
    }

    // Assert: it was told once, how many it missed, and the numbers add up.
    eprintln!(
        "the stalled client got {} messages and was told it missed {missed:?} (at, count)",
        received.len()
    );
    let [(gap_at, missed_count)] = missed[..] else {
        panic!("expected exactly one 'you fell behind' error, got {missed:?}");
    };
    assert!(missed_count > 0);
    assert_eq!(
        received.len() + missed_count,
        MESSAGES,
        "every message is received or counted as missed"
    );
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "still in order"
    );
    assert_eq!(
        received.len() - gap_at,
        HUB_CAPACITY,
        "after the gap come exactly the messages the hub kept"
    );
    logs.wait_for(&format!(
        "{stalled_id} fell behind and missed {missed_count} messages"
    ))
    .await;
}
