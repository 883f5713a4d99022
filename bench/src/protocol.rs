//! The two chat protocols the load generator speaks, above the WebSocket layer:
//!
//! - **realtime**: this project's protocol (issue 3). The server greets with
//!   `{"event":"connect","data":{"id":"<id>"}}`; a client publishes
//!   `{"event":"message","data":"<text>"}`; everyone receives
//!   `{"event":"message","data":{"from":"<id>","text":"<text>"}}`.
//! - **socketio**: socket.io v4 over Engine.IO v4 over WebSocket. The server
//!   opens with `0{"sid":..,"pingInterval":..}`; the client joins the default
//!   namespace with `40` and is answered `40{"sid":".."}`; events travel as
//!   `42["message",<data>]`; the server pings with `2` and wants `3` back.
//!
//! Every published text is a [`Stamp`]: `@lg <sender> <sequence> <sent_ns>`.
//! It needs no escaping inside JSON, and a receiver finds it with one substring
//! search instead of parsing the whole frame, which keeps the generator cheap
//! per delivery (it shares the CPU with the server being measured).

use std::fmt;
use std::io::Write;
use std::sync::LazyLock;

use memchr::memmem;

use serde::Deserialize;

/// Which protocol to speak; chosen with `--protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Realtime,
    SocketIo,
}

impl Protocol {
    pub fn parse(name: &str) -> Option<Protocol> {
        match name {
            "realtime" => Some(Protocol::Realtime),
            "socketio" | "socket.io" => Some(Protocol::SocketIo),
            _ => None,
        }
    }

    /// The path used when `--url` gives none: `/ws` for this project, the
    /// Engine.IO WebSocket endpoint for socket.io.
    pub fn default_path(self) -> &'static str {
        match self {
            Protocol::Realtime => "/ws",
            Protocol::SocketIo => "/socket.io/?EIO=4&transport=websocket",
        }
    }

    /// Writes the frame text that publishes `stamp` as a chat message into
    /// `out` (cleared first, so one buffer serves every send).
    pub fn encode_publish(self, stamp: Stamp, out: &mut Vec<u8>) {
        out.clear();
        // Writing into a Vec cannot fail.
        let _ = match self {
            Protocol::Realtime => write!(out, r#"{{"event":"message","data":"{stamp}"}}"#),
            Protocol::SocketIo => write!(out, r#"42["message","{stamp}"]"#),
        };
    }

    /// Sorts one received text message into what the generator cares about.
    pub fn classify(self, text: &[u8]) -> Incoming {
        if let Some(stamp) = Stamp::find_in(text) {
            return Incoming::Delivery(stamp);
        }
        match self {
            Protocol::Realtime => {
                if memmem::find(text, br#""event":"error""#).is_some() {
                    Incoming::ServerError
                } else {
                    Incoming::Other
                }
            }
            Protocol::SocketIo => match text {
                b"2" => Incoming::Ping,
                // "41": the server disconnected us from the namespace;
                // "44...": it refused us (connect_error); "1": Engine.IO close.
                b"41" | b"1" => Incoming::Closed,
                _ if text.starts_with(b"44") => Incoming::ServerError,
                _ => Incoming::Other,
            },
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Realtime => "realtime",
            Protocol::SocketIo => "socketio",
        })
    }
}

/// What a received text message means to the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A chat message published by one of our senders.
    Delivery(Stamp),
    /// Engine.IO ping: answer with [`ENGINE_IO_PONG`] or the server drops us.
    Ping,
    /// The server said it is closing this client.
    Closed,
    /// An `error` event (realtime) or `connect_error` (socket.io): counted and
    /// reported, because a limit or rate policy firing changes what a run means.
    ServerError,
    /// Anything else (another event, a namespace ack): ignored.
    Other,
}

/// The Engine.IO pong packet, the answer to a `2` ping.
pub const ENGINE_IO_PONG: &[u8] = b"3";
/// The socket.io packet that joins the default namespace `/`.
pub const SOCKET_IO_CONNECT: &[u8] = b"40";

/// Who sent a message, which of theirs it is, and when it left, in
/// nanoseconds on the generator's monotonic clock (`clock.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u32,
    pub sequence: u64,
    pub sent_ns: u64,
}

