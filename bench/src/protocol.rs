//! The three chat protocols the load generator speaks, above the WebSocket layer:
//!
//! - **realtime**: this project's protocol (issue 3), steps 04 to 08. The
//!   server greets with `{"event":"connect","data":{"id":"<id>"}}`; a client
//!   publishes `{"event":"message","data":"<text>"}`; everyone receives
//!   `{"event":"message","data":{"from":"<id>","text":"<text>"}}`.
//! - **rooms**: step 09's chat room (issue 12), the same envelope plus
//!   acknowledgements. After the greeting a client must
//!   `{"event":"join","data":{"nickname":"..","room":".."},"ack":n}` and is
//!   answered `{"ack":n,"data":{"nickname","room","users":[..]}}`. A message
//!   sent with `"ack":n` goes to everyone *else* in the room as
//!   `{"event":"message","data":{"id","room","from","text","at"}}`, and the
//!   sender gets `{"ack":n,"data":{"id","at"}}` instead of an echo (or
//!   `{"ack":n,"error":{..}}` if it was refused). `typing` true/false reaches
//!   the others as `{"event":"typing",..}`; `joined`/`left` notices come and
//!   go. Only the stamps and the acks matter to the measurement.
//! - **socketio**: socket.io v4 over Engine.IO v4 over WebSocket. The server
//!   opens with `0{"sid":..,"pingInterval":..}`; the client joins the default
//!   namespace with `40` and is answered `40{"sid":".."}`; events travel as
//!   `42["message",<data>]`; the server pings with `2` and wants `3` back.
//!
//! With `--client-offsets` a message is sent as step 10's page and the
//! socket.io tutorial's step 8 send it: with a client offset, unique per
//! connection and message (`<server id>-<sequence>`), and asking for an
//! acknowledgement. In the rooms protocol the data becomes
//! `{"text":"<text>","client_offset":".."}`; in socket.io the packet becomes
//! `42<n>["message","<text>",".."]`, answered `43<n>[..]` (the tutorial's
//! `callback()`). Step 10 and the Node SQLite server acknowledge a message
//! once it is committed to the database, so acks per second are committed
//! messages per second.
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
    Rooms,
}

impl Protocol {
    pub fn parse(name: &str) -> Option<Protocol> {
        match name {
            "realtime" => Some(Protocol::Realtime),
            "socketio" | "socket.io" => Some(Protocol::SocketIo),
            "rooms" => Some(Protocol::Rooms),
            _ => None,
        }
    }

