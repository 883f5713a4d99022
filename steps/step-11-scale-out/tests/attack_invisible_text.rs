//! Step 11 under attack (step 08's attacks, carried over): messages that look
//! blank without being whitespace. Text made only of U+200B (zero-width space),
//! U+2800 (the Braille blank), U+3164 (the Hangul filler), U+FEFF (the
//! byte-order mark) or U+0000 passed the "not only whitespace" check and was
//! broadcast: an empty line in everyone's chat. Now text with nothing visible
//! is refused like blank text, with an `error` to its sender only — and, in
//! step 10, before it is stored: nothing of it is in the room's history.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_invisible_text`.

mod common;

use common::{connect_as, error_reply, next_message, send_message, spawn_app};
use testkit::{assert_nothing_arrives, next_event};
use tokio_tungstenite::tungstenite::Message;

/// Texts that show nothing: the attack's five characters alone, each
/// repeated, mixed with each other and with whitespace, and a few more of
/// the same kind (joiners, direction marks, variation selectors, tags).
const NOTHING_VISIBLE: [(&str, &str); 12] = [
    ("a zero-width space", "\u{200B}"),
    ("Braille blanks", "\u{2800}\u{2800}\u{2800}"),
    ("the Hangul filler", "\u{3164}"),
    ("the byte-order mark", "\u{FEFF}"),
    ("a NUL character", "\u{0000}"),
    (
        "all five with spaces",
        "\u{200B} \u{2800}\n\u{3164}\t\u{FEFF}\u{0000}",
    ),
    ("joiners", "\u{200C}\u{200D}\u{2060}"),
    ("direction marks", "\u{200E}\u{200F}\u{202E}\u{2066}"),
    ("a soft hyphen", "\u{00AD}"),
    ("variation selectors", "\u{FE0F}\u{E0100}"),
    ("tag characters", "\u{E0001}\u{E0041}"),
    ("the halfwidth Hangul filler", "\u{FFA0}\u{115F}\u{1160}"),
];

/// Texts with something visible next to the same characters: the rule
/// refuses what shows nothing, not the characters themselves.
const SOMETHING_VISIBLE: [(&str, &str); 4] = [
    ("a word after a zero-width space", "\u{200B}hi"),
    ("an emoji with its variation selector", "\u{2764}\u{FE0F}"),
    ("a family emoji, joined", "\u{1F469}\u{200D}\u{1F467}"),
    ("Hangul", "\u{D55C}\u{AE00}"),
];

/// The attack, case by case: each text with nothing visible gets an
/// `error` that says so, a bystander in the room receives nothing, and a
/// member who joins afterwards gets no history.
#[tokio::test]
async fn text_with_nothing_visible_is_refused() {
    // Arrange
    let addr = spawn_app().await;
    let (mut bystander, _bystander_id) = connect_as(addr, "bystander").await;
    let (mut sender, _id) = connect_as(addr, "sender").await;
    let _joined = next_event(&mut bystander).await;

    for (name, text) in NOTHING_VISIBLE {
        // Act
        let frame = serde_json::json!({ "event": "message", "data": text }).to_string();
        let message = error_reply(&mut sender, Message::text(frame)).await;

        // Assert
        assert!(
            message.starts_with(r#"the "message" event needs a non-empty string as "data""#),
            "{name}: {message}"
        );
        assert!(
            message.ends_with("got nothing visible"),
            "{name}: {message}"
        );
    }
    assert_nothing_arrives(&mut bystander).await;
    let (mut latecomer, _latecomer_id) = connect_as(addr, "latecomer").await;
    assert_nothing_arrives(&mut latecomer).await;
}

/// Text with something visible among those characters is a chat message
/// like any other, kept exactly as it was sent. (Step 10 sends it to the
/// rest of the room, not back to its writer, so a reader checks it.)
#[tokio::test]
async fn text_with_something_visible_among_them_goes_through() {
    // Arrange
    let addr = spawn_app().await;
    let (mut reader, _reader_id) = connect_as(addr, "reader").await;
    let (mut sender, _sender_id) = connect_as(addr, "sender").await;
    let _joined = next_event(&mut reader).await;

    for (name, text) in SOMETHING_VISIBLE {
        // Act
        send_message(&mut sender, text).await;

        // Assert
        let message = next_message(&mut reader).await;
        assert_eq!(message.from, "sender", "{name}");
        assert_eq!(message.text, text, "{name}");
    }
}
