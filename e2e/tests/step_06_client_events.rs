//! Step 06 in a real browser: a click on `#btn` in
//! `public/step-06-client-events/` emits `fromClient`, and the server logs it.
//!
//! Step 06's own tests send `fromClient` from a Rust client; this proves the
//! button is wired to the right event name and that `socket.js` delivers
//! every click. The server's own log line is the witness. Run with
//! `cargo test -p e2e --test step_06_client_events`; the page is explained
//! in `notes/06-client-events.md`.

use std::time::Duration;

use step_06_client_events::{AppState, app, public_folder};

/// Three clicks on "Click Me" are exactly three `message received from
/// client <id>` lines in the server's log, for the id this page shows: not
/// fewer, and not more (a click sent twice would show as four).
#[tokio::test]
async fn each_click_is_logged_by_the_server() {
    // Arrange: ticks are step 05's check; an hour between them keeps this
    // page quiet.
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let state = AppState::new(Duration::from_secs(3600));
    let addr = e2e::serve(app(public_folder(), state)).await;
    browser.goto(&format!("http://{addr}/")).await;
    let id = browser.wait_until_connected().await;
    let mut logs = e2e::log_lines();

    // Act
    for _ in 0..3 {
        browser.click("#btn").await;
    }

    // Assert: closing the window ends the connection, and the server logs
    // that after every frame the page sent on it, so counting up to the
    // disconnect counts every click the server received.
    browser.close().await;
    let received = logs
        .count_until(
            &format!("message received from client {id}"),
            &format!("user disconnected {id}"),
        )
        .await;
    assert_eq!(received, 3, "clicks the server received from {id}");
}
