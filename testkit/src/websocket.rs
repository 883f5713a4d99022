//! A test's end of a WebSocket: connect to `/ws` and read the greeting, send
//! a frame, read the next one, or prove that none comes, each within a
//! deadline.
//!
//! Every step from 04 on speaks the same envelope, `{"event": .., "data": ..}`
//! in text frames, and greets each connection with
//! `{"event":"connect","data":{"id":"<id>"}}`; that is all these helpers
//! know. What a step's events *mean* (a tick, a chat message) is read by the
//! step's own `tests/common`.
//!
//! The helpers that send or read take any sink or stream of frames, so they
//! work on a whole [`Client`] and on either half of one split with
//! `StreamExt::split`, for a test that sends and reads at the same time.

use std::net::SocketAddr;

use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::{net::TcpStream, time::timeout};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Error, Message},
};

use crate::{DEADLINE, QUIET_PERIOD};

/// A test's end of a WebSocket connection.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `/ws` and reads the server's greeting; returns the client and
/// the id the server gave it.
pub async fn connect(addr: SocketAddr) -> (Client, String) {
    let (mut client, _response) = timeout(DEADLINE, connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("the WebSocket handshake finishes in time")
        .expect("the server accepts the WebSocket upgrade");
    let id = read_greeting(&mut client).await;
    (client, id)
}

/// Reads the next frame, which must be the `connect` greeting, and returns
/// the id it carries. [`connect`] does this; a test that opens its
/// connection some other way (a socket with a small receive buffer, say)
/// calls it after the handshake.
pub async fn read_greeting<S>(client: &mut S) -> String
where
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    let hello = next_event(client).await;
    assert_eq!(hello["event"], "connect", "first frame: {hello}");
    hello["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the connect event carries a string id: {hello}"))
        .to_owned()
}

/// Sends one frame to the server, within [`DEADLINE`].
pub async fn send_frame<S>(client: &mut S, frame: Message)
where
    S: Sink<Message, Error = Error> + Unpin,
{
    timeout(DEADLINE, client.send(frame))
        .await
        .expect("the frame is sent in time")
        .expect("the connection is open");
}

/// The next frame the server sends, whatever its kind, within [`DEADLINE`].
pub async fn next_frame<S>(client: &mut S) -> Message
where
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    timeout(DEADLINE, client.next())
        .await
        .expect("the server sends a frame in time")
        .expect("the connection is still open")
        .expect("the frame is valid WebSocket")
}

/// The next frame, which must be a text frame holding JSON.
pub async fn next_event<S>(client: &mut S) -> Value
where
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    match next_frame(client).await {
        Message::Text(text) => serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("the server sent JSON ({error}): {text}")),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Asserts that the server sends this client nothing at all for
/// [`QUIET_PERIOD`] (see there for why a bounded wait is the assertion).
pub async fn assert_nothing_arrives<S>(client: &mut S)
where
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    if let Ok(frame) = timeout(QUIET_PERIOD, client.next()).await {
        panic!("expected silence for {QUIET_PERIOD:?}, got {frame:?}");
    }
}
