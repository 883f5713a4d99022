//! What `main` prints: the exchange, line by line, with the invisible bytes shown.

use step_01_http_request_response::Exchange;

/// Printing an exchange labels every line with its role (request line, status
/// line, header, blank line, body), spells out `\r` and `\n` and any byte
/// outside printable ASCII, and ends with the close that completed it.
#[test]
fn transcript_labels_each_line_and_shows_every_byte() {
    // Arrange
    let exchange = Exchange {
        request: b"GET / HTTP/1.1\r\nHost: example\r\n\r\n".to_vec(),
        response: b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ncaf\xc3\xa9\nhi".to_vec(),
    };

    // Act
    let transcript = exchange.to_string();

    // Assert
    let expected = [
        r"--- what we sent: 33 bytes ---",
        r"request line | GET / HTTP/1.1\r\n",
        r"header       | Host: example\r\n",
        r"blank line   | \r\n",
        r"--- what came back: 46 bytes ---",
        r"status line  | HTTP/1.1 200 OK\r\n",
        r"header       | content-length: 8\r\n",
        r"blank line   | \r\n",
        r"body         | caf\xc3\xa9\n",
        r"body         | hi",
        r"--- read returned 0 bytes: the server closed the connection ---",
    ]
    .join("\n");
    assert_eq!(transcript, expected);
}
