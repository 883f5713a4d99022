//! Step 08 in a real browser: `public/step-08-production/` served exactly as
//! `cargo run -p step-08-production` serves it (the step's own `serve`, with
//! its origin check, limits and graceful shutdown).
//!
//! Step 08's own tests talk to the server from Rust, where a client sends
//! whatever `Origin` it likes; these prove what only a browser can: the
//! origin check lets the page's own WebSocket in (the chat works) and keeps
//! a page from another origin out, and a graceful shutdown reaches the
//! person at the page as "server shutting down", after which the page
//! reconnects by itself when the server is back. Run with
//! `cargo test -p e2e --test step_08_production`; the step is explained in
//! `notes/08-production.md`.

mod common;

use common::serve_step_08;
use e2e::{
    GracefulServer, WAIT,
    chat::{self, say},
};
use serde_json::json;

/// The page's title.
const TITLE: &str = "Step 08 · Chat, production-grade";

/// Opens a WebSocket to `arguments[0]` and calls back with what happened to
/// it, in order: `"open"`, `"error"`, `"close <code>"`. An opened socket is
/// closed again at once (code 1000), so the callback always comes.
const TRY_WEBSOCKET: &str = "const [url, done] = arguments;
const events = [];
const socket = new WebSocket(url);
socket.onopen = () => { events.push('open'); socket.close(1000); };
socket.onerror = () => events.push('error');
socket.onclose = (close) => { events.push(`close ${close.code}`); done(events); };";

/// Two windows chat on the step 08 page: Enter sends, and each message shows
/// in both windows with its sender. Browsers always send `Origin` on a
/// WebSocket upgrade, so this proves the origin check accepts the page's own
/// socket — the check does not lock out the real page.
#[tokio::test]
async fn two_windows_chat_through_the_origin_check() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let mut log = e2e::log_lines();
    let server = GracefulServer::start(serve_step_08).await;
    let alice_id = chat::open(&alice, server.addr(), TITLE).await;
    let bob_id = chat::open(&bob, server.addr(), TITLE).await;
    // The ids the pages show are the ones this server gave out.
    log.wait_for(&format!("a user connected {alice_id}")).await;
    log.wait_for(&format!("a user connected {bob_id}")).await;

    // Act and Assert: each message is seen in both windows, with its sender.
    let windows = [&alice, &bob];
    say(
        &alice,
        &alice_id,
        "Hello from behind the origin check",
        &windows,
    )
    .await;
    say(&bob, &bob_id, "It let my page in too", &windows).await;
    alice.close().await;
    bob.close().await;
    server.shut_down(WAIT).await;
}

/// The server's real graceful shutdown (what Ctrl-C triggers in `main`)
/// shows on both pages as "server shutting down (code 1001)" with
/// `data-state="disconnected"`, for as long as the server is down; when step
/// 08 starts again on the same port, both pages reconnect by themselves,
/// with new ids, and the chat works again.
#[tokio::test]
async fn shutdown_shows_its_reason_and_the_pages_reconnect_when_the_server_is_back() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let server = GracefulServer::start(serve_step_08).await;
    let addr = server.addr();
    let alice_old_id = chat::open(&alice, addr, TITLE).await;
    let bob_old_id = chat::open(&bob, addr, TITLE).await;

    // Act: resolve the stop future `serve` was given, and wait until `serve`
    // has returned: every socket got its close frame, the port is closed.
    server.shut_down(WAIT).await;

    // Assert: both pages show the server's reason. While the server is down
    // the page keeps it in view (beside "reconnecting in N s"), so this
    // wait cannot miss it.
    for window in [&alice, &bob] {
        window
            .wait_for_text(
                "#status",
                |text| text.contains("server shutting down (code 1001)"),
                WAIT,
            )
            .await;
        window.wait_until_disconnected().await;
    }

    // Act: step 08 again on the same port, with fresh state, as after
    // `cargo run` again.
    let server = GracefulServer::start_on(addr, serve_step_08).await;

    // Assert: both pages reconnect by themselves (nobody reloads them), as
    // new connections with new ids, and the chat works again, both ways.
    chat::both_reconnect_and_chat_again(
        [&alice, &bob],
        [&alice_old_id, &bob_old_id],
        "Yes, after a polite goodbye.",
    )
    .await;
    alice.close().await;
    bob.close().await;
    server.shut_down(WAIT).await;
}

/// A page from another origin (step 03's page, served on another port)
/// cannot open a WebSocket to step 08: the browser reports an error and a
/// close with 1006, never an open, and the server logs that it refused that
/// origin. The same script on step 08's own page opens the socket, so it is
/// the origin that is refused, not the script.
#[tokio::test]
async fn a_page_from_another_origin_cannot_open_a_websocket() {
    // Arrange: step 08, and step 03 on another port: another origin.
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let mut log = e2e::log_lines();
    let server = GracefulServer::start(serve_step_08).await;
    let socket_url = json!(format!("ws://{}/ws", server.addr()));
    let other_site = e2e::serve(step_03_static_server::app(
        step_03_static_server::public_folder(),
    ))
    .await;

    // Act and Assert: from step 08's own page, the socket opens.
    browser.goto(&format!("http://{}/", server.addr())).await;
    let same_origin = browser
        .execute_async(TRY_WEBSOCKET, vec![socket_url.clone()])
        .await;
    assert_eq!(same_origin, json!(["open", "close 1000"]), "same origin");

    // Act: the same script on the other origin's page.
    browser.goto(&format!("http://{other_site}/")).await;
    let cross_origin = browser.execute_async(TRY_WEBSOCKET, vec![socket_url]).await;

    // Assert: refused before the upgrade, and the server says why.
    assert_eq!(cross_origin, json!(["error", "close 1006"]), "cross origin");
    log.wait_for(&format!(
        "refusing a WebSocket from origin http://{other_site}: not allowed"
    ))
    .await;
    browser.close().await;
    server.shut_down(WAIT).await;
}
