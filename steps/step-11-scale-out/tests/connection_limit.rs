//! Step 11 checkpoint: at most `MAX_CONNECTIONS` WebSockets at once; one
//! more gets a 503 with a clear sentence before any upgrade, and a place
//! that frees up can be taken again.
//!
//! Run with `cargo test -p step-11-scale-out --test connection_limit`.

mod common;

use axum::http::StatusCode;
use common::{connect_as, join, spawn_app_with, wait_for_live_connections};
use step_11_scale_out::{AppState, config::Config};
use testkit::{DEADLINE, connect, log_lines, send_frame};
use tokio::time::timeout;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{self, Message},
};

/// With a limit of two, the third client is refused with 503 and a body
/// naming the limit (whether or not the two have joined a room: the limit
/// counts connections); when one of the two leaves, a new client gets in,
/// and may take the nickname the leaver gave up.
#[tokio::test]
async fn one_connection_over_the_limit_gets_503_until_a_place_frees_up() {
    // Arrange
    let state = AppState::in_memory(Config {
        max_connections: 2,
        ..Config::default()
    });
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (mut first, _) = connect_as(addr, "first").await;
    let (_second, _) = connect(addr).await;

    // Act
    let third = timeout(DEADLINE, connect_async(format!("ws://{}/ws", addr)))
        .await
        .expect("the server answers in time");

    // Assert
    let Err(tungstenite::Error::Http(response)) = third else {
        panic!("expected an HTTP refusal, got {third:?}");
    };
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
    assert!(body.contains("maximum of 2 connections"), "{body}");
    logs.wait_for("refusing a WebSocket: already 2 connections (MAX_CONNECTIONS)")
        .await;

    // Act: one client leaves; wait until the server has seen it go.
    send_frame(&mut first, Message::Close(None)).await;
    wait_for_live_connections(&state, 1).await;

    // Assert: its place can be taken, and its nickname too.
    let (mut fourth, id) = connect(addr).await;
    assert!(!id.is_empty());
    let answer = join(&mut fourth, "first", "general").await;
    assert_eq!(answer["nickname"], "first");
}
