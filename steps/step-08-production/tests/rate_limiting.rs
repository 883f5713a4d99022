//! Step 08 checkpoint: a client that sends faster than
//! `MAX_MESSAGES_PER_SECOND` has its excess dropped and is told once, with an
//! `error` event; everyone else is unaffected.
//!
//! Run with `cargo test -p step-08-production --test rate_limiting`.

mod common;

use common::{ChatMessage, chat_message, next_message, send_message, spawn_app_with};
use futures::SinkExt;
use serde_json::json;
use step_08_production::{AppState, config::Config};
use testkit::{DEADLINE, assert_nothing_arrives, connect, log_lines, next_event};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Two messages a second (bursts of two): slow enough that no token comes
/// back while the test's burst of 20 is read, so the counts are exact.
const PER_SECOND: u32 = 2;

/// A burst of 20 messages from one client: the first two reach everyone,
/// the other 18 are dropped, the flooder gets exactly one `error` event
/// saying so, and another client's messages still go through.
#[tokio::test]
async fn a_flooding_client_is_told_once_and_its_excess_is_dropped() {
    // Arrange
    let state = AppState::new(Config {
        max_messages_per_second: PER_SECOND,
        ..Config::default()
    });
    let addr = spawn_app_with(state.clone()).await;
    let mut logs = log_lines();
    let (mut flooder, flooder_id) = connect(addr).await;
    let (mut bystander, bystander_id) = connect(addr).await;

    // Act: 20 frames queued and written in one go.
    let flood = async {
        for index in 0..20 {
            let frame = json!({ "event": "message", "data": format!("flood {index}") }).to_string();
            flooder.feed(Message::text(frame)).await?;
        }
        flooder.flush().await
    };
    timeout(DEADLINE, flood)
        .await
        .expect("written in time")
        .expect("the connection is open");

    // Assert: the bystander sees the first two, and nothing more.
    for index in 0..2 {
        assert_eq!(
            next_message(&mut bystander).await,
            ChatMessage {
                from: flooder_id.clone(),
                text: format!("flood {index}")
            }
        );
    }
    assert_nothing_arrives(&mut bystander).await;

    // Assert: the flooder gets its two back and one error, in some order.
    let mut echoed = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut flooder).await;
        match chat_message(&event) {
            Some(message) => echoed.push(message.text),
            None => errors.push(
                event["data"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        }
    }
    assert_eq!(echoed, ["flood 0", "flood 1"]);
    assert_eq!(
        errors,
        ["slow down: at most 2 messages per second; the messages beyond that were dropped"]
    );
    assert_nothing_arrives(&mut flooder).await;
    logs.wait_for(&format!(
        "{flooder_id} is sending too fast; dropping its excess messages"
    ))
    .await;

    // Assert: the bystander, with its own full bucket, is unaffected.
    send_message(&mut bystander, "my turn").await;
    let expected = ChatMessage {
        from: bystander_id,
        text: "my turn".to_owned(),
    };
    assert_eq!(next_message(&mut bystander).await, expected);
    assert_eq!(next_message(&mut flooder).await, expected);
}
