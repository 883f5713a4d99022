//! Step 07 in a real browser: two windows on `public/step-07-rebroadcast/`
//! chat through the server.
//!
//! Step 07's own tests chat with Rust clients; these prove what only a
//! browser can: Enter in the input sends, every window shows every message
//! with its sender, a message full of markup stays text and runs nothing,
//! and a page whose server restarts reconnects by itself. The chat check
//! also takes the screenshots shown in `notes/07-rebroadcast.md` (refresh
//! them with `UPDATE_SCREENSHOTS=1`). Run with
//! `cargo test -p e2e --test step_07_rebroadcast`; the page is explained in
//! `notes/07-rebroadcast.md`.

use e2e::{
    KillableServer,
    chat::{self, say, send},
};
use serde_json::{Value, json};
use step_07_rebroadcast::{AppState, app, public_folder};

/// The page's title, which the markup check's payload tries to change.
const TITLE: &str = "Step 07 · Chat";

/// Alice writes in one window, Bob in the other, taking turns: each message
/// shows up in both windows, with the sender's id, in the order it was sent,
/// and each window marks its own messages as "you". Takes the screenshots of
/// both windows mid-conversation.
#[tokio::test]
async fn a_message_sent_in_one_window_shows_in_both_with_its_sender() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let addr = e2e::serve(app(public_folder(), AppState::new())).await;
    let alice_id = chat::open(&alice, addr, TITLE).await;
    let bob_id = chat::open(&bob, addr, TITLE).await;
    let conversation = [
        (&alice, &alice_id, "Hi Bob! Can you see this?"),
        (
            &bob,
            &bob_id,
            "Loud and clear, Alice. It came through the server.",
        ),
        (
            &alice,
            &alice_id,
            "Mine came back to me too, marked as \"you\".",
        ),
        (&bob, &bob_id, "Open a third tab and it joins the chat."),
    ];

    // Act: each message is seen in both windows before the next one is
    // typed, so the order is the order of the conversation.
    for (sender, sender_id, text) in conversation {
        say(sender, sender_id, text, &[&alice, &bob]).await;
    }

    // Assert: both windows show the whole conversation, in order, each
    // marking only its own messages.
    for (window, window_id) in [(&alice, &alice_id), (&bob, &bob_id)] {
        let expected: Vec<Value> = conversation
            .iter()
            .map(
                |(_, from, text)| json!({ "from": from, "text": text, "mine": *from == window_id }),
            )
            .collect();
        assert_eq!(
            chat::lines(window).await,
            Value::Array(expected),
            "the chat in {window_id}'s window"
        );
    }

    // Bob is halfway through his next message when the pictures are taken.
    bob.type_into("#message-input", "Will do!").await;
    alice.save_screenshot("07-chat-alice.png").await;
    bob.save_screenshot("07-chat-bob.png").await;
    alice.close().await;
    bob.close().await;
}

/// A message made of markup, `<img onerror=…>` and `<script>…</script>`, is
/// shown in both windows as exactly the characters typed: no element is
/// made of it, and neither of its scripts runs in either window.
#[tokio::test]
async fn markup_in_a_message_is_shown_as_text_and_runs_nothing() {
    // Arrange
    let Some(mallory) = e2e::browser().await else {
        return;
    };
    let bob = mallory.new_session().await;
    let addr = e2e::serve(app(public_folder(), AppState::new())).await;
    let mallory_id = chat::open(&mallory, addr, TITLE).await;
    chat::open(&bob, addr, TITLE).await;
    // Either script, if it ran, would leave a mark on the window and its title.
    let payload = "<img src=x onerror=\"window.__pwned='img';document.title='pwned'\"> \
                   <script>window.__pwned='script';document.title='pwned'</script>";

    // Act: the payload, then an ordinary message. Once the second one is
    // shown, the page has long finished with the first: an image that failed
    // to load would have fired its `onerror` by then.
    send(&mallory, payload).await;
    say(&mallory, &mallory_id, "just text", &[&mallory, &bob]).await;

    // Assert
    for window in [&mallory, &bob] {
        let lines = chat::lines(window).await;
        assert_eq!(lines[0]["text"], payload, "shown as the characters typed");
        let effects = window
            .execute(
                "return {
                    pwned: window.__pwned === undefined ? null : String(window.__pwned),
                    title: document.title,
                    images: document.querySelectorAll('#messages img').length,
                    scripts: document.querySelectorAll('#messages script').length,
                }",
                vec![],
            )
            .await;
        assert_eq!(
            effects,
            json!({ "pwned": null, "title": TITLE, "images": 0, "scripts": 0 }),
            "nothing in the message became an element or ran"
        );
    }
    mallory.close().await;
    bob.close().await;
}

/// When the server stops, both pages say "disconnected"; when it starts
/// again on the same port, both reconnect by themselves, with new ids, and
/// chatting works again.
#[tokio::test]
async fn after_a_server_restart_both_pages_reconnect_and_chat_again() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let server = KillableServer::start(app(public_folder(), AppState::new())).await;
    let addr = server.addr();
    let alice_old_id = chat::open(&alice, addr, TITLE).await;
    let bob_old_id = chat::open(&bob, addr, TITLE).await;

    // Act: stop the server completely: listener, connections, WebSockets.
    server.stop().await;

    // Assert: both pages noticed. They stay disconnected while the server
    // is down, so this wait cannot miss the state.
    for window in [&alice, &bob] {
        window.wait_until_disconnected().await;
    }

    // Act: a new server process, as after `cargo run` again: same port,
    // fresh state.
    let server = KillableServer::start_on(addr, app(public_folder(), AppState::new())).await;

    // Assert: both pages reconnect by themselves (nobody reloads them), as
    // new connections with new ids, and the chat works again, both ways.
    chat::both_reconnect_and_chat_again(
        [&alice, &bob],
        [&alice_old_id, &bob_old_id],
        "Yes, reconnected by itself.",
    )
    .await;
    alice.close().await;
    bob.close().await;
    server.stop().await;
}
