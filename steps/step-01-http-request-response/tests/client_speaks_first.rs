//! The client always speaks first: a server on its own sends nothing.

mod common;

use std::time::Duration;

use common::{RawConnection, closing_request, spawn_app, within};
use tokio::io::AsyncReadExt;

/// How long we listen to a silent connection.
///
/// "Nothing arrived" can only be observed by waiting, so in this test the
/// timeout elapsing *is* the assertion. On loopback an answer would arrive in
/// well under a millisecond, so 300 ms is ample evidence while keeping the test
/// fast; a server that spoke first would fail it immediately, not after 300 ms.
const SILENCE: Duration = Duration::from_millis(300);

/// A client that connects and sends nothing receives nothing: no greeting, no
/// bytes, not even a close. Once it does speak, the same connection is answered.
#[tokio::test]
async fn server_says_nothing_until_the_client_speaks() {
    // Arrange
    let addr = spawn_app().await;
    let mut connection = RawConnection::open(addr).await;

    // Act: listen without sending anything.
    let mut first_byte = [0; 1];
    let outcome = tokio::time::timeout(SILENCE, connection.stream().read(&mut first_byte)).await;

    // Assert: the read was still waiting when the time ran out. `Ok(Ok(0))`
    // would mean the server closed the connection, `Ok(Ok(1))` that it spoke.
    assert!(
        outcome.is_err(),
        "expected silence, but the read finished with {outcome:?}"
    );

    // And the connection was open all along, just waiting for a request.
    connection.send(&closing_request(addr)).await;
    let response = within("the response", connection.read_response()).await;
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
}
