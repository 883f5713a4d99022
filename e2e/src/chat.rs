//! The chat page of steps 07 and 08, as a person uses it: type a message and
//! press Enter, then read the chat lines.
//!
//! Both steps serve the same page structure (step 08 only adds the close
//! reason to `#status`): a `#message-input` in a form that Enter submits,
//! and one `<li class="message">` per chat message in `#messages`, with a
//! `.from` and a `.text` child; the page's own messages are also `.mine`.

use std::net::SocketAddr;

use fantoccini::key::Key;
use serde_json::Value;

use crate::{Browser, WAIT};

/// Every chat line on the page, oldest first, as
/// `{"from": <sender id>, "text": <text>, "mine": <marked as yours>}`.
/// `textContent`, so markup in a message is returned as the characters it
/// was shown as.
pub const CHAT_LINES: &str =
    "return [...document.querySelectorAll('#messages li.message')].map(li => ({
    from: li.querySelector('.from').textContent,
    text: li.querySelector('.text').textContent,
    mine: li.classList.contains('mine'),
}))";

/// Opens the chat page at `addr`, checks its `<title>` is `title`, and waits
/// until it is connected; returns the id the server gave the page.
pub async fn open(window: &Browser, addr: SocketAddr, title: &str) -> String {
    window.goto(&format!("http://{addr}/")).await;
    assert_eq!(window.title().await, title);
    window.wait_until_connected().await
}

/// After the server came back from a stop: waits until both `windows`
/// (whose ids were `old_ids`) are connected again by themselves, nobody
/// reloading them, each as a new connection with a new id; then checks that
/// the chat works again both ways: the first window asks "Are you back?" and
/// the second answers `answer`, each line shown in both windows.
pub async fn both_reconnect_and_chat_again(
    windows: [&Browser; 2],
    old_ids: [&str; 2],
    answer: &str,
) {
    let [first, second] = windows;
    let mut new_ids = Vec::new();
    for (window, old_id) in windows.into_iter().zip(old_ids) {
        let id = window.wait_until_connected().await;
        assert_ne!(id, old_id, "the page made a new connection");
        new_ids.push(id);
    }
    say(first, &new_ids[0], "Are you back?", &windows).await;
    say(second, &new_ids[1], answer, &windows).await;
}

/// `sender` (whose id is `sender_id`) types `text` and presses Enter; waits
/// until every one of `windows` shows it, from that sender.
pub async fn say(sender: &Browser, sender_id: &str, text: &str, windows: &[&Browser]) {
    send(sender, text).await;
    for window in windows {
        wait_for_message(window, sender_id, text).await;
    }
}

/// Every chat line `window` shows now (see [`CHAT_LINES`]).
pub async fn lines(window: &Browser) -> Value {
    window.execute(CHAT_LINES, vec![]).await
}

/// Types `text` into the message box and presses Enter, as a person sends
/// a message.
pub async fn send(window: &Browser, text: &str) {
    let keys = format!("{text}{}", char::from(Key::Enter));
    window.type_into("#message-input", &keys).await;
}

/// Waits, up to [`WAIT`], until `window` shows a chat line `text` from the
/// sender `from`.
pub async fn wait_for_message(window: &Browser, from: &str, text: &str) {
    window
        .wait_for_script(
            CHAT_LINES,
            |lines| {
                lines.as_array().is_some_and(|lines| {
                    lines
                        .iter()
                        .any(|line| line["from"] == from && line["text"] == text)
                })
            },
            WAIT,
        )
        .await;
}
