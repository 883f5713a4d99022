//! Keep-alive: without `Connection: close`, one TCP connection carries several
//! requests, and each one still gets exactly one response.

mod common;

use common::{RawConnection, closing_request, keep_alive_request, spawn_app};
use step_01_http_request_response::GREETING;

/// Two requests sent one after the other on one connection get exactly one
/// response each, and the connection is still open after them.
///
/// The client can only tell where a response ends from its `content-length`,
/// so that is how they are split. "Exactly one each" is checked at the end: a
/// third request asks for `Connection: close`, so we can read until the server
/// hangs up and account for every byte; an unrequested response anywhere would
/// show up there as bytes left over.
#[tokio::test]
async fn two_requests_on_one_connection_get_one_response_each() {
    // Arrange
    let addr = spawn_app().await;
    let mut connection = RawConnection::open(addr).await;

    // Act
    connection.send(&keep_alive_request(addr)).await;
    let first = connection.read_response().await;
    connection.send(&keep_alive_request(addr)).await;
    let second = connection.read_response().await;

    // Assert: one answer per request, and neither announces a close.
    for response in [&first, &second] {
        assert_eq!(response.status_line, "HTTP/1.1 200 OK");
        assert_eq!(response.body, GREETING);
        assert_ne!(response.header("connection"), Some("close"));
    }

    // Assert: the connection is still open, since a third request is answered
    // on it; and after that answer the server sends nothing but the close.
    connection.send(&closing_request(addr)).await;
    let third = connection.read_response().await;
    let left_over = connection.read_until_closed().await;
    assert_eq!(third.status_line, "HTTP/1.1 200 OK");
    assert!(
        left_over.is_empty(),
        "more responses than requests: {:?}",
        String::from_utf8_lossy(&left_over)
    );
}
