//! A WebSocket client made by hand, byte by byte, for the attack tests: it
//! can send what no well-behaved library would (unmasked frames, reserved
//! bits, unknown opcodes, invalid UTF-8, floods of pings), and it reads the
//! server's frames without answering anything by itself — so a test sees
//! exactly what the server sent, pongs and close frames included.
//!
//! The frame layout is RFC 6455 section 5.2: a byte with FIN, the three
//! reserved bits and the opcode; a byte with the MASK bit and a 7-bit length
//! (126: a 16-bit length follows, 127: a 64-bit one); the 4-byte masking key
//! when masked; then the payload, XOR-ed with the key.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::{io, net::SocketAddr};

use testkit::DEADLINE;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    time::timeout,
};

/// Opcodes (RFC 6455 section 5.2).
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The FIN bit: this frame is the last (here: the only) one of its message.
pub const FIN: u8 = 0x80;

/// The masking key of every frame this client masks. Any four bytes do; a
/// fixed key keeps the bytes of a test the same on every run.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The code of a close frame (1005, "no code", when it has none).
    pub fn close_code(&self) -> u16 {
        match self.payload.get(..2) {
            Some(&[high, low]) => u16::from_be_bytes([high, low]),
            _ => 1005,
        }
    }

    /// The reason of a close frame, as text.
    pub fn close_reason(&self) -> String {
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or_default()).into_owned()
    }

    /// The payload of a text frame, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// The bytes of one frame: `first_byte` is FIN, the reserved bits and the
/// opcode exactly as given, so a test can set what it likes; the payload is
/// masked when `masked`, as every client frame must be.
pub fn frame(first_byte: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut bytes = vec![first_byte];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        // The casts are exact: each arm's range fits its width.
        length @ 0..=125 => bytes.push(mask_bit | length as u8),
        length @ 126..=0xFFFF => {
            bytes.push(mask_bit | 126);
            bytes.extend_from_slice(&(length as u16).to_be_bytes());
        }
        length => {
            bytes.push(mask_bit | 127);
            bytes.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    if masked {
        bytes.extend_from_slice(&MASK);
        bytes.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, k)| b ^ k));
    } else {
        bytes.extend_from_slice(payload);
    }
    bytes
}

/// A well-formed client frame: final, masked, with this opcode.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(FIN | opcode, payload, true)
}

/// A client's connection, upgraded by hand, whose frames the test writes as
/// bytes.
pub struct RawClient {
    reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl RawClient {
    /// Connects, upgrades to a WebSocket at `/ws` and reads the `connect`
    /// greeting; returns the client and the id the greeting carried.
    pub async fn connect(addr: SocketAddr) -> (RawClient, String) {
        let tcp = timeout(DEADLINE, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("the server accepts TCP connections");
        let (reader, writer) = tcp.into_split();
        let mut client = RawClient {
            reader: BufReader::new(reader),
            writer,
        };
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        client.write(request.as_bytes()).await;
        let head = client.response_head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "the upgrade: {head}");
        let greeting = client.next_frame().await.expect("the connect greeting");
        let event: serde_json::Value =
            serde_json::from_slice(&greeting.payload).expect("the greeting is JSON");
        assert_eq!(event["event"], "connect", "first frame: {event}");
        let id = event["data"]["id"].as_str().expect("an id").to_owned();
        (client, id)
    }

    /// Reads the HTTP response up to its empty line, one byte at a time (it
    /// is short), so that no frame after it is read by mistake.
    async fn response_head(&mut self) -> String {
        let read = async {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(self.reader.read_u8().await?);
            }
            io::Result::Ok(String::from_utf8_lossy(&head).into_owned())
        };
        timeout(DEADLINE, read)
            .await
            .expect("the response in time")
            .expect("the server answers the upgrade")
    }

    /// Writes `bytes`, within [`DEADLINE`]; the connection must be open.
    pub async fn write(&mut self, bytes: &[u8]) {
        timeout(DEADLINE, self.writer.write_all(bytes))
            .await
            .expect("written in time")
            .expect("the connection is open");
    }

    /// The next frame from the server, or `None` once the connection has
    /// ended (closed, or reset), within [`DEADLINE`].
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        timeout(DEADLINE, read_frame(&mut self.reader))
            .await
            .expect("a frame, or the end of the connection, in time")
            .ok()
    }

    /// Every frame the server sends until the connection ends, each within
    /// [`DEADLINE`] of the one before.
    pub async fn frames_until_the_end(&mut self) -> Vec<ServerFrame> {
        frames_until_the_end(&mut self.reader).await
    }

    /// Writes `flood` while reading what the server sends, until the
    /// connection ends; returns every frame the server sent.
    ///
    /// The server may hang up before the flood is all written, so a failed
    /// write ends the writing, not the test; reading goes on until the end.
    pub async fn flood(&mut self, flood: &[u8]) -> Vec<ServerFrame> {
        let write = async {
            let _ = timeout(DEADLINE, self.writer.write_all(flood)).await;
        };
        let ((), frames) = tokio::join!(write, frames_until_the_end(&mut self.reader));
        frames
    }
}

/// Every frame from `reader` until the connection ends, each within
/// [`DEADLINE`] of the one before.
async fn frames_until_the_end(reader: &mut BufReader<OwnedReadHalf>) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    // The end may be a reset rather than a close: the server hangs up with
    // the rest of a flood unread. Either way there is nothing more to read.
    while let Ok(frame) = timeout(DEADLINE, read_frame(reader))
        .await
        .expect("a frame, or the end of the connection, in time")
    {
        frames.push(frame);
    }
    frames
}

/// Reads one unmasked server frame (the server never masks, RFC 6455 5.1).
async fn read_frame(reader: &mut BufReader<OwnedReadHalf>) -> io::Result<ServerFrame> {
    let first = reader.read_u8().await?;
    let second = reader.read_u8().await?;
    let length = match second & 0x7F {
        126 => u64::from(reader.read_u16().await?),
        127 => reader.read_u64().await?,
        length => u64::from(length),
    };
    let length = usize::try_from(length).map_err(io::Error::other)?;
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).await?;
    Ok(ServerFrame {
        opcode: first & 0x0F,
        payload,
    })
}
