//! Checks `examples/raw_tcp_client.rs`, note 01's "be the client yourself" without `nc` or
//! `telnet`: it sends typed lines with `\r\n`, prints the server's bytes as they are, and
//! tells when the server hung up or kept the connection open.

#[path = "../examples/raw_tcp_client.rs"]
#[allow(dead_code)]
mod raw_tcp_client;

use std::time::Duration;

use step_01_http_request_response::{GREETING, app};
use tokio::{net::TcpListener, time::timeout};

/// Generous: the quiet period alone is two seconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// Starts step 01's app on a free port and returns `127.0.0.1:<port>`.
async fn spawn_app() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = listener.local_addr().expect("a bound address").to_string();
    tokio::spawn(async move { axum::serve(listener, app()).await });
    address
}

/// Runs the example with `typed` as its input and returns everything it printed.
async fn client_output(typed: &str) -> String {
    let address = spawn_app().await;
    let mut out = Vec::new();
    timeout(
        DEADLINE,
        raw_tcp_client::talk(&address, typed.as_bytes(), &mut out),
    )
    .await
    .expect("the client finishes within the deadline")
    .expect("the client succeeds");
    String::from_utf8(out).expect("the server answers in UTF-8")
}

/// The note's request with `Connection: close`, typed with plain newlines: one response with
/// the greeting, then the server hangs up.
#[tokio::test]
async fn a_typed_request_gets_one_response_and_the_close() {
    // Arrange
    let typed = "GET / HTTP/1.1\nHost: localhost\nConnection: close\n\n";

    // Act
    let output = client_output(typed).await;

    // Assert
    assert!(output.contains("HTTP/1.1 200 OK\r\n"), "{output}");
    assert!(output.contains("connection: close\r\n"), "{output}");
    assert!(
        output.ends_with(&format!(
            "\r\n\r\n{GREETING}--- the server closed the connection ---\n"
        )),
        "{output}"
    );
}

/// Without `Connection: close` the answer comes and the connection stays open: the client
/// says so once its input has ended and the server has been quiet.
#[tokio::test]
async fn without_close_the_connection_stays_open() {
    // Arrange
    let typed = "GET / HTTP/1.1\nHost: localhost\n\n";

    // Act
    let output = client_output(typed).await;

    // Assert
    assert_eq!(output.matches("HTTP/1.1 200 OK").count(), 1, "{output}");
    assert!(output.contains("the connection is still open"), "{output}");
}

/// Two requests in one input, the second asking for the close: two responses, then the close
/// (note 01's "send two requests in one write and count the answers").
#[tokio::test]
async fn two_requests_get_two_responses() {
    // Arrange
    let typed =
        "GET / HTTP/1.1\nHost: localhost\n\nGET / HTTP/1.1\nHost: localhost\nConnection: close\n\n";

    // Act
    let output = client_output(typed).await;

    // Assert
    assert_eq!(output.matches("HTTP/1.1 200 OK").count(), 2, "{output}");
    assert_eq!(output.matches(GREETING).count(), 2, "{output}");
    assert!(
        output.ends_with("--- the server closed the connection ---\n"),
        "{output}"
    );
}
