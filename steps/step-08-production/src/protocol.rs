//! The wire protocol: what travels inside the WebSocket, both ways.
//!
//! Every frame is a text frame holding one JSON object, the "envelope":
//!
//! ```text
//! {"event": "<name>", "data": <any JSON>}      ("data" may be left out: null)
//! ```
//!
//! This is the shape socket.io gives you with `socket.emit(event, data)`;
//! `public/socket.js` packs and unpacks it in the browser. This module does the
//! same on the server: [`parse_client_frame`] turns a client's text frame into a
//! [`ClientEvent`] or a [`ProtocolError`] worded for a person, and
//! [`ServerEvent::to_json`] turns what the server wants to say into a frame.
//! See `notes/04-connect-logging.md` for the envelope and
//! `notes/07-rebroadcast.md` for the `message` event.

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
    /// `{"event":"message","data":"<text>"}`: publish `text` to everyone.
    /// The text always has something visible in it (see
    /// [`has_something_visible`]).
    Message { text: String },
}

/// An event the server sends.
#[derive(Debug)]
pub enum ServerEvent {
    /// Sent once, right after the upgrade: "you are connected, and this is
    /// your id" (socket.io's built-in `connect`, which sets `socket.id`).
    Connect { id: ConnectionId },
    /// A chat message, sent to every client, the one who wrote it included:
    /// `{"event":"message","data":{"from":"<id>","text":"<text>"}}`.
    Message { from: ConnectionId, text: String },
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
            ServerEvent::Error { .. } => "error",
        }
    }

    /// The text of the frame that carries this event.
    pub fn to_json(&self) -> String {
        let data = match self {
            ServerEvent::Connect { id } => json!({ "id": id.as_str() }),
            ServerEvent::Message { from, text } => json!({ "from": from.as_str(), "text": text }),
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
    /// A known event whose `"data"` is not what that event needs, such as a
    /// `message` whose data is a number, an empty string, or text with
    /// nothing visible in it.
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
/// The checks go from the outside in — is it JSON, is it an object, does it
/// have a string `"event"` — so the error names the first thing that is wrong.
/// Fields other than `"event"` and `"data"` are ignored.
pub fn parse_client_frame(text: &str) -> Result<ClientEvent, ProtocolError> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| ProtocolError::NotJson(error.to_string()))?;
    let Value::Object(mut envelope) = value else {
        return Err(ProtocolError::NotAnObject {
            found: json_kind(&value),
        });
    };
    let name = match envelope.remove("event") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(ProtocolError::EventNotAString {
                found: json_kind(&other),
            });
        }
        None => return Err(ProtocolError::MissingEvent),
    };
    // One arm per event this step understands. `message` needs its "data"
    // (a missing "data" means null, as with `socket.emit("message")`).
    let data = envelope.remove("data").unwrap_or(Value::Null);
    match name.as_str() {
        "message" => parse_message(data),
        _ => Err(ProtocolError::UnknownEvent { name }),
    }
}

/// The data of a `message` event: text worth showing in a chat.
///
/// Empty or blank text would show up in everyone's chat as an empty line, so
/// it is refused like any other wrong data — and so is text that only looks
/// blank, made of zero-width or filler characters (see
/// [`has_something_visible`]). The text is otherwise kept as it was typed,
/// spaces included.
fn parse_message(data: Value) -> Result<ClientEvent, ProtocolError> {
    let wrong = |found| ProtocolError::WrongData {
        event: "message",
        expected: "a non-empty string",
        found,
    };
    match data {
        Value::String(text) if text.is_empty() => Err(wrong("an empty string")),
        Value::String(text) if text.trim().is_empty() => Err(wrong("only whitespace")),
        Value::String(text) if !has_something_visible(&text) => Err(wrong("nothing visible")),
        Value::String(text) => Ok(ClientEvent::Message { text }),
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
            Err(error) => error,
            Ok(event) => panic!("{text} was accepted as {event:?}"),
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
        // Step 06's button event is gone.
        assert_eq!(
            error_for(r#"{"event": "fromClient"}"#),
            ProtocolError::UnknownEvent {
                name: "fromClient".to_owned()
            }
        );
    }

    /// A `message` with string data is a chat message, its text kept as typed.
    #[test]
    fn a_message_with_text_is_accepted() {
        assert_eq!(
            parse_client_frame(r#"{"event":"message","data":"  hi there "}"#),
            Ok(ClientEvent::Message {
                text: "  hi there ".to_owned()
            })
        );
    }

    /// A `message` whose data is not a non-empty string is refused, saying
    /// what was found instead.
    #[test]
    fn a_message_without_text_is_refused() {
        let wrong = |found| ProtocolError::WrongData {
            event: "message",
            expected: "a non-empty string",
            found,
        };
        assert_eq!(
            error_for(r#"{"event":"message","data":42}"#),
            wrong("a number")
        );
        assert_eq!(error_for(r#"{"event":"message"}"#), wrong("null"));
        assert_eq!(
            error_for(r#"{"event":"message","data":""}"#),
            wrong("an empty string")
        );
        assert_eq!(
            error_for(r#"{"event":"message","data":" \n\t"}"#),
            wrong("only whitespace")
        );
        assert_eq!(
            error_for(r#"{"event":"message","data":"\u200b\u2800 \u3164"}"#),
            wrong("nothing visible")
        );
        assert_eq!(
            error_for(r#"{"event":"message","data":42}"#).to_string(),
            r#"the "message" event needs a non-empty string as "data", got a number"#
        );
    }

    /// The error message starts with the words the tests and the page rely on.
    #[test]
    fn unknown_event_message_names_the_event() {
        let message = error_for(r#"{"event":"hi","data":null}"#).to_string();
        assert_eq!(
            message,
            r#"unknown event "hi": this server does not handle it"#
        );
    }

    /// Outgoing frames are envelopes with the documented names.
    #[test]
    fn server_events_serialise_as_envelopes() {
        let error = ServerEvent::Error {
            message: "nope".to_owned(),
        };
        assert_eq!(
            error.to_json(),
            r#"{"event":"error","data":{"message":"nope"}}"#
        );
        let message = ServerEvent::Message {
            from: ConnectionId::new().expect("the OS gives random bytes"),
            text: "hi".to_owned(),
        };
        let json: Value = serde_json::from_str(&message.to_json()).expect("valid JSON");
        assert_eq!(json["event"], "message");
        assert_eq!(json["data"]["text"], "hi");
    }
}
