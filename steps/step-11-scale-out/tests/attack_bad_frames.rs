//! Step 11 under attack (step 08's attacks, carried over): frames that break
//! the WebSocket rules themselves (RFC 6455), not just the chat's JSON. They
//! used to end the TCP connection with no close frame, logged as "connection
//! ended without a close frame". Now the client gets a close frame with the
//! code the RFC gives — 1007 for text that is not UTF-8, 1002 for every other
//! violation — and the log names what it did.
//!
//! The frames are written byte by byte after a real handshake
//! (`tests/raw_websocket`), since no WebSocket library will send them.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_bad_frames`.

mod common;
mod raw_websocket;

use common::spawn_app;
use raw_websocket::{BINARY, CLOSE, FIN, PING, RawClient, TEXT, client_frame, frame};
use testkit::log_lines;

/// RFC 6455 close codes.
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_DATA: u16 = 1007;

/// One frame that breaks the rules: what it is, its bytes, the close code
/// the client must get, and the words the log must give for it.
struct Violation {
    name: &'static str,
    bytes: Vec<u8>,
    code: u16,
    logged: &'static str,
}

/// One [`Violation`].
fn case(name: &'static str, bytes: Vec<u8>, code: u16, logged: &'static str) -> Violation {
    Violation {
        name,
        bytes,
        code,
        logged,
    }
}

/// Every kind of violation the attack tried, and more of the same family:
/// first in data frames and frame headers...
fn violations() -> Vec<Violation> {
    let mut cases = vec![
        case(
            "a text frame that is not UTF-8",
            client_frame(TEXT, &[b'h', 0xFF, 0xFE, b'i']),
            INVALID_DATA,
            "sent text that is not UTF-8",
        ),
        case(
            "an unmasked frame",
            frame(FIN | TEXT, br#"{"event":"message","data":"hi"}"#, false),
            PROTOCOL_ERROR,
            "sent an unmasked frame",
        ),
        case(
            "a reserved bit set",
            frame(FIN | 0x40 | TEXT, b"hi", true),
            PROTOCOL_ERROR,
            "sent a frame with reserved bits set",
        ),
        case(
            "an unknown data opcode",
            client_frame(0x3, b"hi"),
            PROTOCOL_ERROR,
            "sent a frame with an unknown opcode",
        ),
        case(
            "an unknown control opcode",
            client_frame(0xB, b""),
            PROTOCOL_ERROR,
            "sent a frame with an unknown opcode",
        ),
    ];
    cases.extend(control_frame_violations());
    cases
}

/// ...then in control frames (close, ping), and in the order of fragments.
fn control_frame_violations() -> Vec<Violation> {
    vec![
        case(
            "a close frame with a one-byte payload",
            client_frame(CLOSE, &[0x03]),
            PROTOCOL_ERROR,
            "sent a bad close frame",
        ),
        case(
            "a close frame whose reason is not UTF-8",
            client_frame(CLOSE, &[0x03, 0xE8, 0xFF, 0xFE]),
            INVALID_DATA,
            "sent text that is not UTF-8",
        ),
        case(
            "a fragmented ping",
            frame(PING, b"", true),
            PROTOCOL_ERROR,
            "sent a fragmented control frame",
        ),
        case(
            "a ping of 126 bytes",
            client_frame(PING, &[0; 126]),
            PROTOCOL_ERROR,
            "sent a control frame over 125 bytes",
        ),
        case(
            "a continuation frame with nothing to continue",
            client_frame(0x0, b"hi"),
            PROTOCOL_ERROR,
            "sent a fragment of a message it never started",
        ),
        case(
            "a new message in the middle of a fragmented one",
            [
                frame(BINARY, b"first half", true),
                client_frame(TEXT, b"hi"),
            ]
            .concat(),
            PROTOCOL_ERROR,
            "sent a new message before finishing the last one",
        ),
    ]
}

/// The attack, case by case, each on a connection of its own: the client
/// gets one close frame with the RFC's code and a reason naming what it did,
/// then the connection ends; the server logs the same words, not "ended
/// without a close frame".
#[tokio::test]
async fn each_protocol_violation_gets_a_close_frame_with_the_right_code() {
    // Arrange
    let addr = spawn_app().await;

    for violation in violations() {
        let mut logs = log_lines();
        let (mut client, id) = RawClient::connect(addr).await;

        // Act
        client.write(&violation.bytes).await;
        let frames = client.frames_until_the_end().await;

        // Assert: exactly one frame, the close frame, with the code and why.
        let name = violation.name;
        let [close] = frames.as_slice() else {
            panic!("{name}: expected one close frame, got {frames:?}");
        };
        assert_eq!(close.opcode, CLOSE, "{name}: {close:?}");
        assert_eq!(close.close_code(), violation.code, "{name}: {close:?}");
        let words = format!("broke the WebSocket protocol: {}", violation.logged);
        assert_eq!(close.close_reason(), words, "{name}");
        logs.wait_for(&format!("disconnecting {id}: {words}")).await;
        logs.wait_for(&format!("user disconnected {id}")).await;
    }
}

/// A close frame with a code no endpoint may send (999 is below the range,
/// 1005 means "no code" and must never be sent) is answered by tungstenite
/// itself with 1002 "Protocol violation": the one violation that already
/// got a close frame, and is logged as the client closing.
#[tokio::test]
async fn a_close_code_no_one_may_send_is_answered_with_1002() {
    // Arrange
    let addr = spawn_app().await;

    for code in [999u16, 1005] {
        let mut logs = log_lines();
        let (mut client, id) = RawClient::connect(addr).await;

        // Act
        client
            .write(&client_frame(CLOSE, &code.to_be_bytes()))
            .await;
        let frames = client.frames_until_the_end().await;

        // Assert
        let [close] = frames.as_slice() else {
            panic!("{code}: expected one close frame, got {frames:?}");
        };
        assert_eq!(close.close_code(), PROTOCOL_ERROR, "{code}: {close:?}");
        logs.wait_for(&format!("user disconnected {id}")).await;
    }
}
