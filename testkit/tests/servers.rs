//! The WebSocket helpers and the servers, against a tiny app that greets
//! each connection as every step does and echoes each text frame back.
//!
//! Run with `cargo test -p testkit --test servers`.

use axum::{
    Router,
    extract::ws::{self, WebSocket, WebSocketUpgrade},
    routing::get,
};
use futures::StreamExt;
use serde_json::json;
use testkit::{
    DEADLINE, GracefulServer, KillableServer, assert_nothing_arrives, connect, next_event,
    send_frame, serve,
};
use tokio::{net::TcpStream, time::timeout};
use tokio_tungstenite::tungstenite::Message;

/// `/ws`: the `connect` greeting with the id `"test-1"`, then every text
/// frame sent straight back.
fn greeting_app() -> Router {
    Router::new().route(
        "/ws",
        get(|upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade(greet_and_echo) }),
    )
}

async fn greet_and_echo(mut socket: WebSocket) {
    let hello = json!({ "event": "connect", "data": { "id": "test-1" } }).to_string();
    if socket.send(ws::Message::text(hello)).await.is_err() {
        return;
    }
    while let Some(Ok(ws::Message::Text(text))) = socket.recv().await {
        if socket.send(ws::Message::Text(text)).await.is_err() {
            return;
        }
    }
}

/// `connect` returns the id of the greeting; a frame sent comes back as the
/// next event; and then the connection is quiet.
#[tokio::test]
async fn connect_reads_the_greeting_and_the_helpers_send_and_read() {
    // Arrange
    let addr = serve(greeting_app()).await;

    // Act
    let (mut client, id) = connect(addr).await;
    send_frame(&mut client, Message::text(r#"{"event":"echo"}"#)).await;

    // Assert
    assert_eq!(id, "test-1");
    assert_eq!(next_event(&mut client).await, json!({ "event": "echo" }));
    assert_nothing_arrives(&mut client).await;
}

/// Killing a server ends the WebSockets it had (no close frame: the socket
/// just goes), and the same port serves again at once.
#[tokio::test]
async fn a_killed_server_drops_its_websockets_and_its_port_serves_again() {
    // Arrange
    let server = KillableServer::start(greeting_app()).await;
    let addr = server.addr();
    let (mut client, _id) = connect(addr).await;

    // Act
    server.stop().await;

    // Assert: the connection ends without any message...
    let after = timeout(DEADLINE, client.next())
        .await
        .expect("the connection ends in time");
    assert!(
        !matches!(after, Some(Ok(Message::Text(_)))),
        "expected the end of the connection, got {after:?}"
    );
    // ...and a new server on the same port is reachable.
    let again = KillableServer::start_on(addr, greeting_app()).await;
    let (_client, id) = connect(again.addr()).await;
    assert_eq!(id, "test-1");
    again.stop().await;
}

/// A graceful server's serving function gets a stop signal that resolves on
/// `begin_shutdown`; once it has returned, the port is closed.
#[tokio::test]
async fn a_graceful_server_shuts_down_through_its_own_stop_signal() {
    // Arrange
    let mut server = GracefulServer::start(|listener, stop| async move {
        axum::serve(listener, greeting_app())
            .with_graceful_shutdown(stop)
            .await
    })
    .await;
    let addr = server.addr();

    // Act
    server.begin_shutdown();
    server.wait_until_finished(DEADLINE).await;

    // Assert: nothing listens on the port any more.
    let refused = timeout(DEADLINE, TcpStream::connect(addr))
        .await
        .expect("the attempt ends in time");
    assert!(refused.is_err(), "the port is closed: {refused:?}");
}

/// A graceful server the test lets go of keeps serving until the test ends
/// (dropping it is not a shutdown), so a helper can return just its address.
#[tokio::test]
async fn a_dropped_graceful_server_keeps_serving() {
    // Arrange
    let server = GracefulServer::start(|listener, stop| async move {
        axum::serve(listener, greeting_app())
            .with_graceful_shutdown(stop)
            .await
    })
    .await;
    let addr = server.addr();

    // Act
    drop(server);

    // Assert
    let (_client, id) = connect(addr).await;
    assert_eq!(id, "test-1");
}