/// The marker that starts every stamp. Chosen so it cannot appear in the JSON
/// around it by accident.
const STAMP_MARKER: &[u8] = b"@lg ";

/// A searcher for [`STAMP_MARKER`], built once: `memmem::find` would build a
/// new one for every delivery.
static STAMP_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(STAMP_MARKER));

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@lg {} {} {}", self.sender, self.sequence, self.sent_ns)
    }
}

impl Stamp {
    /// Finds a stamp anywhere in `text`, whatever JSON surrounds it and in
    /// whatever order the server wrote the object's keys.
    pub fn find_in(text: &[u8]) -> Option<Stamp> {
        let start = STAMP_FINDER.find(text)? + STAMP_MARKER.len();
        let mut rest = &text[start..];
        let sender = take_number(&mut rest)?;
        let sequence = take_number(&mut rest)?;
        let sent_ns = take_number(&mut rest)?;
        Some(Stamp {
            sender: u32::try_from(sender).ok()?,
            sequence,
            sent_ns,
        })
    }
}

/// Reads decimal digits from the front of `rest`, then skips one separator.
fn take_number(rest: &mut &[u8]) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in &rest[..digits] {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    *rest = rest.get(digits + 1..).unwrap_or_default();
    Some(value)
}

/// Why the first messages of a connection could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingError(pub String);

impl fmt::Display for GreetingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GreetingError {}

/// Reads this project's greeting, `{"event":"connect","data":{"id":"<id>"}}`,
/// and returns the id. Parsed fully with serde: it happens once per client.
pub fn parse_realtime_connect(text: &[u8]) -> Result<String, GreetingError> {
    #[derive(Deserialize)]
    struct Connect {
        event: String,
        data: ConnectData,
    }
    #[derive(Deserialize)]
    struct ConnectData {
        id: String,
    }
    let connect: Connect = serde_json::from_slice(text).map_err(|error| {
        GreetingError(format!(
            "expected {{\"event\":\"connect\",\"data\":{{\"id\":..}}}} first, got {:?} ({error})",
            String::from_utf8_lossy(text)
        ))
    })?;
    if connect.event != "connect" {
        return Err(GreetingError(format!(
            "expected the connect event first, got {:?}",
            connect.event
        )));
    }
    Ok(connect.data.id)
}

/// The Engine.IO v4 open packet, `0{"sid":..,"pingInterval":..,..}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineIoOpen {
    pub sid: String,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for our pong before dropping us.
    pub ping_timeout: u64,
    /// Largest packet the server accepts, in bytes.
    #[serde(default)]
    pub max_payload: Option<u64>,
}

/// Parses the Engine.IO open packet (type `0` followed by JSON).
pub fn parse_engine_io_open(text: &[u8]) -> Result<EngineIoOpen, GreetingError> {
    let Some(json) = text.strip_prefix(b"0") else {
        return Err(GreetingError(format!(
            "expected the Engine.IO open packet `0{{..}}`, got {:?}",
            String::from_utf8_lossy(text)
        )));
    };
    serde_json::from_slice(json)
        .map_err(|error| GreetingError(format!("the Engine.IO open packet is not valid: {error}")))
}

