//! Helpers shared by the tests in `tests/`: start the app on a free port, and
//! speak raw HTTP/1.1 to it over a bare TCP connection, with every wait bounded.

// Each test file is its own crate and uses a different subset of these helpers.
#![allow(dead_code)]

use std::{future::Future, net::SocketAddr, time::Duration};

use step_01_http_request_response::app;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// The longest any single step of a test may take. Loopback answers in about a
/// millisecond; the limit only turns a bug that hangs into a quick failure.
pub const WAIT: Duration = Duration::from_secs(5);

/// Awaits `future`, or fails the test naming what never happened.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// Starts the app on `127.0.0.1:0` (a free port the OS picks) and returns its address.
pub async fn spawn_app() -> SocketAddr {
    let listener = within("bind", TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind a free loopback port");
    let addr = listener.local_addr().expect("read the bound address");
    tokio::spawn(async move { axum::serve(listener, app()).await });
    addr
}

/// `GET /` that leaves the connection open afterwards (HTTP/1.1's default).
pub fn keep_alive_request(addr: SocketAddr) -> String {
    format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n")
}

/// `GET /` that asks the server to close the connection after answering.
pub fn closing_request(addr: SocketAddr) -> String {
    format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

/// One response, split into its parts.
#[derive(Debug)]
pub struct Response {
    /// `HTTP/1.1 200 OK`, without the `\r\n`.
    pub status_line: String,
    /// `(name, value)` pairs, names lower-cased (HTTP header names ignore case).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A client-side TCP connection that reads one response at a time.
pub struct RawConnection {
    stream: TcpStream,
    /// Bytes received but not yet handed out as part of a response. On a
    /// keep-alive connection, anything left here after a response would be
    /// the start of a response nobody asked for.
    pub unread: Vec<u8>,
}

impl RawConnection {
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect to the app");
        Self {
            stream,
            unread: Vec::new(),
        }
    }

    pub async fn send(&mut self, request: &str) {
        within(
            "write the request",
            self.stream.write_all(request.as_bytes()),
        )
        .await
        .expect("write the request");
    }

    /// Reads once into `unread`; returns how many bytes arrived (0 = closed).
    async fn read_more(&mut self) -> usize {
        let mut chunk = [0; 1024];
        let received = within("bytes from the server", self.stream.read(&mut chunk))
            .await
            .expect("read from the server");
        self.unread.extend_from_slice(&chunk[..received]);
        received
    }

    /// Reads exactly one response and nothing more: the head up to the blank
    /// line, then `content-length` bytes of body. This is how an HTTP client
    /// finds where a response ends when the connection stays open.
    pub async fn read_response(&mut self) -> Response {
        let end_of_head = loop {
            if let Some(position) = find(&self.unread, b"\r\n\r\n") {
                break position + 4;
            }
            assert!(self.read_more().await > 0, "closed in the middle of a head");
        };
        let head = String::from_utf8(self.unread[..end_of_head].to_vec()).expect("UTF-8 head");
        let mut lines = head.trim_end().split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse().ok())
            .expect("a response with a content-length header");

        while self.unread.len() < end_of_head + length {
            assert!(self.read_more().await > 0, "closed in the middle of a body");
        }
        let rest = self.unread.split_off(end_of_head + length);
        let body = String::from_utf8(self.unread[end_of_head..].to_vec()).expect("UTF-8 body");
        self.unread = rest;
        Response {
            status_line,
            headers,
            body,
        }
    }

    /// Reads until the server closes the connection; returns the bytes that
    /// arrived after the last response read (empty if the server sent nothing
    /// more).
    pub async fn read_until_closed(&mut self) -> Vec<u8> {
        while self.read_more().await > 0 {}
        std::mem::take(&mut self.unread)
    }

    /// The underlying stream, for tests that watch it directly.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
