//! The chat lines of the pages that keep every message (step 10's, and step
//! 11's, which is step 10's on several servers), read with what those pages
//! add to step 09's: each line's server id and your own lines' state in
//! words.
//!
//! Step 10's page marks each message `<li class="message">` with `data-id`
//! (the server's id, once it has one) and, on your own, a `data-state`
//! (`waiting`, `sent`, `failed`) and a `.state` child saying so
//! ("waiting for the server…"). A check that a missed message is shown once,
//! in order, compares the texts and the ids; one that a message waited reads
//! its state. (Step 10's own check has its copy of these; step 11's uses
//! this one.)

use serde_json::Value;

use crate::{Browser, WAIT, chat::send, chat_room::wait_for_line};

/// Every chat line on the page, oldest first, as `{"id", "from", "text",
/// "state", "words", "private"}`: `id` is the server's (`null` until your
/// own line is stored), `state` and `words` the `data-state` of your own
/// lines and what they say (`null` on others'), `private` the tag of a
/// private line ("private to bob"; `null` on the others).
pub const LINES: &str = "return [...document.querySelectorAll('#messages li.message')].map(li => ({
    id: li.dataset.id === undefined ? null : li.dataset.id,
    from: li.querySelector('.from').textContent,
    text: li.querySelector('.text').textContent,
    state: li.dataset.state === undefined ? null : li.dataset.state,
    words: li.classList.contains('mine') ? li.querySelector('.state').textContent : null,
    private: li.classList.contains('private') ? li.querySelector('.private-tag').textContent : null,
}))";

/// `sender` types `text` and presses Enter; waits until `reader` shows it
/// from `from` (the sender's nickname).
pub async fn say(sender: &Browser, from: &str, reader: &Browser, text: &str) {
    send(sender, text).await;
    wait_for_line(reader, |line| line["from"] == from && line["text"] == text).await;
}

/// Waits, up to `limit`, until `window` shows its own line `text` in
/// `state`; returns that line as [`LINES`] gives it.
pub async fn wait_for_own_line_within(
    window: &Browser,
    text: &str,
    state: &str,
    limit: std::time::Duration,
) -> Value {
    let is_it = |line: &Value| line["text"] == text && line["state"] == state;
    let lines = window
        .wait_for_script(
            LINES,
            |lines| {
                lines
                    .as_array()
                    .is_some_and(|lines| lines.iter().any(is_it))
            },
            limit,
        )
        .await;
    lines
        .as_array()
        .and_then(|lines| lines.iter().find(|line| is_it(line)))
        .cloned()
        .expect("the line the wait found")
}

/// [`wait_for_own_line_within`] the usual [`WAIT`].
pub async fn wait_for_own_line(window: &Browser, text: &str, state: &str) -> Value {
    wait_for_own_line_within(window, text, state, WAIT).await
}

/// Every chat line `window` shows now (see [`LINES`]).
pub async fn lines(window: &Browser) -> Vec<Value> {
    let lines = window.execute(LINES, vec![]).await;
    lines.as_array().cloned().unwrap_or_default()
}

/// The text of every chat line `window` shows now, oldest first.
pub async fn texts(window: &Browser) -> Vec<String> {
    lines(window)
        .await
        .iter()
        .map(|line| line["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The server's ids of every chat line `window` shows now, as numbers
/// (message ids are decimal strings of integers); a line without an id, or
/// with one that is not a number, is `None`.
pub async fn ids(window: &Browser) -> Vec<Option<u64>> {
    lines(window)
        .await
        .iter()
        .map(|line| line["id"].as_str().and_then(|id| id.parse().ok()))
        .collect()
}
