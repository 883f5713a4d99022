//! The exchange itself: one hand-written request over TCP, one `HTTP/1.1 200`
//! response carrying the greeting. Run with
//! `cargo test -p step-01-http-request-response`.

mod common;

use std::io;

use common::{RawConnection, closing_request, spawn_app, within};
use step_01_http_request_response::{GREETING, raw_http_get};
use tokio::net::TcpListener;

/// `GET /` answers `HTTP/1.1 200 OK` with the greeting as its body, exactly as
/// the demo in `main` receives it.
#[tokio::test]
async fn get_root_answers_200_with_the_greeting() {
    // Arrange
    let addr = spawn_app().await;

    // Act
    let exchange = within("the exchange", raw_http_get(addr))
        .await
        .expect("the demo exchange succeeds");

    // Assert
    assert_eq!(exchange.status_line(), Some("HTTP/1.1 200 OK"));
    assert_eq!(exchange.body(), Some(GREETING.as_bytes()));
}

/// The greeting is labelled as plain text, and its `content-length` counts
/// exactly its bytes: that number is how a client finds the end of a response
/// when the connection stays open.
#[tokio::test]
async fn greeting_is_plain_text_with_its_exact_length() {
    // Arrange
    let addr = spawn_app().await;
    let mut connection = RawConnection::open(addr).await;

    // Act
    connection.send(&closing_request(addr)).await;
    let response = connection.read_response().await;

    // Assert
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.header("content-length"),
        Some(GREETING.len().to_string().as_str())
    );
    assert_eq!(response.body, GREETING);
}

/// The demo really writes the request by hand: the request line, `Host`,
/// `Connection: close`, and the empty line that ends the request, every line
/// ending in `\r\n`.
#[tokio::test]
async fn demo_sends_the_hand_written_request() {
    // Arrange
    let addr = spawn_app().await;

    // Act
    let exchange = within("the exchange", raw_http_get(addr))
        .await
        .expect("the demo exchange succeeds");

    // Assert
    let expected = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&exchange.request),
        expected.as_str()
    );
}

/// With nothing listening at the address, the demo returns an error (which
/// `main` reports in a sentence) instead of panicking.
#[tokio::test]
async fn demo_reports_a_refused_connection_as_an_error() {
    // Arrange: let the OS pick a free port, then free it so nothing listens there.
    let listener = within("bind", TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind a free loopback port");
    let addr = listener.local_addr().expect("read the bound address");
    drop(listener);

    // Act
    let result = within("the refused exchange", raw_http_get(addr)).await;

    // Assert
    let error = result.err().expect("connecting to a closed port fails");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
}
