//! Step 11 checkpoint: a member that stops reading altogether is cut off
//! after the write timeout, while another member of its room keeps
//! receiving.
//!
//! Its own file, because it fills a client's TCP buffers with megabytes and
//! would disturb the memory measurement in `slow_client.rs`.
//!
//! Run with `cargo test -p step-11-scale-out --test stalled_client`.

mod common;

use std::time::Duration;

use common::{
    connect_as, connect_stalling_client, index_of, next_message_skipping_notices, send_message,
    spawn_app_with, text_of, wait_for_live_connections,
};
use step_11_scale_out::{AppState, config::Config};
use testkit::log_lines;

/// How long a write may wait for a client that does not read. Short, so the
/// test is quick; the heartbeat is far away, so only the write timeout can
/// end the stalled client.
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// Enough 8 KiB messages to fill the stalled client's buffers many times over.
const MESSAGES: usize = 1_000;

/// While one member never reads again, the server blocks writing to it only
/// as long as the write timeout, then disconnects it and logs why; another
/// member receives every message a third one writes meanwhile, in order,
/// and the connection count goes back down. (In step 08 one client wrote
/// and read its own messages back; step 09 sends them to the others only.)
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
    // Arrange
    let state = AppState::in_memory(Config {
        // No rate or byte limits to speak of: 1,000 messages of 8 KiB at once.
        max_messages_per_second: 1_000_000,
        max_bytes_per_second: 1_000_000_000,
        max_published_bytes_per_second: 1_000_000_000,
        heartbeat_interval: Duration::from_secs(600),
        heartbeat_timeout: WRITE_TIMEOUT,
        ..Config::default()
    });
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (_stalled, stalled_id) = connect_stalling_client(addr, "stalled").await;
    let (mut writer, _) = connect_as(addr, "writer").await;
    let (mut reader, _) = connect_as(addr, "reader").await;

    // Act: the writer says one message at a time, and the reader reads it.
    for index in 0..MESSAGES {
        send_message(&mut writer, &text_of(index)).await;
        let message = next_message_skipping_notices(&mut reader).await;
        assert_eq!(index_of(&message.text), index, "in order, none lost");
    }

    // Assert: the stalled client was disconnected for not reading.
    logs.wait_for(&format!(
        "disconnecting {stalled_id}: too slow: took nothing we sent for {} ms",
        WRITE_TIMEOUT.as_millis()
    ))
    .await;
    logs.wait_for(&format!("user disconnected {stalled_id}"))
        .await;
    wait_for_live_connections(&state, 2).await;
}
