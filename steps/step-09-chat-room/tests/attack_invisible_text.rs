//! Step 09 keeps step 08's answer to messages that look blank without being
//! whitespace. Text made only of U+200B (zero-width space), U+2800 (the
//! Braille blank), U+3164 (the Hangul filler), U+FEFF (the byte-order mark)
//! or U+0000 passed the "not only whitespace" check and was broadcast: an
//! empty line in everyone's chat. Now text with nothing visible is refused
//! like blank text, to its sender only — in a room `message` and in a
//! `private` message alike.
//!
//! Run with `cargo test -p step-09-chat-room --test attack_invisible_text`.

mod common;

use std::net::SocketAddr;

use common::{connect_as, error_reply, next_message, refusal_on_ack, say, spawn_app_with};
use serde_json::json;
use step_09_chat_room::{AppState, config::Config};
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

/// A server whose rate limit leaves room for every case at once: the test
/// sends two dozen frames in a blink, more than the default burst of 20,
/// and is about what the frames say, not how fast they come.
async fn spawn_app_with_room_for_every_case() -> SocketAddr {
    let state = AppState::new(Config {
        max_messages_per_second: 1000,
        ..Config::default()
    });
    spawn_app_with(state).await
}

/// Whether `refusal` is the one for text with nothing visible, for `event`.
fn says_nothing_visible(event: &str, refusal: &str) -> bool {
    let needs = format!(r#"the "{event}" event needs a non-empty string as "data""#);
    refusal.starts_with(&needs) && refusal.ends_with("got nothing visible")
}

/// The attack, case by case: each text with nothing visible, said to the
/// room, gets an `error` that says so; sent privately, it is refused on its
/// `ack` in the same words; and the bystander, who is both in the room and
/// the private message's recipient, receives nothing.
#[tokio::test]
async fn text_with_nothing_visible_is_refused() {
    // Arrange: the sender hears the bystander join, and nothing after that.
    let addr = spawn_app_with_room_for_every_case().await;
    let (mut sender, _id) = connect_as(addr, "sender").await;
    let (mut bystander, _bystander_id) = connect_as(addr, "bystander").await;
    assert_eq!(next_event(&mut sender).await["event"], "joined");

    for (name, text) in NOTHING_VISIBLE {
        // Act
        let frame = json!({ "event": "message", "data": text }).to_string();
        let said = error_reply(&mut sender, Message::text(frame)).await;
        let private = json!({ "event": "private", "data": { "to": "bystander", "text": text } });
        let whispered = refusal_on_ack(&mut sender, private).await;

        // Assert
        assert!(says_nothing_visible("message", &said), "{name}: {said}");
        assert!(
            says_nothing_visible("private", &whispered),
            "{name}: {whispered}"
        );
    }
    assert_nothing_arrives(&mut bystander).await;
}

/// Text with something visible among those characters is a chat message
/// like any other: it reaches the room kept exactly as it was sent.
#[tokio::test]
async fn text_with_something_visible_among_them_goes_through() {
    // Arrange
    let addr = spawn_app_with_room_for_every_case().await;
    let (mut sender, _id) = connect_as(addr, "sender").await;
    let (mut reader, _reader_id) = connect_as(addr, "reader").await;

    for (name, text) in SOMETHING_VISIBLE {
        // Act
        say(&mut sender, text).await;

        // Assert
        let message = next_message(&mut reader).await;
        assert_eq!(message.from, "sender", "{name}");
        assert_eq!(message.text, text, "{name}");
    }
}
