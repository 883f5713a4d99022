//! The wire protocol: what travels inside the WebSocket, both ways.
//!
//! Every frame is a text frame holding one JSON object, the "envelope":
//!
//! ```text
//! {"event": "<name>", "data": <any JSON>}      ("data" may be left out: null)
//! {"event": "<name>", "data": ..., "ack": n}   (the client wants an answer)
//! {"ack": n, "data": <result>}                 (the answer: done)
//! {"ack": n, "error": {"message": "..."}}      (the answer: refused, and why)
//! ```
//!
//! The `ack` is socket.io's acknowledgement, `socket.emit(event, data,
//! callback)`: a frame that carries `"ack": n` (a whole number from 1 to
//! 2^53 − 1, so JavaScript holds it exactly) gets exactly one answer with
//! the same `n`, and a refusal goes in that answer instead of an `error`
//! event. [`parse_client_frame`] reads the `ack` first, so even a frame
//! refused for its event or data is answered on it.
//!
//! This is the shape socket.io gives you with `socket.emit(event, data)`;
//! `public/socket.js` packs and unpacks it in the browser. This module does the
//! same on the server: [`parse_client_frame`] turns a client's text frame into a
//! [`ClientEvent`] or a [`ProtocolError`] worded for a person, and
//! [`ServerEvent::to_json`] turns what the server wants to say into a frame.
//! See `notes/04-connect-logging.md` for the envelope and
//! `notes/09-chat-room.md` for the events of the chat room.

use std::{fmt, ops::RangeInclusive};

use serde::Serialize;
use serde_json::{Value, json};

use crate::ids::ConnectionId;

/// An event a client may send.
///
/// Each variant has a line in [`parse_client_frame`]; any other event name is
/// an "unknown event" (step 06's `fromClient` is one now: its button is gone).
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// `{"event":"join","data":{"nickname":"<name>","room":"<room>"}}`: take
    /// this nickname and go into this room (`general` when left out). The
    /// names are checked by [`crate::names`].
    ///
    /// Step 10 adds two optional fields: `"session"`, the secret of an
    /// earlier join's answer (to take that session back), and `"last_id"`,
    /// the id of the last message this client saw (to get every one after
    /// it).
    Join {
        nickname: String,
        room: Option<String>,
        session: Option<String>,
        last_id: Option<i64>,
    },
    /// `{"event":"message","data":"<text>"}`: say `text` to the room. Or
    /// `{"text": "<text>", "client_offset": "<its own id>"}`, so that a
    /// retry of the same message is recognised and delivered once. The text
    /// always has something visible in it (see [`has_something_visible`]).
    Message {
        text: String,
        client_offset: Option<String>,
    },
    /// `{"event":"typing","data":true}`: this client started (or, `false`,
    /// stopped) typing.
    Typing { typing: bool },
    /// `{"event":"private","data":{"to":"<nickname>","text":"<text>"}}`: a
    /// message for one person only.
    Private {
        to: String,
        text: String,
        client_offset: Option<String>,
    },
}

/// The longest `client_offset`, in characters.
pub const MAX_CLIENT_OFFSET_CHARS: usize = 64;

/// The number a client gave a frame to have it answered: `"ack": n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack(u64);

impl Ack {
    /// The largest `ack`: 2^53 − 1, the largest whole number a JavaScript
    /// number holds exactly.
    pub const MAX: u64 = (1 << 53) - 1;
}

/// A client's frame that the server understood: what it asks, and whether
/// it wants an answer.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFrame {
    pub event: ClientEvent,
    pub ack: Option<Ack>,
}

/// A client's frame that the server refused: why, and the `ack` to answer
/// on, if the frame had a good one.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub error: ProtocolError,
    pub ack: Option<Ack>,
}

