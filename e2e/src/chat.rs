//! The chat page of steps 07 and 08, as a person uses it: type a message and
//! press Enter, then read the chat lines.
//!
//! Both steps serve the same page structure (step 08 only adds the close
//! reason to `#status`): a `#message-input` in a form that Enter submits,
//! and one `<li class="message">` per chat message in `#messages`, with a
//! `.from` and a `.text` child; the page's own messages are also `.mine`.

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