/// Parses the namespace ack `40{"sid":".."}` and returns the socket id (the
/// `socket.id` the server will put in `from`). `Ok(None)` for other packets
/// that may legally come first (a ping).
pub fn parse_socket_io_connect_ack(text: &[u8]) -> Result<Option<String>, GreetingError> {
    #[derive(Deserialize)]
    struct Ack {
        sid: String,
    }
    if let Some(json) = text.strip_prefix(b"40") {
        let ack: Ack = serde_json::from_slice(json).map_err(|error| {
            GreetingError(format!("the socket.io connect ack is not valid: {error}"))
        })?;
        return Ok(Some(ack.sid));
    }
    if text.starts_with(b"44") {
        return Err(GreetingError(format!(
            "socket.io refused the connection: {}",
            String::from_utf8_lossy(text)
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        sender: 3,
        sequence: 41,
        sent_ns: 1_234_567_890,
    };

    /// Publishing in the realtime protocol is the `message` event with the stamp as data.
    #[test]
    fn encodes_realtime_publish() {
        let mut out = b"stale".to_vec();
        Protocol::Realtime.encode_publish(STAMP, &mut out);
        assert_eq!(out, br#"{"event":"message","data":"@lg 3 41 1234567890"}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["data"], "@lg 3 41 1234567890");
    }

    /// Publishing in socket.io is an EVENT packet (`42`) with a JSON array.
    #[test]
    fn encodes_socket_io_publish() {
        let mut out = Vec::new();
        Protocol::SocketIo.encode_publish(STAMP, &mut out);
        assert_eq!(out, br#"42["message","@lg 3 41 1234567890"]"#);
    }

    /// The server's rebroadcast is recognised in both protocols, whatever the key order.
    #[test]
    fn finds_deliveries_in_both_protocols() {
        let frames: [&[u8]; 3] = [
            br#"{"event":"message","data":{"from":"a1","text":"@lg 3 41 1234567890"}}"#,
            br#"{"data":{"text":"@lg 3 41 1234567890","from":"a1"},"event":"message"}"#,
            br#"42["message",{"from":"Xy_z","text":"@lg 3 41 1234567890"}]"#,
        ];
        for frame in frames {
            assert_eq!(
                Protocol::Realtime.classify(frame),
                Incoming::Delivery(STAMP)
            );
        }
    }

    /// Truncated or foreign texts are not mistaken for deliveries.
    #[test]
    fn ignores_texts_without_a_full_stamp() {
        assert_eq!(Stamp::find_in(b"@lg 3 41"), None);
        assert_eq!(Stamp::find_in(b"hello"), None);
        assert_eq!(
            Stamp::find_in(b"@lg 99999999999 1 1"),
            None,
            "sender overflows u32"
        );
    }

    /// Control packets and error events are classified, not ignored.
    #[test]
    fn classifies_control_packets() {
        assert_eq!(Protocol::SocketIo.classify(b"2"), Incoming::Ping);
        assert_eq!(Protocol::SocketIo.classify(b"41"), Incoming::Closed);
        assert_eq!(
            Protocol::SocketIo.classify(br#"44{"message":"no"}"#),
            Incoming::ServerError
        );
        assert_eq!(
            Protocol::Realtime.classify(br#"{"event":"error","data":{"message":"slow down"}}"#),
            Incoming::ServerError
        );
        assert_eq!(
            Protocol::Realtime.classify(br#"{"event":"other"}"#),
            Incoming::Other
        );
    }

    /// The realtime greeting yields the client's id; anything else is a clear error.
    #[test]
    fn parses_the_realtime_greeting() {
        assert_eq!(
            parse_realtime_connect(br#"{"event":"connect","data":{"id":"k3_x"}}"#).unwrap(),
            "k3_x"
        );
        assert!(parse_realtime_connect(br#"{"event":"message","data":{"id":"k"}}"#).is_err());
        assert!(parse_realtime_connect(b"nope").is_err());
    }

    /// The Engine.IO open packet as socket.io 4 sends it.
    #[test]
    fn parses_the_engine_io_open_packet() {
        let open = parse_engine_io_open(
            br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(
            open,
            EngineIoOpen {
                sid: "lv_VI97HAXpY6yYWAAAC".into(),
                ping_interval: 25_000,
                ping_timeout: 20_000,
                max_payload: Some(1_000_000),
            }
        );
        assert!(parse_engine_io_open(br#"40{"sid":"x"}"#).is_err());
        assert!(parse_engine_io_open(b"0{").is_err());
    }

    /// The namespace ack yields the socket id; a ping before it is skipped; 44 is refusal.
    #[test]
    fn parses_the_socket_io_connect_ack() {
        assert_eq!(
            parse_socket_io_connect_ack(br#"40{"sid":"abc"}"#).unwrap(),
            Some("abc".into())
        );
        assert_eq!(parse_socket_io_connect_ack(b"2").unwrap(), None);
        assert!(parse_socket_io_connect_ack(br#"44{"message":"Invalid namespace"}"#).is_err());
    }
}
