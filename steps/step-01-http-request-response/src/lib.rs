//! Step 01 — HTTP is a request and a response over TCP.
//!
//! An HTTP exchange is two pieces of text on one TCP connection: the client
//! writes a request, the server writes exactly one response, and with
//! `Connection: close` the server then hangs up. The server never speaks first
//! and never speaks twice, which is why later steps need WebSockets. Run it
//! with `cargo run -p step-01-http-request-response` and read
//! `notes/01-http-request-response.md` beside this file.
//!
//! # Layout
//! - [`app`]: the server, one route that answers [`GREETING`].
//! - [`raw_http_get`]: the client, a hand-written request over a bare TCP socket.
//! - [`Exchange`]: the bytes that went each way, printed so every `\r\n` shows.

use std::{fmt, io, net::SocketAddr, time::Duration};

use axum::{Router, routing::get};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tower_http::trace::TraceLayer;

/// What `GET /` answers: short, plain text, ending in a newline so that
/// `curl` leaves the terminal prompt on a line of its own.
pub const GREETING: &str = "Hello from step 01: you asked, so I answered.\n";

/// The whole server: one route, `GET /`, which answers [`GREETING`].
pub fn app() -> Router {
    Router::new()
        .route("/", get(greet))
        .layer(TraceLayer::new_for_http())
}

/// axum turns a `&'static str` into `200 OK` with
/// `content-type: text/plain; charset=utf-8` and a `content-length`.
async fn greet() -> &'static str {
    GREETING
}

/// How long [`raw_http_get`] waits for the whole exchange. On loopback it takes
/// about a millisecond; the limit only exists so that a server which never
/// hangs up makes the demo fail with a message instead of waiting forever.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The request [`raw_http_get`] writes, byte for byte.
///
/// Every line ends in CRLF (`\r\n`), and an empty line ends the request: that
/// blank line is how the server knows the client has finished speaking.
/// `Host` is required by HTTP/1.1; `Connection: close` asks the server to close
/// the connection once it has answered.
pub fn handwritten_request(addr: SocketAddr) -> String {
    format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

/// Plays the browser by hand: connects to `addr`, writes
/// [`handwritten_request`], and reads until the server closes the connection.
///
/// Fails with an `io::Error` if nothing listens at `addr`, or with
/// `ErrorKind::TimedOut` if the server has not hung up within
/// [`EXCHANGE_TIMEOUT`].
pub async fn raw_http_get(addr: SocketAddr) -> io::Result<Exchange> {
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(addr)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{addr} did not close the connection within {EXCHANGE_TIMEOUT:?}"),
        )),
    }
}

async fn exchange(addr: SocketAddr) -> io::Result<Exchange> {
    let mut stream = TcpStream::connect(addr).await?;
    // The client always speaks first: until these bytes arrive, the server
    // has nothing to answer and sends nothing.
    let request = handwritten_request(addr).into_bytes();
    stream.write_all(&request).await?;

    let mut response = Vec::new();
    let mut chunk = [0; 1024];
    loop {
        // `read` returns as soon as *some* bytes have arrived, so one response
        // may take several reads. Only a return of 0 means "the other side
        // closed the connection": with `Connection: close`, that is how we
        // know the response is complete.
        let received = stream.read(&mut chunk).await?;
        if received == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..received]);
    }
    Ok(Exchange { request, response })
}

/// One HTTP exchange as it went over the wire.
///
/// Printing it (`{}`) shows both directions line by line, each line labelled
/// with its role, and the invisible bytes spelled out (`\r\n`), because those
/// bytes *are* the protocol.
pub struct Exchange {
    /// Every byte the client wrote.
    pub request: Vec<u8>,
    /// Every byte the server wrote, up to the read that returned 0.
    pub response: Vec<u8>,
}

impl Exchange {
    /// The response's first line without its `\r\n`, e.g. `HTTP/1.1 200 OK`.
    pub fn status_line(&self) -> Option<&str> {
        let end = find(&self.response, b"\r\n")?;
        std::str::from_utf8(&self.response[..end]).ok()
    }

    /// The response body: everything after the blank line that ends the headers.
    pub fn body(&self) -> Option<&[u8]> {
        let end_of_headers = find(&self.response, b"\r\n\r\n")?;
        Some(&self.response[end_of_headers + 4..])
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- what we sent: {} bytes ---", self.request.len())?;
        write_message(f, &self.request, "request line")?;
        writeln!(f, "--- what came back: {} bytes ---", self.response.len())?;
        write_message(f, &self.response, "status line")?;
        write!(
            f,
            "--- read returned 0 bytes: the server closed the connection ---"
        )
    }
}

/// Writes an HTTP message one line per row: the first line, the headers, the
/// blank line that ends them, then the body.
fn write_message(f: &mut fmt::Formatter<'_>, message: &[u8], first: &str) -> fmt::Result {
    let mut in_body = false;
    for (index, line) in message.split_inclusive(|&byte| byte == b'\n').enumerate() {
        let label = if index == 0 {
            first
        } else if in_body {
            "body"
        } else if line == b"\r\n" {
            in_body = true;
            "blank line"
        } else {
            "header"
        };
        write!(f, "{label:<12} | ")?;
        write_visible(f, line)?;
        writeln!(f)?;
    }
    Ok(())
}

/// Writes bytes as text, spelling out the ones a terminal would hide:
/// CR as `\r`, LF as `\n`, anything else outside printable ASCII as `\xNN`.
fn write_visible(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for &byte in bytes {
        match byte {
            b'\r' => write!(f, "\\r")?,
            b'\n' => write!(f, "\\n")?,
            b' '..=b'~' => write!(f, "{}", char::from(byte))?,
            _ => write!(f, "\\x{byte:02x}")?,
        }
    }
    Ok(())
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