    /// The path used when `--url` gives none: `/ws` for this project, the
    /// Engine.IO WebSocket endpoint for socket.io.
    pub fn default_path(self) -> &'static str {
        match self {
            Protocol::Realtime | Protocol::Rooms => "/ws",
            Protocol::SocketIo => "/socket.io/?EIO=4&transport=websocket",
        }
    }

    /// Writes the frame text that publishes `stamp` as a chat message into
    /// `out` (cleared first, so one buffer serves every send).
    ///
    /// In the rooms protocol the message asks for an acknowledgement, as step
    /// 09's page does, numbered `sequence + 1` (ack numbers start at 1): the
    /// ack is what tells a flat-out sender that it may send the next one.
    /// With an `offset` ([`ClientOffset`], `--client-offsets`) it also
    /// carries its client offset, and in socket.io it asks for an ack too.
    pub fn encode_publish(self, stamp: Stamp, offset: Option<&ClientOffset>, out: &mut Vec<u8>) {
        out.clear();
        let ack = stamp.sequence + 1;
        let sequence = stamp.sequence;
        // Writing into a Vec cannot fail.
        let _ = match (self, offset) {
            (Protocol::Realtime, _) => write!(out, r#"{{"event":"message","data":"{stamp}"}}"#),
            (Protocol::SocketIo, None) => write!(out, r#"42["message","{stamp}"]"#),
            (Protocol::SocketIo, Some(offset)) => write!(
                out,
                r#"42{ack}["message","{stamp}","{}-{sequence}"]"#,
                offset.prefix()
            ),
            (Protocol::Rooms, None) => {
                write!(out, r#"{{"event":"message","data":"{stamp}","ack":{ack}}}"#)
            }
            (Protocol::Rooms, Some(offset)) => write!(
                out,
                r#"{{"event":"message","data":{{"text":"{stamp}","client_offset":"{}-{sequence}"}},"ack":{ack}}}"#,
                offset.prefix()
            ),
        };
    }

    /// Whether this protocol can carry client offsets (`--client-offsets`):
    /// step 10's rooms and the socket.io tutorial's step 8 can; this
    /// project's plain protocol (steps 04 to 08) has no acknowledgements.
    pub fn has_client_offsets(self) -> bool {
        self != Protocol::Realtime
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
            Protocol::Rooms => classify_rooms(text),
            Protocol::SocketIo => match text {
                b"2" => Incoming::Ping,
                // "41": the server disconnected us from the namespace;
                // "44...": it refused us (connect_error); "1": Engine.IO close.
                b"41" | b"1" => Incoming::Closed,
                _ if text.starts_with(b"44") => Incoming::ServerError,
                // "43<n>[..]": the acknowledgement of our packet `42<n>`.
                _ if text.starts_with(b"43") => Incoming::Acked {
                    refused: false,
                    retry: false,
                    number: take_number(&mut &text[2..]),
                },
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
            Protocol::Rooms => "rooms",
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
    /// The answer to one of our messages (the rooms protocol's, or
    /// socket.io's `43<n>`): `refused` when it came with an `error` instead
    /// of `data` (the message reached nobody); `retry` when the refusal says
    /// the message may be sent again (step 11 while its Redis is away:
    /// `"retry":true`), and the generator then sends it again; `number` is
    /// the ack number, which says which message it answers.
    Acked {
        refused: bool,
        retry: bool,
        number: Option<u64>,
    },
    /// A rooms `typing` notice: counted, never measured.
    Typing,
    /// Anything else (another event, a namespace ack, `joined`/`left`): ignored.
    Other,
}

/// Sorts a rooms-protocol frame that carries no stamp. Substring tests, not
/// JSON parsing, as for deliveries: step 09 writes compact JSON (serde), its
/// events start with their `"event"` name, and of the other frames only
/// acknowledgements have an `"ack":` key.
fn classify_rooms(text: &[u8]) -> Incoming {
    if text.starts_with(br#"{"event":"#) {
        if text.starts_with(br#"{"event":"typing""#) {
            Incoming::Typing
        } else if text.starts_with(br#"{"event":"error""#) {
            Incoming::ServerError
        } else {
            Incoming::Other
        }
    } else if let Some(at) = memmem::find(text, br#""ack":"#) {
        let refused = memmem::find(text, br#""error":"#).is_some();
        let mut number = &text[at + br#""ack":"#.len()..];
        Incoming::Acked {
            refused,
            retry: refused && memmem::find(text, br#""retry":true"#).is_some(),
            number: take_number(&mut number),
        }
    } else {
        Incoming::Other
    }
}

/// The typing notice every rooms client sends `--typing-per-second` times a
/// second, alternately `true` and `false`; never acknowledged.
pub fn encode_typing(typing: bool) -> &'static [u8] {
    if typing {
        br#"{"event":"typing","data":true}"#
    } else {
        br#"{"event":"typing","data":false}"#
    }
}

/// The ack number of the `join` frame. Messages are numbered from 1 too
/// (`sequence + 1`), but the join is answered before the first message is
/// sent, so the two can never be confused.
pub const JOIN_ACK: u64 = 1;

/// The rooms protocol's `join` frame for `nickname` and `room`.
pub fn encode_join(nickname: &str, room: &str) -> Vec<u8> {
    serde_json::json!({
        "event": "join",
        "data": { "nickname": nickname, "room": room },
        "ack": JOIN_ACK,
    })
    .to_string()
    .into_bytes()
}

/// What the answer to a `join` said: how many users the room has, and in
/// step 10 the session's secret and whether an earlier session was taken
/// back (step 09 sends neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinReply {
    pub users: usize,
    pub session: Option<String>,
    pub recovered: bool,
}

/// Step 10's `join` of a client coming back: its nickname and room, the
/// session's secret from an earlier answer, and the id of the last message
/// it saw, so the server sends every one after it.
pub fn encode_rejoin(nickname: &str, room: &str, session: &str, last_id: i64) -> Vec<u8> {
    serde_json::json!({
        "event": "join",
        "data": {
            "nickname": nickname,
            "room": room,
            "session": session,
            "last_id": last_id.to_string(),
        },
        "ack": JOIN_ACK,
    })
    .to_string()
    .into_bytes()
}

/// Reads one frame received while waiting for the answer to our `join`:
/// `Ok(Some(reply))` once it came (and names the room we asked for),
/// `Ok(None)` for anything else (others' `joined` notices), and an error,
/// with the server's sentence, if it refused us or does not speak the rooms
/// protocol at all.
pub fn parse_join_reply(text: &[u8], room: &str) -> Result<Option<JoinReply>, GreetingError> {
    let is_ack = memmem::find(text, br#""ack":"#).is_some();
    if !is_ack && !text.starts_with(br#"{"event":"error""#) {
        return Ok(None);
    }
    let reply: serde_json::Value = serde_json::from_slice(text).map_err(|error| {
        GreetingError(format!(
            "the answer to join is not JSON ({error}): {:?}",
            String::from_utf8_lossy(text)
        ))
    })?;
    // A refusal is `{"ack":n,"error":{"message":..}}`; a server without rooms
    // (step 08) answers the unknown event with `{"event":"error",..}` instead.
    let refusal = if reply["event"] == "error" {
        Some(&reply["data"]["message"])
    } else {
        reply.get("error").map(|error| &error["message"])
    };
    if let Some(sentence) = refusal {
        return Err(GreetingError(format!(
            "the server refused the join: {} (does it speak step 09's rooms protocol?)",
            sentence.as_str().unwrap_or("(no message)")
        )));
    }
    let data = &reply["data"];
    if data["room"] != room {
        return Err(GreetingError(format!(
            "asked to join room {room:?}, but the ack says {}",
            data["room"]
        )));
    }
    Ok(Some(JoinReply {
        users: data["users"].as_array().map_or(0, Vec::len),
        session: data["session"].as_str().map(str::to_owned),
        recovered: data["recovered"] == true,
    }))
}

/// A step 10 chat message's id, or the id in a message's acknowledgement:
/// `{"event":"message","data":{"id":"17",..}}` or `{"ack":n,"data":{"id":"17",..}}`.
/// `None` for any other frame. Parsed fully, so for the recovery
/// measurement only, never on a run's hot path.
pub fn parse_message_id(text: &[u8]) -> Option<i64> {
    let frame: serde_json::Value = serde_json::from_slice(text).ok()?;
    let is_message = frame["event"] == "message" || frame.get("ack").is_some();
    let id = frame["data"]["id"].as_str()?;
    is_message.then(|| id.parse().ok()).flatten()
}

/// Whether a frame is step 10's `skipped` notice: the client was further
/// behind than the server's `REPLAY_CAP`, and the oldest were not sent.
pub fn is_skipped_notice(text: &[u8]) -> bool {
    text.starts_with(br#"{"event":"skipped""#)
}

/// The first part of every client offset a client sends: the id the server
/// gave its connection, so that offsets never repeat across connections, runs
/// or rounds against one database (the socket.io tutorial's client uses
/// `${socket.id}-${counter}` for the same reason). The sequence number of the
/// message follows it, after a dash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOffset(String);

impl ClientOffset {
    /// Longest prefix kept: with a dash and up to 20 digits of sequence, an
    /// offset stays within step 10's limit of 64 characters.
    pub const MAX_PREFIX_CHARS: usize = 40;

    /// The prefix for a connection the server called `server_id`, keeping
    /// only characters that need no escaping in JSON (`A-Z a-z 0-9 - _`:
    /// step 10's ids and socket.io's are made of them); `lg<index>` if none
    /// is left.
    pub fn for_connection(server_id: &str, index: u32) -> ClientOffset {
        let kept: String = server_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(Self::MAX_PREFIX_CHARS)
            .collect();
        ClientOffset(if kept.is_empty() {
            format!("lg{index}")
        } else {
            kept
        })
    }

    pub fn prefix(&self) -> &str {
        &self.0
    }
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
        Protocol::Realtime.encode_publish(STAMP, None, &mut out);
        assert_eq!(out, br#"{"event":"message","data":"@lg 3 41 1234567890"}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["data"], "@lg 3 41 1234567890");
    }

    /// Publishing in socket.io is an EVENT packet (`42`) with a JSON array.
    #[test]
    fn encodes_socket_io_publish() {
        let mut out = Vec::new();
        Protocol::SocketIo.encode_publish(STAMP, None, &mut out);
        assert_eq!(out, br#"42["message","@lg 3 41 1234567890"]"#);
    }

    /// With client offsets, a socket.io message asks for an ack (`42<n>`)
    /// and carries its offset as the tutorial's second argument; its ack
    /// (`43<n>[]`) is classified as one.
    #[test]
    fn socket_io_messages_with_client_offsets_ask_for_an_ack() {
        let offset = ClientOffset::for_connection("Xy_z-9", 3);
        let mut out = Vec::new();

        Protocol::SocketIo.encode_publish(STAMP, Some(&offset), &mut out);

        assert_eq!(out, br#"4242["message","@lg 3 41 1234567890","Xy_z-9-41"]"#);
        assert_eq!(
            Protocol::SocketIo.classify(b"4342[]"),
            Incoming::Acked {
                refused: false,
                retry: false,
                number: Some(42)
            }
        );
    }

    /// With client offsets, a rooms message is step 10's object form, valid
    /// JSON, with the offset unique per connection and message.
    #[test]
    fn rooms_messages_with_client_offsets_use_step_10s_object_form() {
        let offset = ClientOffset::for_connection("7-3f9a0c1d2e4b5a", 3);
        let mut out = Vec::new();

        Protocol::Rooms.encode_publish(STAMP, Some(&offset), &mut out);

        let frame: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            frame,
            serde_json::json!({
                "event": "message",
                "data": {"text": "@lg 3 41 1234567890", "client_offset": "7-3f9a0c1d2e4b5a-41"},
                "ack": 42,
            })
        );
    }

    /// A server id with characters JSON would need escaped is cleaned, and
    /// a long one cut, so an offset is always valid and at most 64 characters.
    #[test]
    fn client_offsets_stay_plain_and_short() {
        let dirty = ClientOffset::for_connection(r#"a"b\c"#, 5);
        let empty = ClientOffset::for_connection(r#""""#, 5);
        let long = ClientOffset::for_connection(&"x".repeat(200), 5);

        assert_eq!(dirty.prefix(), "abc");
        assert_eq!(empty.prefix(), "lg5");
        assert!(long.prefix().len() + 1 + u64::MAX.to_string().len() <= 64);
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

    /// A rooms message asks for an ack numbered one past its sequence, and
    /// a step 09 delivery (more keys, the nickname in `from`) is still found.
    #[test]
    fn rooms_messages_ask_for_an_ack() {
        let mut out = Vec::new();

        Protocol::Rooms.encode_publish(STAMP, None, &mut out);
        let delivery = br#"{"event":"message","data":{"id":"7","room":"lg-0","from":"lg3","text":"@lg 3 41 1234567890","at":1700000000000}}"#;

        assert_eq!(
            out,
            br#"{"event":"message","data":"@lg 3 41 1234567890","ack":42}"#
        );
        assert_eq!(
            Protocol::Rooms.classify(delivery),
            Incoming::Delivery(STAMP)
        );
    }

    /// Acks, refusals, typing notices and error events are told apart;
    /// `joined` notices are ignored.
    #[test]
    fn classifies_rooms_frames() {
        let classify = |text: &[u8]| Protocol::Rooms.classify(text);

        assert_eq!(
            classify(br#"{"ack":42,"data":{"id":"7","at":1700000000000}}"#),
            Incoming::Acked {
                refused: false,
                retry: false,
                number: Some(42)
            }
        );
        assert_eq!(
            classify(br#"{"ack":42,"error":{"message":"join a room first"}}"#),
            Incoming::Acked {
                refused: true,
                retry: false,
                number: Some(42)
            }
        );
        // Step 11 while its Redis is away: the message may be sent again.
        assert_eq!(
            classify(
                br#"{"ack":7,"error":{"message":"this node cannot reach Redis; send it again","retry":true}}"#
            ),
            Incoming::Acked {
                refused: true,
                retry: true,
                number: Some(7)
            }
        );
        assert_eq!(
            classify(br#"{"event":"typing","data":{"nickname":"lg2","typing":true}}"#),
            Incoming::Typing
        );
        assert_eq!(
            classify(br#"{"event":"error","data":{"message":"slow down"}}"#),
            Incoming::ServerError
        );
        assert_eq!(
            classify(br#"{"event":"joined","data":{"nickname":"lg2","room":"lg-0"}}"#),
            Incoming::Other
        );
    }

    /// The join frame is valid JSON in step 09's shape, and typing is a bare boolean.
    #[test]
    fn encodes_join_and_typing() {
        let join: serde_json::Value = serde_json::from_slice(&encode_join("lg3", "lg-0")).unwrap();

        assert_eq!(
            join,
            serde_json::json!({"event": "join", "data": {"nickname": "lg3", "room": "lg-0"}, "ack": 1})
        );
        assert_eq!(encode_typing(true), br#"{"event":"typing","data":true}"#);
        assert_eq!(encode_typing(false), br#"{"event":"typing","data":false}"#);
    }

    /// The join ack counts the room's users; notices before it are skipped;
    /// a refusal, a wrong room or a server without rooms is a clear error.
    #[test]
    fn parses_the_join_reply() {
        let ack = br#"{"ack":1,"data":{"nickname":"lg3","room":"lg-0","users":["lg0","lg3"]}}"#;
        let refused = br#"{"ack":1,"error":{"message":"the nickname lg3 is taken"}}"#;
        let step_08 = br#"{"event":"error","data":{"message":"unknown event \"join\""}}"#;
        let notice = br#"{"event":"joined","data":{"nickname":"lg4","room":"lg-0"}}"#;

        let two_users = JoinReply {
            users: 2,
            session: None,
            recovered: false,
        };
        assert_eq!(parse_join_reply(ack, "lg-0"), Ok(Some(two_users)));
        assert_eq!(parse_join_reply(notice, "lg-0"), Ok(None));
        assert!(
            parse_join_reply(refused, "lg-0")
                .unwrap_err()
                .0
                .contains("lg3 is taken")
        );
        assert!(
            parse_join_reply(step_08, "lg-0")
                .unwrap_err()
                .0
                .contains("unknown event")
        );
        assert!(
            parse_join_reply(ack, "lg-1")
                .unwrap_err()
                .0
                .contains("lg-1")
        );
    }

    /// Step 10's join answer gives the session and says whether it was
    /// taken back; a rejoin carries the session and the last id seen.
    #[test]
    fn step_10s_join_answer_and_rejoin() {
        let ack = br#"{"ack":1,"data":{"nickname":"rc","room":"r","users":["rc"],"session":"s3cret","recovered":true}}"#;

        let reply = parse_join_reply(ack, "r").unwrap().unwrap();
        let rejoin: serde_json::Value =
            serde_json::from_slice(&encode_rejoin("rc", "r", "s3cret", 42)).unwrap();

        assert_eq!(reply.session.as_deref(), Some("s3cret"));
        assert!(reply.recovered);
        assert_eq!(rejoin["data"]["session"], "s3cret");
        assert_eq!(rejoin["data"]["last_id"], "42");
        assert_eq!(rejoin["ack"], JOIN_ACK);
    }

    /// Message ids are read from message events and message acks only.
    #[test]
    fn reads_step_10s_message_ids() {
        let event =
            br#"{"event":"message","data":{"id":"17","room":"r","from":"w","text":"x","at":1}}"#;
        let ack = br#"{"ack":5,"data":{"id":"18","at":1}}"#;
        let private = br#"{"event":"private","data":{"id":"19"}}"#;

        assert_eq!(parse_message_id(event), Some(17));
        assert_eq!(parse_message_id(ack), Some(18));
        assert_eq!(parse_message_id(private), None);
        assert!(is_skipped_notice(
            br#"{"event":"skipped","data":{"room":"r","count":3}}"#
        ));
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
