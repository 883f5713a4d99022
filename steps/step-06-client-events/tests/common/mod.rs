//! Helpers shared by step 06's tests: start the app on a free port, read its
//! ticks, count its live connections, and read the `error` the server
//! answers a bad frame with.
//!
//! The plumbing no lesson is about — a deadline on every wait, the WebSocket
//! client (`connect`, `send_frame`, `next_event`), the server's log lines
//! (`log_lines`) — comes from the `testkit` crate, shared by every step.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use step_06_client_events::{AppState, app, public_folder};
use testkit::{Client, DEADLINE, next_event, next_frame, send_frame};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Starts the app with a tick interval of an hour, for tests that are not
/// about ticks: no `fromServer` can arrive in the middle of them.
pub async fn spawn_app() -> SocketAddr {
    spawn_app_with(AppState::new(Duration::from_secs(3600))).await
}

/// Starts the app with `state` on `127.0.0.1:0` (any free port) and returns
/// its address. Keep a clone of `state` to watch its live connections.
///
/// The server runs on the test's own runtime, so it stops when the test ends.
pub async fn spawn_app_with(state: AppState) -> SocketAddr {
    testkit::serve(app(public_folder(), state)).await
}

/// The next frame, which must be a tick: exactly `{"event":"fromServer"}`.
pub async fn next_tick(client: &mut Client) {
    match next_frame(client).await {
        Message::Text(text) => assert_eq!(text.as_str(), r#"{"event":"fromServer"}"#),
        other => panic!("expected a fromServer tick, got {other:?}"),
    }
}
/// Waits, up to [`DEADLINE`], until exactly `expected` connections are live
/// on the server of `state`, i.e. that many connection handlers (each with
/// its ticker) are still running.
pub async fn wait_for_live_connections(state: &AppState, expected: usize) {
    let mut live = state.live_connections.subscribe();
    // `wait_for` fails only if the sender is gone, and `state` holds it.
    let reached = matches!(
        timeout(DEADLINE, live.wait_for(|count| *count == expected)).await,
        Ok(Ok(_))
    );
    assert!(
        reached,
        "live connections did not reach {expected} within {DEADLINE:?} (now {})",
        *live.borrow()
    );
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