/// An event the server sends.
#[derive(Debug)]
pub enum ServerEvent {
    /// Sent once, right after the upgrade: "you are connected, and this is
    /// your id" (socket.io's built-in `connect`, which sets `socket.id`).
    Connect { id: ConnectionId },
    /// A chat message, sent to everyone in the room but its writer:
    /// `{"event":"message","data":{"id","room","from","text","at"}}`, `from`
    /// being the writer's nickname as the server knows it, `at` the server's
    /// time in milliseconds since the Unix epoch.
    Message {
        id: String,
        room: String,
        from: String,
        text: String,
        at: u64,
    },
    /// A returning client was further behind than `REPLAY_CAP`: `count`
    /// older messages of `room` are not sent, only the newest.
    Skipped { room: String, count: u64 },
    /// Someone came into the room: `{"event":"joined","data":{"nickname","room"}}`.
    Joined { nickname: String, room: String },
    /// Someone left the room, for another one or for good.
    Left { nickname: String, room: String },
    /// Someone in the room started or stopped typing.
    Typing { nickname: String, typing: bool },
    /// A message for one person: `{"event":"private","data":{"id","from",
    /// "to","text","at"}}`.
    Private {
        id: String,
        from: String,
        to: String,
        text: String,
        at: u64,
    },
    /// A frame from this client could not be accepted, or this client missed
    /// messages; the connection stays open.
    Error { message: String },
}

/// The envelope as it goes out, fields in this order:
/// `{"event": ..., "data": ...}` (a `json!` object would sort them).
#[derive(Serialize)]
struct Envelope<'a> {
    event: &'a str,
    /// Left out when there is nothing to say, as in `{"event":"fromServer"}`
    /// (step 05); the client reads a missing "data" as null.
    #[serde(skip_serializing_if = "Value::is_null")]
    data: Value,
}

impl ServerEvent {
    /// The event's name on the wire, the first argument of `socket.on` in the browser.
    pub fn name(&self) -> &'static str {
        match self {
            ServerEvent::Connect { .. } => "connect",
            ServerEvent::Message { .. } => "message",
            ServerEvent::Skipped { .. } => "skipped",
            ServerEvent::Joined { .. } => "joined",
            ServerEvent::Left { .. } => "left",
            ServerEvent::Typing { .. } => "typing",
            ServerEvent::Private { .. } => "private",
            ServerEvent::Error { .. } => "error",
        }
    }

    /// The text of the frame that carries this event.
    pub fn to_json(&self) -> String {
        let data = match self {
            ServerEvent::Connect { id } => json!({ "id": id.as_str() }),
            ServerEvent::Message {
                id,
                room,
                from,
                text,
                at,
            } => json!({ "id": id, "room": room, "from": from, "text": text, "at": at }),
            ServerEvent::Skipped { room, count } => json!({ "room": room, "count": count }),
            ServerEvent::Joined { nickname, room } | ServerEvent::Left { nickname, room } => {
                json!({ "nickname": nickname, "room": room })
            }
            ServerEvent::Typing { nickname, typing } => {
                json!({ "nickname": nickname, "typing": typing })
            }
            ServerEvent::Private {
                id,
                from,
                to,
                text,
                at,
            } => json!({ "id": id, "from": from, "to": to, "text": text, "at": at }),
            ServerEvent::Error { message } => json!({ "message": message }),
        };
        let envelope = Envelope {
            event: self.name(),
            data,
        };
        // serde_json fails only on map keys that are not strings or on a
        // type whose `Serialize` reports an error; a `&str` and a `Value` have
        // neither, so this cannot panic.
        serde_json::to_string(&envelope).expect("an envelope always serialises")
    }
}

/// Why an event was refused: the sentence for a person, and whether the
/// very same frame may simply be sent again in a moment (step 11: while
/// this node cannot reach Redis, nothing is stored, and a retry with the
/// same `client_offset` will be, once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub retry: bool,
}

