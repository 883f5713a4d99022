//! A bare HTTP/1.1 client over TCP, for the attack tests: it sends exactly
//! the bytes a test writes — a request target without its leading slash, a
//! 100 KB header, an empty `Sec-WebSocket-Key` — which a real HTTP or
//! WebSocket client would refuse to send, and reads back one response.
//!
//! Every wait is bounded by testkit's `DEADLINE`. Used by
//! `tests/attack_*.rs` with `mod raw_http;` (a folder, so cargo does not
//! build it as a test of its own).

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use testkit::DEADLINE;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    time::timeout,
};

/// The example key of RFC 6455 §1.3: base64 of 16 bytes, as browsers send.
pub const VALID_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// One HTTP response as it came over the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code, e.g. 403.
    pub status: u16,
    /// Every header line, as sent (`name: value`).
    pub headers: Vec<String>,
    /// The body (empty for a 101).
    pub body: String,
}

impl RawResponse {
    /// The value of header `name` (case-insensitive), if the response has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// `GET <target> HTTP/1.1` with `headers`, ended by the empty line.
pub fn get(target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut request = format!("GET {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// A WebSocket upgrade of `/ws` as a browser sends it, sent to `host`, with
/// each header of `changes` added or put in place of the browser's own (an
/// empty value is sent as an empty header).
pub fn upgrade(host: &str, changes: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![
        ("Host", host),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", VALID_KEY),
    ];
    for &(name, value) in changes {
        match headers
            .iter_mut()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        {
            Some(header) => header.1 = value,
            None => headers.push((name, value)),
        }
    }
    get("/ws", &headers)
}

/// Opens a new connection to `addr`, sends `request` and reads the response.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    connect(addr).await.exchange(request).await
}

/// One TCP connection that sends requests one after another (keep-alive).
pub struct RawConnection {
    stream: BufReader<TcpStream>,
}

impl RawConnection {
    /// Sends `request` and reads the response to it, within `DEADLINE`.
    pub async fn exchange(&mut self, request: &[u8]) -> RawResponse {
        timeout(DEADLINE, async {
            self.stream
                .get_mut()
                .write_all(request)
                .await
                .expect("send the request");
            self.read_response().await
        })
        .await
        .expect("the server answers in time")
    }

    /// Reads a status line, headers, and a body of `content-length` bytes
    /// (none for a 101, after which the connection is no longer HTTP).
    async fn read_response(&mut self) -> RawResponse {
        let status_line = self.read_line().await;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.read_line().await;
            if line.is_empty() {
                break;
            }
            headers.push(line);
        }
        let mut response = RawResponse {
            status,
            headers,
            body: String::new(),
        };
        let length: usize = response
            .header("content-length")
            .and_then(|length| length.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        self.stream
            .read_exact(&mut body)
            .await
            .expect("read the body");
        response.body = String::from_utf8_lossy(&body).into_owned();
        response
    }

    /// One line without its CRLF; the connection must not end before it.
    async fn read_line(&mut self) -> String {
        let mut line = String::new();
        let read = self
            .stream
            .read_line(&mut line)
            .await
            .expect("read the response");
        assert!(read > 0, "the server closed the connection mid-response");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }
}

/// Opens a keep-alive connection to `addr`.
pub async fn connect(addr: SocketAddr) -> RawConnection {
    let stream = timeout(DEADLINE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("the server accepts TCP connections");
    RawConnection {
        stream: BufReader::new(stream),
    }
}
