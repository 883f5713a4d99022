//! Step 11 checkpoint: the server pings every client at the configured
//! interval, keeps the ones that answer, and drops one that stops answering
//! — and the room hears that member leave.
//!
//! The heartbeat is configured in milliseconds here, so the test takes a
//! fraction of a second instead of the production 25 s. Pings can arrive
//! between any two frames, so these tests read with
//! `next_event_skipping_pings` (which `request`, behind `join` and `say`,
//! uses too).
//!
//! Run with `cargo test -p step-11-scale-out --test heartbeats`.

mod common;

use std::time::Duration;

use common::{
    connect_as, next_event_skipping_pings, say, spawn_app_with, wait_for_live_connections,
};
use serde_json::json;
use step_11_scale_out::{AppState, config::Config};
use testkit::{DEADLINE, log_lines, next_frame};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Ping every 100 ms; a client silent for 200 ms after a ping is gone.
fn quick_heartbeat() -> Config {
    Config {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(200),
        ..Config::default()
    }
}

/// A member that keeps reading sees the server's pings (its WebSocket
/// library answers each with a pong by itself) and is still connected
/// after several of them: it can chat, and its message is acknowledged.
#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    // Arrange
    let state = AppState::in_memory(quick_heartbeat());
    let addr = spawn_app_with(state.clone()).await;
    let (mut client, _) = connect_as(addr, "awake").await;

    // Act: read three pings; reading is what sends the pongs back.
    for ping in 1..=3 {
        let frame = next_frame(&mut client).await;
        assert!(
            matches!(frame, Message::Ping(_)),
            "ping {ping}: got {frame:?}"
        );
    }

    // Assert: still connected, still chatting.
    let answer = say(&mut client, "still here").await;
    assert!(answer["id"].is_string(), "{answer}");
}

/// A member that stops reading (so it never answers a ping: a laptop whose
/// lid was closed) is dropped after the timeout; the server logs the reason
/// and `user disconnected <id>`, and the others in its room hear it leave.
/// Another member is not affected.
#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    // Arrange
    let state = AppState::in_memory(quick_heartbeat());
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (_silent, silent_id) = connect_as(addr, "silent").await;
    let (mut alive, _) = connect_as(addr, "alive").await;

    // Act: `_silent` is never read again, so it never sends a pong. Keep
    // reading `alive` (which answers its pings) until the silent one is gone.
    let mut heard = Vec::new();
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
            heard.push(next_event_skipping_pings(&mut alive).await);
        }
    };
    tokio::select! {
        () = dropped => {}
        _ = answering => {}
    }

    // Assert: the room was told (if it was not read yet, it is next)...
    let left = json!({ "event": "left", "data": { "nickname": "silent", "room": "general" } });
    let told = timeout(DEADLINE, async {
        while !heard.contains(&left) {
            heard.push(next_event_skipping_pings(&mut alive).await);
        }
    })
    .await;
    assert!(told.is_ok(), "alive never heard {left}: {heard:?}");
    // ...only the answering member is left, and it still chats.
    wait_for_live_connections(&state, 1).await;
    let answer = say(&mut alive, "hello").await;
    assert!(answer["id"].is_string(), "{answer}");
}
