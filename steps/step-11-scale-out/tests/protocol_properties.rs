//! Step 11 checkpoint: bad input never panics the frame parser or the name
//! rules, and an `ack` is handled the same way whatever comes with it.
//!
//! Hand-written tests check the frames someone thought of; these property
//! tests (proptest) generate thousands of frames nobody thought of —
//! arbitrary bytes, arbitrary JSON, envelopes with arbitrary events, data
//! and acks, arbitrary nicknames and room names — and check that each one
//! gives a frame or a refusal, never a panic; that a good `ack` is always
//! kept to answer on (even when the frame is refused) and given back as it
//! came; and that a bad `ack` is refused by itself.
//!
//! Run with `cargo test -p step-11-scale-out --test protocol_properties`.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use step_11_scale_out::{
    names::{MAX_NICKNAME_CHARS, MAX_ROOM_CHARS, Nickname, RoomName, is_control_or_format},
    protocol::{Ack, AckReply, ClientEvent, ProtocolError, is_invisible, parse_client_frame},
};

/// Any JSON value, nested a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
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
/// whitespace, one of the invisible characters the attack on step 08 used
/// (U+200B, U+2800, U+3164, U+FEFF, U+0000) or any character at all.
fn often_invisible_text() -> impl Strategy<Value = String> {
    let invisible = prop::sample::select(vec![
        ' ', '\n', '\u{200B}', '\u{2800}', '\u{3164}', '\u{FEFF}', '\u{0000}',
    ]);
    let character = prop_oneof![3 => invisible, 1 => any::<char>()];
    prop::collection::vec(character, 0..6).prop_map(String::from_iter)
}

/// An event name: one of step 10's four, or anything at all.
fn any_event() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("join".to_owned()),
        Just("message".to_owned()),
        Just("typing".to_owned()),
        Just("private".to_owned()),
        ".*",
    ]
}

/// A good `ack`: a whole number from 1 to 2^53 − 1.
fn good_ack() -> impl Strategy<Value = u64> {
    1..=Ack::MAX
}

/// A bad `ack`: 0, past 2^53 − 1, negative, or any JSON that is not a whole
/// number from 1 to 2^53 − 1.
fn bad_ack() -> impl Strategy<Value = Value> {
    let good = |value: &Value| value.as_u64().is_some_and(|n| (1..=Ack::MAX).contains(&n));
    prop_oneof![
        Just(json!(0)),
        (Ack::MAX + 1..=u64::MAX).prop_map(Value::from),
        (i64::MIN..0).prop_map(Value::from),
        any_json().prop_filter("not a good ack", move |value| !good(value)),
    ]
}

/// The number an `ack` is answered on, read back from its answer's JSON.
fn answered_on(ack: Ack) -> Value {
    let reply = AckReply {
        ack,
        result: Ok(Value::Null),
    };
    let reply: Value = serde_json::from_str(&reply.to_json()).expect("an answer is JSON");
    reply["ack"].clone()
}

/// Whether `typed` follows the nickname rules, as the issue states them:
/// trimmed, 1 to 24 characters, no control or formatting character.
fn follows_nickname_rules(typed: &str) -> bool {
    let trimmed = typed.trim();
    let chars = trimmed.chars().count();
    (1..=MAX_NICKNAME_CHARS).contains(&chars) && !trimmed.chars().any(is_control_or_format)
}

