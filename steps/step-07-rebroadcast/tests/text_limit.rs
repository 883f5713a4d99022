//! Checks note 07's sentence on the size limit: it counts the whole frame the client sends,
//! JSON envelope included, so 16,355 characters of ASCII text are the most a chat message can
//! carry, and one more closes the connection with 1009.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use step_07_rebroadcast::{AppState, MAX_MESSAGE_BYTES, app, public_folder};
use tokio::{
    net::{TcpListener, TcpStream},
    time::timeout,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const DEADLINE: Duration = Duration::from_secs(5);

/// `{"event":"message","data":""}`: what the envelope adds around the text.
const ENVELOPE_BYTES: usize = 29;

async fn connect_to_a_fresh_app() -> Client {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app(public_folder(), AppState::new())).await });
    let (mut client, _) = timeout(DEADLINE, connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("connects within the deadline")
        .expect("the upgrade succeeds");
    next_frame(&mut client).await; // the connect greeting
    client
}

async fn next_frame(client: &mut Client) -> Message {
    timeout(DEADLINE, client.next())
        .await
        .expect("a frame within the deadline")
        .expect("the connection is open")
        .expect("a well-formed frame")
}

/// Sends a chat message of `length` ASCII characters.
async fn send_text_of(client: &mut Client, length: usize) {
    let frame = json!({ "event": "message", "data": "x".repeat(length) }).to_string();
    assert_eq!(frame.len(), length + ENVELOPE_BYTES);
    timeout(DEADLINE, client.send(Message::text(frame)))
        .await
        .expect("sent within the deadline")
        .expect("the send succeeds");
}

/// A text that fills the frame to exactly the limit comes back, whole.
#[tokio::test]
async fn the_longest_text_is_the_limit_minus_the_envelope() {
    // Arrange
    let mut client = connect_to_a_fresh_app().await;
    let longest = MAX_MESSAGE_BYTES - ENVELOPE_BYTES;
    assert_eq!(longest, 16_355);

    // Act
    send_text_of(&mut client, longest).await;

    // Assert
    let Message::Text(echo) = next_frame(&mut client).await else {
        panic!("expected the rebroadcast message");
    };
    let echo: Value = serde_json::from_str(&echo).expect("JSON");
    assert_eq!(echo["data"]["text"].as_str().map(str::len), Some(longest));
}

/// One character more makes the frame one byte too big: the server closes with 1009.
#[tokio::test]
async fn one_character_more_is_refused_with_1009() {
    // Arrange
    let mut client = connect_to_a_fresh_app().await;

    // Act
    send_text_of(&mut client, MAX_MESSAGE_BYTES - ENVELOPE_BYTES + 1).await;

    // Assert
    let Message::Close(Some(close)) = next_frame(&mut client).await else {
        panic!("expected a close frame");
    };
    assert_eq!(close.code, CloseCode::Size);
}
