//! Step 04 in a real browser: `public/step-04-connect-logging/` opens a
//! WebSocket through `public/socket.js`, and the page and the server agree
//! on who connected.
//!
//! Step 04's own tests connect with a Rust WebSocket client; this proves the
//! browser half works too: the page finds `/socket.js`, connects to the right
//! URL, understands the server's `connect` greeting, and shows the very id
//! the server logged. Run with
//! `cargo test -p e2e --test step_04_connect_logging`; the page is explained
//! in `notes/04-connect-logging.md`.

use step_04_connect_logging::{app, public_folder};

/// The page shows `connected as <id>` with the id the server assigned: the
/// same id is in the server's `a user connected <id>` log line. Closing the
/// window is logged as `user disconnected <id>`, for that id.
#[tokio::test]
async fn the_page_shows_the_id_the_server_logged() {
    // Arrange
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let mut logs = e2e::log_lines();
    let addr = e2e::serve(app(public_folder())).await;

    // Act
    browser.goto(&format!("http://{addr}/")).await;
    let id = browser.wait_until_connected().await;

    // Assert: the server logged this page's connection, under the same id.
    assert_eq!(browser.title().await, "Step 04 · Connect and log");
    logs.wait_for(&format!("a user connected {id}")).await;

    // Act: the learner closes the window.
    browser.close().await;

    // Assert
    logs.wait_for(&format!("user disconnected {id}")).await;
}
