//! Step 08 checkpoint: the server pings every client at the configured
//! interval, keeps the ones that answer, and drops one that stops answering.
//!
//! The heartbeat is configured in milliseconds here, so the test takes a
//! fraction of a second instead of the production 25 s.
//!
//! Run with `cargo test -p step-08-production --test heartbeats`.

mod common;

use std::time::Duration;

use common::{ChatMessage, chat_message, send_message, spawn_app_with, wait_for_live_connections};
use serde_json::Value;
use step_08_production::{AppState, config::Config};
use testkit::{Client, connect, log_lines, next_frame};
use tokio_tungstenite::tungstenite::Message;

/// Ping every 100 ms; a client silent for 200 ms after a ping is gone.
fn quick_heartbeat() -> Config {
    Config {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(200),
        ..Config::default()
    }
}

/// A client that keeps reading sees the server's pings (its WebSocket
/// library answers each with a pong by itself) and is still connected
/// after several of them: it can chat.
#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    // Arrange
    let state = AppState::new(quick_heartbeat());
    let addr = spawn_app_with(state.clone()).await;
    let (mut client, id) = connect(addr).await;

    // Act: read three pings; reading is what sends the pongs back.
    for ping in 1..=3 {
        let frame = next_frame(&mut client).await;
        assert!(
            matches!(frame, Message::Ping(_)),
            "ping {ping}: got {frame:?}"
        );
    }

    // Assert: still connected, still chatting.
    send_message(&mut client, "still here").await;
    assert_eq!(
        next_message_skipping_pings(&mut client).await,
        ChatMessage {
            from: id,
            text: "still here".to_owned()
        }
    );
}

/// A client that stops reading (so it never answers a ping: a laptop whose
/// lid was closed) is dropped after the timeout, and the server logs the
/// reason and `user disconnected <id>`; another client is not affected.
#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    // Arrange
    let state = AppState::new(quick_heartbeat());
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (_silent, silent_id) = connect(addr).await;
    let (mut alive, alive_id) = connect(addr).await;

    // Act: `_silent` is never read again, so it never sends a pong. Keep
    // reading `alive` (which answers its pings) until the silent one is gone.
    let dropped = async {
        logs.wait_for(&format!(
            "dropping {silent_id}: no answer to a ping within 200 ms"
        ))
        .await;
        logs.wait_for(&format!("user disconnected {silent_id}"))
            .await;
    };
    let answering = async {
        loop {
            next_frame(&mut alive).await;
        }
    };
    tokio::select! {
        () = dropped => {}
        _ = answering => {}
    }

    // Assert: only the answering client is left, and it still chats.
    wait_for_live_connections(&state, 1).await;
    send_message(&mut alive, "hello").await;
    assert_eq!(
        next_message_skipping_pings(&mut alive).await,
        ChatMessage {
            from: alive_id,
            text: "hello".to_owned()
        }
    );
}

/// The next chat message, skipping the pings that arrive in between.
async fn next_message_skipping_pings(client: &mut Client) -> ChatMessage {
    loop {
        if let Message::Text(text) = next_frame(client).await {
            let event: Value = serde_json::from_str(&text).expect("the server sends JSON");
            return chat_message(&event)
                .unwrap_or_else(|| panic!("expected a chat message, got {event}"));
        }
    }
}
