//! `Connection: close`: after its one response, the server hangs up.

mod common;

use common::{RawConnection, closing_request, spawn_app};

/// With `Connection: close`, the server closes the TCP connection right after
/// its response: the next read returns 0 bytes (end of file), and no byte
/// arrives between the end of the body and the close.
#[tokio::test]
async fn server_closes_the_connection_after_the_response() {
    // Arrange
    let addr = spawn_app().await;
    let mut connection = RawConnection::open(addr).await;

    // Act
    connection.send(&closing_request(addr)).await;
    let response = connection.read_response().await;
    // Each read inside is bounded by a timeout: a server that kept the
    // connection open would fail the test here instead of hanging it.
    let after_the_response = connection.read_until_closed().await;

    // Assert
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        after_the_response.is_empty(),
        "the server sent bytes after its response: {:?}",
        String::from_utf8_lossy(&after_the_response)
    );
}
