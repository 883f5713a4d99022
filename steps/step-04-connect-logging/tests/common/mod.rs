//! Helpers shared by step 04's tests: start the app on a free port, and read
//! the `error` the server answers a bad frame with.
//!
//! The plumbing no lesson is about — a deadline on every wait, the WebSocket
//! client (`connect`, `send_frame`, `next_event`), the server's log lines
//! (`log_lines`) — comes from the `testkit` crate, shared by every step.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use step_04_connect_logging::{app, public_folder};
use testkit::{Client, next_event, send_frame};
use tokio_tungstenite::tungstenite::Message;

/// Starts the app on `127.0.0.1:0` (any free port) and returns its address.
///
/// The server runs on the test's own runtime, so it stops when the test ends.
pub async fn spawn_app() -> SocketAddr {
    testkit::serve(app(public_folder())).await
}

/// Sends `frame`, and returns the `message` of the `error` event that must
/// come back.
pub async fn error_reply(client: &mut Client, frame: Message) -> String {
    let sent = format!("{frame:?}");
    send_frame(client, frame).await;
    let reply = next_event(client).await;
    assert_eq!(reply["event"], "error", "reply to {sent}: {reply}");
    reply["data"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error event carries a message: {reply}"))
        .to_owned()
}