impl Refusal {
    /// A refusal worth retrying as it is, in a moment.
    pub fn try_again(message: String) -> Refusal {
        Refusal {
            message,
            retry: true,
        }
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal {
            message,
            retry: false,
        }
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Refusal {
        Refusal::from(message.to_owned())
    }
}

/// The one answer to a frame that carried `"ack": n`.
#[derive(Debug)]
pub struct AckReply {
    pub ack: Ack,
    /// What the event gave (`data`), or why it was refused (`error`).
    pub result: Result<Value, Refusal>,
}

impl AckReply {
    /// The text of the frame: `{"ack":n,"data":...}` or
    /// `{"ack":n,"error":{"message":...}}`, with `"retry":true` in the
    /// error when the same frame may be sent again.
    pub fn to_json(&self) -> String {
        let reply = match &self.result {
            Ok(data) => json!({ "ack": self.ack.0, "data": data }),
            Err(Refusal {
                message,
                retry: false,
            }) => json!({ "ack": self.ack.0, "error": { "message": message } }),
            Err(Refusal {
                message,
                retry: true,
            }) => json!({ "ack": self.ack.0, "error": { "message": message, "retry": true } }),
        };
        reply.to_string()
    }
}

impl From<ProtocolError> for ServerEvent {
    /// Every protocol error is answered with an `error` event that explains it.
    fn from(error: ProtocolError) -> Self {
        ServerEvent::Error {
            message: error.to_string(),
        }
    }
}

/// Why a client's frame was refused. Its `Display` text is what the client
/// gets back in `{"event":"error","data":{"message": ...}}`, so it is written
/// for the person who sent the frame.
#[derive(Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A binary frame: this protocol speaks JSON text only.
    BinaryFrame,
    /// The text is not JSON at all; the string is serde_json's description.
    NotJson(String),
    /// Valid JSON, but not an object (an array, a number, ...).
    NotAnObject { found: &'static str },
    /// An object with no `"event"` field.
    MissingEvent,
    /// An `"event"` field that is not a string.
    EventNotAString { found: &'static str },
    /// A well-formed envelope whose event this step does not know.
    UnknownEvent { name: String },
    /// An `"ack"` that is not a whole number from 1 to 2^53 − 1.
    BadAck { found: String },
    /// A known event whose `"data"` is not what that event needs, such as a
    /// `message` whose data is a number, or an empty string.
    WrongData {
        event: &'static str,
        expected: &'static str,
        found: &'static str,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHAPE: &str = r#"{"event": "<name>", "data": <any JSON>}"#;
        match self {
            ProtocolError::BinaryFrame => {
                write!(
                    f,
                    "binary frames are not accepted: send text holding {SHAPE}"
                )
            }
            ProtocolError::NotJson(reason) => {
                write!(f, "the frame is not valid JSON ({reason}): send {SHAPE}")
            }
            ProtocolError::NotAnObject { found } => {
                write!(f, "expected a JSON object like {SHAPE}, got {found}")
            }
            ProtocolError::MissingEvent => {
                write!(f, r#"the object has no "event" field: send {SHAPE}"#)
            }
            ProtocolError::EventNotAString { found } => {
                write!(f, r#"the "event" field must be a string, got {found}"#)
            }
            ProtocolError::BadAck { found } => write!(
                f,
                r#"the "ack" field must be a whole number from 1 to {}, got {found}"#,
                Ack::MAX
            ),
            ProtocolError::UnknownEvent { name } => {
                write!(f, "unknown event {name:?}: this server does not handle it")
            }
            ProtocolError::WrongData {
                event,
                expected,
                found,
            } => {
                write!(
                    f,
                    r#"the "{event}" event needs {expected} as "data", got {found}"#
                )
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Reads one text frame from a client.
///
/// The checks go from the outside in — is it JSON, is it an object, is its
/// `"ack"` good, does it have a string `"event"`, is its `"data"` right — so
/// the error names the first thing that is wrong; once the `ack` is known,
/// every later refusal carries it. Fields other than `"event"`, `"data"` and
/// `"ack"` are ignored.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, Refused> {
    let refused = |error| Refused { error, ack: None };
    let value: Value = serde_json::from_str(text)
        .map_err(|error| refused(ProtocolError::NotJson(error.to_string())))?;
    let Value::Object(mut envelope) = value else {
        return Err(refused(ProtocolError::NotAnObject {
            found: json_kind(&value),
        }));
    };
    let ack = match envelope.remove("ack") {
        None => None,
        Some(value) => Some(parse_ack(&value).map_err(refused)?),
    };
    parse_event(envelope)
        .map(|event| ClientFrame { event, ack })
        .map_err(|error| Refused { error, ack })
}

/// `"ack"`: a whole number from 1 to [`Ack::MAX`].
fn parse_ack(value: &Value) -> Result<Ack, ProtocolError> {
    match value.as_u64() {
        Some(n) if (1..=Ack::MAX).contains(&n) => Ok(Ack(n)),
        _ => Err(ProtocolError::BadAck {
            found: truncated_json(value),
        }),
    }
}

/// The event of an envelope whose `ack` has been taken out.
fn parse_event(mut envelope: serde_json::Map<String, Value>) -> Result<ClientEvent, ProtocolError> {
    let name = match envelope.remove("event") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(ProtocolError::EventNotAString {
                found: json_kind(&other),
            });
        }
        None => return Err(ProtocolError::MissingEvent),
    };
    // One arm per event this step understands (a missing "data" means null,
    // as with `socket.emit("message")`).
    let data = envelope.remove("data").unwrap_or(Value::Null);
    match name.as_str() {
        "join" => parse_join(data),
        "message" => parse_message(data),
        "typing" => parse_typing(data),
        "private" => parse_private(data),
        _ => Err(ProtocolError::UnknownEvent { name }),
    }
}

/// The data of a `join`: `{"nickname": "<name>", "room": "<room>"}`, the
/// room optional. Whether the names follow the rules is
/// [`crate::names`]'s business.
fn parse_join(data: Value) -> Result<ClientEvent, ProtocolError> {
    let wrong = |found| ProtocolError::WrongData {
        event: "join",
        expected: r#"{"nickname": "<name>", "room": "<room>"} (room optional)"#,
        found,
    };
    let Value::Object(mut fields) = data else {
        return Err(wrong(json_kind(&data)));
    };
    let nickname = match fields.remove("nickname") {
        Some(Value::String(nickname)) => nickname,
        _ => return Err(wrong("an object without a string nickname")),
    };
    let room = match fields.remove("room") {
        None | Some(Value::Null) => None,
        Some(Value::String(room)) => Some(room),
        Some(_) => return Err(wrong("a room that is not a string")),
    };
    let session = match fields.remove("session") {
        None | Some(Value::Null) => None,
        Some(Value::String(session)) => Some(session),
        Some(_) => return Err(wrong("a session that is not a string")),
    };
    let last_id = match fields.remove("last_id") {
        None | Some(Value::Null) => None,
        Some(id) => Some(parse_id(&id).ok_or_else(|| wrong("a last_id that is not a message id"))?),
    };
    Ok(ClientEvent::Join {
        nickname,
        room,
        session,
        last_id,
    })
}

/// A message id as a client sends it back: the string the server gave
/// (`"42"`), or the same as a number.
fn parse_id(value: &Value) -> Option<i64> {
    match value {
        Value::String(id) => id.parse().ok(),
        Value::Number(id) => id.as_i64(),
        _ => None,
    }
    .filter(|id| *id >= 0)
}

/// The data of a `message`: its text, either alone or with a
/// `client_offset`.
fn parse_message(data: Value) -> Result<ClientEvent, ProtocolError> {
    let Value::Object(mut fields) = data else {
        let text = parse_text("message", data)?;
        return Ok(ClientEvent::Message {
            text,
            client_offset: None,
        });
    };
    let text = parse_text("message", fields.remove("text").unwrap_or(Value::Null))?;
    let client_offset = parse_client_offset("message", fields.remove("client_offset"))?;
    Ok(ClientEvent::Message {
        text,
        client_offset,
    })
}

/// A `client_offset`: left out, or a string of 1 to 64 characters.
fn parse_client_offset(
    event: &'static str,
    value: Option<Value>,
) -> Result<Option<String>, ProtocolError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(offset))
            if !offset.is_empty() && offset.chars().count() <= MAX_CLIENT_OFFSET_CHARS =>
        {
            Ok(Some(offset))
        }
        Some(other) => Err(ProtocolError::WrongData {
            event,
            expected: "a client_offset of 1 to 64 characters",
            found: json_kind(&other),
        }),
    }
}

/// The data of a `typing`: `true` or `false`.
fn parse_typing(data: Value) -> Result<ClientEvent, ProtocolError> {
    match data {
        Value::Bool(typing) => Ok(ClientEvent::Typing { typing }),
        other => Err(ProtocolError::WrongData {
            event: "typing",
            expected: "true or false",
            found: json_kind(&other),
        }),
    }
}

/// The data of a `private`: `{"to": "<nickname>", "text": "<text>"}`.
fn parse_private(data: Value) -> Result<ClientEvent, ProtocolError> {
    let wrong = |found| ProtocolError::WrongData {
        event: "private",
        expected: r#"{"to": "<nickname>", "text": "<text>"}"#,
        found,
    };
    let Value::Object(mut fields) = data else {
        return Err(wrong(json_kind(&data)));
    };
    let Some(Value::String(to)) = fields.remove("to") else {
        return Err(wrong("an object without a string \"to\""));
    };
    let text = parse_text("private", fields.remove("text").unwrap_or(Value::Null))?;
    let client_offset = parse_client_offset("private", fields.remove("client_offset"))?;
    Ok(ClientEvent::Private {
        to,
        text,
        client_offset,
    })
}

/// Text worth showing in a chat, for `event`.
///
/// Empty or blank text would show up as an empty line, so it is refused
/// like any other wrong data — and so is text that only looks blank, made
/// of zero-width or filler characters (see [`has_something_visible`]). The
/// text is otherwise kept as it was typed, spaces included.
fn parse_text(event: &'static str, data: Value) -> Result<String, ProtocolError> {
    let wrong = |found| ProtocolError::WrongData {
        event,
        expected: "a non-empty string",
        found,
    };
    match data {
        Value::String(text) if text.is_empty() => Err(wrong("an empty string")),
        Value::String(text) if text.trim().is_empty() => Err(wrong("only whitespace")),
        Value::String(text) if !has_something_visible(&text) => Err(wrong("nothing visible")),
        Value::String(text) => Ok(text),
        other => Err(wrong(json_kind(&other))),
    }
}

/// Whether `text` has at least one character that shows: one that is not
/// [`is_invisible`].
pub fn has_something_visible(text: &str) -> bool {
    text.chars().any(|c| !is_invisible(c))
}

/// Whether `c` shows nothing by itself: whitespace, a control character
/// (Unicode category Cc, U+0000 included), or one of [`INVISIBLE`].
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || c.is_control() || INVISIBLE.iter().any(|range| range.contains(&c))
}

/// Characters that draw nothing, though they are neither whitespace nor
/// control characters: every format character (Unicode category Cf:
/// zero-width spaces and joiners, direction marks, the byte-order mark, tag
/// characters), the rest of Unicode's Default_Ignorable_Code_Point list
/// (variation selectors, the Hangul fillers), and the Braille blank, which is
/// a "pattern" with no dots. A message made only of these looks empty in
/// everyone's chat.
///
/// An explicit list rather than a crate: it is short, it changes only when
/// Unicode adds such characters (this is Unicode 16), and a reader can see
/// exactly what is refused. (A few Cf characters, such as the Arabic number
/// signs U+0600..U+0605, do draw a mark, but only as part of the digits that
/// follow them; alone they say nothing either.)
pub const INVISIBLE: &[RangeInclusive<char>] = &[
    '\u{00AD}'..='\u{00AD}',   // soft hyphen
    '\u{034F}'..='\u{034F}',   // combining grapheme joiner
    '\u{0600}'..='\u{0605}',   // Arabic number signs
    '\u{061C}'..='\u{061C}',   // Arabic letter mark
    '\u{06DD}'..='\u{06DD}',   // Arabic end of ayah
    '\u{070F}'..='\u{070F}',   // Syriac abbreviation mark
    '\u{0890}'..='\u{0891}',   // Arabic pound and piastre marks above
    '\u{08E2}'..='\u{08E2}',   // Arabic disputed end of ayah
    '\u{115F}'..='\u{1160}',   // Hangul choseong and jungseong fillers
    '\u{17B4}'..='\u{17B5}',   // Khmer inherent vowels
    '\u{180B}'..='\u{180F}',   // Mongolian variation selectors and vowel separator
    '\u{200B}'..='\u{200F}',   // zero-width space, non-joiner, joiner; direction marks
    '\u{202A}'..='\u{202E}',   // direction embeddings and overrides
    '\u{2060}'..='\u{206F}',   // word joiner, invisible operators, direction isolates
    '\u{2800}'..='\u{2800}',   // Braille pattern blank
    '\u{3164}'..='\u{3164}',   // Hangul filler
    '\u{FE00}'..='\u{FE0F}',   // variation selectors
    '\u{FEFF}'..='\u{FEFF}',   // zero-width no-break space (the byte-order mark)
    '\u{FFA0}'..='\u{FFA0}',   // halfwidth Hangul filler
    '\u{FFF0}'..='\u{FFFB}',   // reserved; interlinear annotation marks
    '\u{110BD}'..='\u{110BD}', // Kaithi number sign
    '\u{110CD}'..='\u{110CD}', // Kaithi number sign above
    '\u{13430}'..='\u{1343F}', // Egyptian hieroglyph format controls
    '\u{16FE4}'..='\u{16FE4}', // Khitan small script filler
    '\u{1BCA0}'..='\u{1BCA3}', // shorthand format controls
    '\u{1D173}'..='\u{1D17A}', // musical symbol format controls
    '\u{E0000}'..='\u{E0FFF}', // tags, variation selectors supplement
];

/// A JSON value as text for an error message, cut short: a client decides
/// how long it is.
fn truncated_json(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(32) {
        None => text,
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// "an array", "a number", ...: how a JSON value is described in an error.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_for(text: &str) -> ProtocolError {
        match parse_client_frame(text) {
            Err(refused) => refused.error,
            Ok(frame) => panic!("{text} was accepted as {frame:?}"),
        }
    }

    fn event_of(text: &str) -> ClientEvent {
        match parse_client_frame(text) {
            Ok(frame) => frame.event,
            Err(refused) => panic!("{text} was refused: {}", refused.error),
        }
    }

    /// Each kind of bad frame is named by the first thing wrong with it.
    #[test]
    fn bad_frames_are_described_in_plain_words() {
        assert!(matches!(error_for("hello"), ProtocolError::NotJson(_)));
        assert_eq!(
            error_for("[1, 2]"),
            ProtocolError::NotAnObject { found: "an array" }
        );
        assert_eq!(error_for(r#"{"data": 1}"#), ProtocolError::MissingEvent);
        assert_eq!(
            error_for(r#"{"event": 5}"#),
            ProtocolError::EventNotAString { found: "a number" }
        );
        // Event names are case-sensitive, as in socket.io.
        assert_eq!(
            error_for(r#"{"event": "Message"}"#),
            ProtocolError::UnknownEvent {
                name: "Message".to_owned()
            }
        );
    }

    /// The four events of the chat room, with their data.
    #[test]
    fn the_chat_room_events_are_understood() {
        assert_eq!(
            event_of(r#"{"event":"join","data":{"nickname":"alice"}}"#),
            ClientEvent::Join {
                nickname: "alice".to_owned(),
                room: None,
                session: None,
                last_id: None,
            }
        );
        assert_eq!(
            event_of(r#"{"event":"join","data":{"nickname":"bob","room":"random"}}"#),
            ClientEvent::Join {
                nickname: "bob".to_owned(),
                room: Some("random".to_owned()),
                session: None,
                last_id: None,
            }
        );
        assert_eq!(
            event_of(r#"{"event":"message","data":"  hi there "}"#),
            ClientEvent::Message {
                text: "  hi there ".to_owned(),
                client_offset: None,
            }
        );
        assert_eq!(
            event_of(r#"{"event":"typing","data":true}"#),
            ClientEvent::Typing { typing: true }
        );
        assert_eq!(
            event_of(r#"{"event":"private","data":{"to":"carol","text":"psst"}}"#),
            ClientEvent::Private {
                to: "carol".to_owned(),
                text: "psst".to_owned(),
                client_offset: None,
            }
        );
    }

    /// Step 10's fields: a join may bring its session and the last id it
    /// saw; a message or a private one may bring its `client_offset`.
    #[test]
    fn recovery_and_offsets_are_read() {
        assert_eq!(
            event_of(
                r#"{"event":"join","data":{"nickname":"bob","session":"abc","last_id":"42"}}"#
            ),
            ClientEvent::Join {
                nickname: "bob".to_owned(),
                room: None,
                session: Some("abc".to_owned()),
                last_id: Some(42),
            }
        );
        assert_eq!(
            event_of(r#"{"event":"message","data":{"text":"hi","client_offset":"tab-7:3"}}"#),
            ClientEvent::Message {
                text: "hi".to_owned(),
                client_offset: Some("tab-7:3".to_owned()),
            }
        );
        let long = "x".repeat(65);
        let refused = error_for(&format!(
            r#"{{"event":"message","data":{{"text":"hi","client_offset":"{long}"}}}}"#
        ));
        assert_eq!(
            refused.to_string(),
            r#"the "message" event needs a client_offset of 1 to 64 characters as "data", got a string"#
        );
        let refused = error_for(r#"{"event":"join","data":{"nickname":"bob","last_id":"x"}}"#);
        assert!(
            refused
                .to_string()
                .contains("a last_id that is not a message id"),
            "{refused}"
        );
    }

    /// Wrong data says what the event needs and what came instead.
    #[test]
    fn wrong_data_is_refused_saying_what_was_needed() {
        let cases = [
            (
                r#"{"event":"message","data":42}"#,
                r#"the "message" event needs a non-empty string as "data", got a number"#,
            ),
            (
                r#"{"event":"message","data":" \n\t"}"#,
                r#"the "message" event needs a non-empty string as "data", got only whitespace"#,
            ),
            (
                r#"{"event":"message","data":"\u200b\u2800 \u3164"}"#,
                r#"the "message" event needs a non-empty string as "data", got nothing visible"#,
            ),
            (
                r#"{"event":"private","data":{"to":"carol","text":"\ufeff\u0000"}}"#,
                r#"the "private" event needs a non-empty string as "data", got nothing visible"#,
            ),
            (
                r#"{"event":"typing","data":"yes"}"#,
                r#"the "typing" event needs true or false as "data", got a string"#,
            ),
            (
                r#"{"event":"join","data":"alice"}"#,
                r#"the "join" event needs {"nickname": "<name>", "room": "<room>"} (room optional) as "data", got a string"#,
            ),
            (
                r#"{"event":"private","data":{"to":"carol","text":""}}"#,
                r#"the "private" event needs a non-empty string as "data", got an empty string"#,
            ),
        ];
        for (frame, sentence) in cases {
            assert_eq!(error_for(frame).to_string(), sentence, "{frame}");
        }
    }

    /// A good `ack` is carried with the event, and with its refusal too, so
    /// the refusal can be the answer on it.
    #[test]
    fn the_ack_travels_with_the_frame_and_its_refusal() {
        let frame =
            parse_client_frame(r#"{"event":"typing","data":false,"ack":7}"#).expect("a good frame");
        assert_eq!(frame.ack, Some(Ack(7)));
        let refused = parse_client_frame(r#"{"event":"nope","ack":9007199254740991}"#)
            .expect_err("an unknown event");
        assert_eq!(refused.ack, Some(Ack(Ack::MAX)));
    }

    /// A bad `ack` is refused by itself, with no ack to answer on (so the
    /// client gets an `error` event), and the frame is not acted on.
    #[test]
    fn a_bad_ack_is_refused_without_an_ack() {
        for bad in [
            "0",
            "-1",
            "1.5",
            "9007199254740992",
            r#""7""#,
            "null",
            "[1]",
        ] {
            let frame = format!(r#"{{"event":"message","data":"hi","ack":{bad}}}"#);
            let refused = parse_client_frame(&frame).expect_err(&frame);
            assert_eq!(refused.ack, None, "{frame}");
            assert!(
                refused.error.to_string().starts_with(
                    r#"the "ack" field must be a whole number from 1 to 9007199254740991, got"#
                ),
                "{frame}: {}",
                refused.error
            );
        }
    }

    /// Answers and events serialise as documented.
    #[test]
    fn answers_and_events_serialise_as_documented() {
        let done = AckReply {
            ack: Ack(3),
            result: Ok(json!({ "id": "12", "at": 5 })),
        };
        assert_eq!(done.to_json(), r#"{"ack":3,"data":{"at":5,"id":"12"}}"#);
        let refused = AckReply {
            ack: Ack(4),
            result: Err("join a room first".into()),
        };
        assert_eq!(
            refused.to_json(),
            r#"{"ack":4,"error":{"message":"join a room first"}}"#
        );
        let joined = ServerEvent::Joined {
            nickname: "alice".to_owned(),
            room: "general".to_owned(),
        };
        assert_eq!(
            joined.to_json(),
            r#"{"event":"joined","data":{"nickname":"alice","room":"general"}}"#
        );
        let error = ServerEvent::Error {
            message: "nope".to_owned(),
        };
        assert_eq!(
            error.to_json(),
            r#"{"event":"error","data":{"message":"nope"}}"#
        );
    }
}
