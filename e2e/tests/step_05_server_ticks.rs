//! Step 05 in a real browser: `public/step-05-server-ticks/` adds a line for
//! every `fromServer` event the server's ticker sends.
//!
//! Step 05's own tests read the ticks with a Rust client; this proves the
//! page listens for the right event name and turns each tick into a line.
//! The tick is set to 100 ms through the step's `AppState`, so the check
//! takes a fraction of a second instead of the default two seconds a tick.
//! Run with `cargo test -p e2e --test step_05_server_ticks`; the page is
//! explained in `notes/05-server-ticks.md`.

use std::time::Duration;

use e2e::WAIT;
use step_05_server_ticks::{AppState, app, public_folder};

/// With a tick every 100 ms, at least three "New Event from server" lines
/// appear under the connected status, one per `fromServer` event.
#[tokio::test]
async fn server_ticks_become_lines_on_the_page() {
    // Arrange
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let state = AppState::new(Duration::from_millis(100));
    let addr = e2e::serve(app(public_folder(), state)).await;

    // Act
    browser.goto(&format!("http://{addr}/")).await;
    browser.wait_until_connected().await;

    // Assert: three lines arrive (at 100 ms a tick, well within WAIT), and
    // every line is the lesson's text.
    browser
        .wait_for_count("#events > div", |count| count >= 3, WAIT)
        .await;
    let lines = browser
        .execute(
            "return [...document.querySelectorAll('#events > div')].map(div => div.textContent)",
            vec![],
        )
        .await;
    let lines = lines.as_array().expect("the script returns an array");
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(
        lines.iter().all(|line| line == "New Event from server"),
        "every line is \"New Event from server\": {lines:?}"
    );
    browser.close().await;
}
