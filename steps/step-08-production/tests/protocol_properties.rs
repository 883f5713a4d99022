//! Step 08 checkpoint: bad input never panics the frame parser.
//!
//! Hand-written tests check the frames someone thought of; these property
//! tests (proptest) generate thousands of frames nobody thought of —
//! arbitrary bytes, arbitrary JSON, envelopes with arbitrary events and data
//! — and check that each one gives an event or an error, never a panic.
//!
//! Run with `cargo test -p step-08-production --test protocol_properties`.

use proptest::prelude::*;
use serde_json::{Map, Value};
use step_08_production::protocol::{ClientEvent, is_invisible, parse_client_frame};

/// Any JSON value, nested a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Text that is often blank-looking: a few characters, each one either
/// whitespace, one of the invisible characters the attack used (U+200B,
/// U+2800, U+3164, U+FEFF, U+0000) or any character at all.
fn often_invisible_text() -> impl Strategy<Value = String> {
    let invisible = prop::sample::select(vec![
        ' ', '\n', '\u{200B}', '\u{2800}', '\u{3164}', '\u{FEFF}', '\u{0000}',
    ]);
    let character = prop_oneof![3 => invisible, 1 => any::<char>()];
    prop::collection::vec(character, 0..6).prop_map(String::from_iter)
}

proptest! {
    /// Arbitrary bytes, read as text the way a text frame would be, give an
    /// event or an error.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_client_frame(&text);
    }

    /// Any JSON document gives an event or an error.
    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        let _ = parse_client_frame(&value.to_string());
    }

    /// An envelope with any event name and any data gives an event or an
    /// error, and an error always has a message to send back.
    #[test]
    fn arbitrary_envelopes_never_panic(
        event in prop_oneof![Just("message".to_owned()), ".*"],
        data in any_json(),
    ) {
        let frame = serde_json::json!({ "event": event, "data": data }).to_string();
        if let Err(error) = parse_client_frame(&frame) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    /// A `message` with any string as its data is accepted exactly when the
    /// string has a character that is not invisible (whitespace, a control
    /// or format character, a filler), and then its text is kept as it was
    /// sent.
    #[test]
    fn a_message_is_accepted_exactly_when_something_in_it_is_visible(
        text in prop_oneof![often_invisible_text(), ".*"],
    ) {
        let visible = text.chars().any(|c| !is_invisible(c));
        let frame = serde_json::json!({ "event": "message", "data": text }).to_string();
        match parse_client_frame(&frame) {
            Ok(ClientEvent::Message { text: parsed }) => {
                prop_assert!(visible, "accepted {:?}", text);
                prop_assert_eq!(parsed, text);
            }
            Err(_) => prop_assert!(!visible, "refused {:?}", text),
        }
    }
}