proptest! {
    /// Arbitrary bytes, read as text the way a text frame would be, give a
    /// frame or a refusal.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_client_frame(&text);
    }

    /// Any JSON document gives a frame or a refusal.
    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        let _ = parse_client_frame(&value.to_string());
    }

    /// An envelope with any event name, any data and any `ack` (or none)
    /// gives a frame or a refusal, and a refusal always has a sentence to
    /// send back.
    #[test]
    fn arbitrary_envelopes_never_panic(
        event in any_event(),
        data in any_json(),
        ack in prop::option::of(any_json()),
    ) {
        let mut frame = json!({ "event": event, "data": data });
        if let Some(ack) = ack {
            frame["ack"] = ack;
        }
        if let Err(refused) = parse_client_frame(&frame.to_string()) {
            prop_assert!(!refused.error.to_string().is_empty());
        }
    }

    /// A `message` with any string as its data (alone, or as the `text`
    /// of `{"text", "client_offset"}`) is accepted exactly when the string
    /// has a character that is not invisible (whitespace, a control or
    /// format character, a filler), and then its text is kept as it was
    /// sent, with its offset.
    #[test]
    fn a_message_is_accepted_exactly_when_something_in_it_is_visible(
        text in prop_oneof![often_invisible_text(), ".*"],
        client_offset in prop::option::of("[a-z0-9:]{1,64}"),
    ) {
        let visible = text.chars().any(|c| !is_invisible(c));
        let data = match &client_offset {
            Some(offset) => json!({ "text": text, "client_offset": offset }),
            None => json!(text),
        };
        let frame = json!({ "event": "message", "data": data }).to_string();
        match parse_client_frame(&frame) {
            Ok(frame) => {
                prop_assert!(visible, "accepted {:?}", text);
                prop_assert_eq!(frame.event, ClientEvent::Message { text, client_offset });
            }
            Err(_) => prop_assert!(!visible, "refused {:?}", text),
        }
    }

    /// A good `ack` is kept whatever the event and its data, accepted or
    /// refused — so a refusal can be its answer — and the answer carries the
    /// very number the client sent.
    #[test]
    fn a_good_ack_is_kept_and_given_back_whatever_the_frame(
        ack in good_ack(),
        event in any_event(),
        data in any_json(),
    ) {
        let frame = json!({ "event": event, "data": data, "ack": ack }).to_string();
        let kept = match parse_client_frame(&frame) {
            Ok(frame) => frame.ack,
            Err(refused) => refused.ack,
        };
        let kept = kept.expect("a good ack is kept");
        prop_assert_eq!(answered_on(kept), json!(ack));
    }

    /// A bad `ack` refuses the frame by itself, even a good `message`: the
    /// refusal names the `ack` and has no ack to be answered on (so the
    /// client gets an `error` event).
    #[test]
    fn a_bad_ack_refuses_the_frame_with_no_ack_to_answer_on(ack in bad_ack()) {
        let frame = json!({ "event": "message", "data": "hello", "ack": ack }).to_string();
        let refused = parse_client_frame(&frame).expect_err("a bad ack is refused");
        prop_assert_eq!(refused.ack, None);
        prop_assert!(matches!(refused.error, ProtocolError::BadAck { .. }), "{:?}", refused.error);
    }

    /// A `join` carries any nickname and room as they were sent; whether
    /// they follow the rules is the name rules' business (below). Without a
    /// `session` or a `last_id` it is a first join (step 10).
    #[test]
    fn a_join_carries_its_names_as_sent(nickname in ".*", room in prop::option::of(".*")) {
        let frame = json!({ "event": "join", "data": { "nickname": nickname, "room": room } });
        let parsed = parse_client_frame(&frame.to_string()).expect("a join with string names");
        let first_join = ClientEvent::Join { nickname, room, session: None, last_id: None };
        prop_assert_eq!(parsed.event, first_join);
    }

    /// Any nickname is accepted exactly when it follows the rules, and is
    /// then kept trimmed; none makes the check panic.
    #[test]
    fn a_nickname_is_accepted_exactly_when_it_follows_the_rules(typed in ".*") {
        match Nickname::parse(&typed) {
            Ok(nickname) => {
                prop_assert!(follows_nickname_rules(&typed), "{typed:?} was accepted");
                prop_assert_eq!(nickname.as_str(), typed.trim());
            }
            Err(refused) => {
                prop_assert!(!follows_nickname_rules(&typed), "{typed:?}: {refused}");
            }
        }
    }

    /// Any room name is accepted exactly when it is 1 to 32 characters of
    /// `a-z`, `0-9` and `-`.
    #[test]
    fn a_room_name_is_accepted_exactly_when_it_follows_the_rule(typed in "[a-z0-9-]{0,40}|.*") {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        let follows = (1..=MAX_ROOM_CHARS).contains(&typed.chars().count())
            && typed.chars().all(allowed);
        match RoomName::parse(Some(&typed)) {
            Ok(room) => {
                prop_assert!(follows, "{typed:?} was accepted");
                prop_assert_eq!(room.as_str(), typed.as_str());
            }
            Err(_) => prop_assert!(!follows, "{typed:?} was refused"),
        }
    }
}
