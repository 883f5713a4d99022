//! The chat room page of step 09, as a person uses it: join with a
//! nickname and a room, read who is online and who is typing, send a message
//! and see it confirmed.
//!
//! The page's structure, which these helpers rely on (its `index.html` says
//! the same beside the markup): a `#join-form` with `#nickname` and `#room`,
//! which Enter submits; `#join-error` with the server's refusal;
//! `#room-status`, whose `data-state` is `joined` (with `data-nickname` and
//! `data-room`) once the server has answered the join; `#online`, one
//! `button.user[data-nickname]` per person in the room; `#typing`; and
//! `#messages`, one `<li class="message">` per chat message with `.from` and
//! `.text`, your own ones `.mine` with a `data-state` (`sending`, `sent`,
//! `failed`), private ones `.private` with a `.private-tag`. The message box
//! is step 07's `#message-input`, so [`crate::chat::send`] types into it.

use fantoccini::{Locator, key::Key};
use serde_json::Value;
use tokio::time::timeout;

use crate::{Browser, WAIT};

/// Every chat line on the page, oldest first, as `{"from", "text", "mine",
/// "state", "private"}`: `state` is the `data-state` of your own lines
/// (`null` on others'), `private` the tag of a private one ("private to
/// carol", "private from alice"; `null` on the others). `textContent`, so
/// markup is returned as the characters it was shown as.
pub const CHAT_LINES: &str =
    "return [...document.querySelectorAll('#messages li.message')].map(li => ({
    from: li.querySelector('.from').textContent,
    text: li.querySelector('.text').textContent,
    mine: li.classList.contains('mine'),
    state: li.dataset.state === undefined ? null : li.dataset.state,
    private: li.classList.contains('private') ? li.querySelector('.private-tag').textContent : null,
}))";

/// The nicknames in the "online" list, in the page's order.
const ONLINE: &str =
    "return [...document.querySelectorAll('#online button.user')].map(b => b.dataset.nickname)";

/// Fills in the join form with `nickname` and `room` and presses Enter, as a
/// person joins; does not wait for the answer (see [`join`]).
pub async fn submit_join(window: &Browser, nickname: &str, room: &str) {
    fill(window, "#nickname", nickname).await;
    fill(window, "#room", room).await;
    let enter = char::from(Key::Enter).to_string();
    window.type_into("#room", &enter).await;
}

/// Joins `room` as `nickname` and waits until the page says the server let
/// it in, under that nickname, in that room.
pub async fn join(window: &Browser, nickname: &str, room: &str) {
    submit_join(window, nickname, room).await;
    wait_until_joined(window, nickname, room).await;
}

/// Waits until `#room-status` says the page is in `room` as `nickname`.
pub async fn wait_until_joined(window: &Browser, nickname: &str, room: &str) {
    window
        .wait_for_attribute("#room-status", "data-state", |s| s == "joined", WAIT)
        .await;
    let joined_as = window
        .execute(
            "const s = document.getElementById('room-status').dataset;
             return [s.nickname, s.room];",
            vec![],
        )
        .await;
    assert_eq!(joined_as, serde_json::json!([nickname, room]), "joined as");
}

/// Waits until the "online" list shows exactly `expected` (in the page's
/// alphabetical order), and returns it.
pub async fn wait_for_online(window: &Browser, expected: &[&str]) -> Value {
    window
        .wait_for_script(
            ONLINE,
            |names| names.as_array().is_some_and(|names| names == expected),
            WAIT,
        )
        .await
}

/// Every chat line `window` shows now (see [`CHAT_LINES`]).
pub async fn lines(window: &Browser) -> Value {
    window.execute(CHAT_LINES, vec![]).await
}

/// Waits until `window` shows a chat line for which `expected` is true (a
/// line as [`CHAT_LINES`] gives it), and returns that line.
pub async fn wait_for_line(window: &Browser, expected: impl Fn(&Value) -> bool) -> Value {
    let lines = window
        .wait_for_script(
            CHAT_LINES,
            |lines| {
                lines
                    .as_array()
                    .is_some_and(|lines| lines.iter().any(&expected))
            },
            WAIT,
        )
        .await;
    lines
        .as_array()
        .and_then(|lines| lines.iter().find(|line| expected(line)))
        .cloned()
        .expect("the line the wait found")
}

/// Empties the input at `selector`, then types `text` into it.
async fn fill(window: &Browser, selector: &str, text: &str) {
    timeout(WAIT, async {
        let element = window.client().find(Locator::Css(selector)).await?;
        element.clear().await?;
        element.send_keys(text).await
    })
    .await
    .unwrap_or_else(|_| panic!("filled in `{selector}` within {WAIT:?}"))
    .unwrap_or_else(|error| panic!("fill in `{selector}` with {text:?}: {error}"));
}

/// What of the chat room's page a short window hides: the window's height,
/// which of the join form, the message box and its button are not wholly
/// inside it (`hidden`, an empty list when all fit), and the id of the
/// focused element: `{"height", "hidden", "focus"}`.
pub async fn what_is_out_of_view(browser: &Browser) -> Value {
    browser
        .execute(
            "const inView = (id) => {
                 const box = document.getElementById(id).getBoundingClientRect();
                 return box.top >= 0 && box.bottom <= window.innerHeight;
             };
             return { height: window.innerHeight,
                      hidden: ['nickname', 'join', 'message-input', 'send'].filter(id => !inView(id)),
                      focus: document.activeElement.id };",
            vec![],
        )
        .await
}
