//! Step 10 in a real browser: `public/step-10-delivery/`, served exactly as
//! `cargo run -p step-10-delivery` serves it, on a database file of the
//! check's own that outlives a server restart.
//!
//! Step 10's own tests prove recovery and exactly-once storage from Rust;
//! these prove what only the page and `socket.js` can: while Bob's network
//! is down and the server restarts, Alice's message typed meanwhile says
//! "waiting for the server…" and is stored and delivered exactly once when
//! the server is back; Bob, back later, is shown everything he missed once
//! each, in order; a reload shows the history again, once; a new tab gets
//! the room's latest messages; `socket.js` retries an unanswered emit
//! `retries` times and then fails it; and after close code 4001 it does not
//! reconnect. The first check also takes the screenshots in
//! `notes/10-delivery.md` (refresh them with `UPDATE_SCREENSHOTS=1`). Run
//! with `cargo test -p e2e --test step_10_delivery`.

mod common;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
};

use common::serve_step_08;
use e2e::{
    Browser, GracefulServer, WAIT,
    chat::{self, send},
    chat_room::{join, wait_for_line, wait_until_joined, what_is_out_of_view},
    relay::Relay,
    scratch::ScratchFolder,
};
use serde_json::{Value, json};
use step_10_delivery::{
    AppState,
    config::{Config, DeliveryConfig},
    public_folder, serve,
    store::{Query, Store},
};
use tokio::time::timeout;

/// The page's title.
const TITLE: &str = "Step 10 · Nothing lost";

/// `HISTORY_SIZE` for these checks: 2, fewer than Bob misses, so a page
/// that joined without its `last_id` (and got only the room's latest) would
/// show a gap, and a reload that showed only the server's history would too.
const HISTORY_SIZE: usize = 2;

/// Every chat line on the page, oldest first, as `{"id", "from", "text",
/// "state", "words"}`: `id` is the server's (`null` until your own line is
/// stored), `state` and `words` the `data-state` of your own lines and what
/// they say (`null` on others').
const LINES: &str = "return [...document.querySelectorAll('#messages li.message')].map(li => ({
    id: li.dataset.id === undefined ? null : li.dataset.id,
    from: li.querySelector('.from').textContent,
    text: li.querySelector('.text').textContent,
    state: li.dataset.state === undefined ? null : li.dataset.state,
    words: li.classList.contains('mine') ? li.querySelector('.state').textContent : null,
}))";

/// Bob's network goes down, then the server restarts on the same database
/// file. Alice, who stays online, writes while the server is down: her line
/// says "waiting for the server…", and once the server is back her page
/// rejoins and sends it, and it is marked sent. She sends three more. When
/// Bob's network comes back, his page rejoins with the last id it saw and
/// shows the four he missed once each, in order; the database holds the
/// waiting message once; and after a reload his page shows the same
/// history again, once, and he is back in the room.
#[tokio::test]
async fn bob_gets_what_he_missed_once_in_order_and_the_waiting_message_goes_exactly_once() {
    // Arrange: Alice directly, Bob through a network the check can cut.
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let files = ScratchFolder::new();
    let database = files.join("chat.db");
    let (server, _) = start_step_10(any_port(), &database, settings(1000)).await;
    let addr = server.addr();
    let bobs_network = Relay::start(addr).await;
    chat::open(&alice, addr, TITLE).await;
    chat::open(&bob, bobs_network.addr(), TITLE).await;
    join(&alice, "alice", "general").await;
    join(&bob, "bob", "general").await;
    let before = "Before the restart";
    say(&alice, &bob, before).await;

    // Act: Bob's network goes, then the server; Alice writes meanwhile.
    bobs_network.cut();
    bob.wait_until_disconnected().await;
    server.shut_down(WAIT).await;
    alice.wait_until_disconnected().await;
    let waiting = "Typed while the server was down";
    send(&alice, waiting).await;

    // Assert: it waits, and says so.
    let line = wait_for_own_line(&alice, waiting, "waiting").await;
    assert_eq!(line["words"], "waiting for the server…");
    assert_eq!(line["id"], Value::Null, "not stored yet");
    alice.save_screenshot("10-waiting.png").await;

    // Act: the server is back on the same file; Alice's page rejoins by
    // itself and sends what waited; then she sends three more.
    let (server, store) = start_step_10(addr, &database, settings(1000)).await;
    wait_until_joined(&alice, "alice", "general").await;
    wait_for_own_line(&alice, waiting, "sent").await;
    let three = ["One, while you were away", "Two", "Three"];
    for text in three {
        send(&alice, text).await;
        wait_for_own_line(&alice, text, "sent").await;
    }

    // Act: Bob's network is back.
    bobs_network.restore();
    wait_until_joined(&bob, "bob", "general").await;

    // Assert: Bob has what he missed, once each, in order, then live ones.
    let mut expected = vec![before, waiting];
    expected.extend(three);
    let after = "Welcome back, Bob";
    say(&alice, &bob, after).await;
    expected.push(after);
    assert_eq!(
        texts(&bob).await,
        expected,
        "Bob's page, in order, once each"
    );
    assert_eq!(texts(&alice).await, expected, "Alice's page, once each");
    let stored = store
        .find(Query::Latest {
            room: "general".to_owned(),
            limit: 100,
        })
        .await
        .expect("read the test's database");
    let copies = stored.messages.iter().filter(|m| m.text == waiting).count();
    assert_eq!(copies, 1, "the database has the waiting message once");
    bob.save_screenshot("10-bob-back.png").await;

    // Act: Bob reloads the page.
    reload(&bob).await;

    // Assert: the same history, once, and he is back in the room as bob.
    wait_until_joined(&bob, "bob", "general").await;
    assert_eq!(texts(&bob).await, expected, "after a reload");
    let later = "Still there after the reload?";
    say(&alice, &bob, later).await;
    expected.push(later);
    assert_eq!(texts(&bob).await, expected, "one more, once");
    alice.close().await;
    bob.close().await;
    server.shut_down(WAIT).await;
}

/// A new tab (no session, no last id) is shown the room's latest messages
/// as soon as it joins: Alice writes two messages, Carol opens the page
/// later and sees both from "alice". Alice, in a window only 557 px tall,
/// reloads: she sees her own two, still marked as hers and sent, once each;
/// the page has rejoined by itself and put the cursor in the message box,
/// and the join form and the message box are in view.
#[tokio::test]
async fn a_new_tab_gets_the_history_and_a_reload_keeps_your_own_lines() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let carol = alice.new_session().await;
    let files = ScratchFolder::new();
    let (server, _) = start_step_10(any_port(), &files.join("chat.db"), settings(1000)).await;
    timeout(WAIT, alice.client().set_window_size(1024, 557))
        .await
        .expect("the browser answered within the timeout")
        .expect("resize the window");
    chat::open(&alice, server.addr(), TITLE).await;
    join(&alice, "alice", "general").await;
    let said = ["Anyone here?", "I'll leave a note for later."];
    for text in said {
        send(&alice, text).await;
        wait_for_own_line(&alice, text, "sent").await;
    }

    // Act: Carol comes later; Alice reloads.
    chat::open(&carol, server.addr(), TITLE).await;
    join(&carol, "carol", "general").await;
    reload(&alice).await;
    wait_until_joined(&alice, "alice", "general").await;

    // Assert
    let carols = carol
        .wait_for_script(
            LINES,
            |lines| lines.as_array().is_some_and(|l| l.len() == 2),
            WAIT,
        )
        .await;
    assert_eq!(froms_and_texts(&carols), pairs("alice", &said));
    let alices = alice.execute(LINES, vec![]).await;
    assert_eq!(froms_and_texts(&alices), pairs("alice", &said));
    let states: Vec<&Value> = alices
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| &l["state"])
        .collect();
    assert_eq!(states, [&json!("sent"), &json!("sent")], "still hers, sent");
    let view = what_is_out_of_view(&alice).await;
    assert_eq!(view["hidden"], json!([]), "out of view: {view}");
    assert_eq!(view["focus"], "message-input", "{view}");
    alice.close().await;
    carol.close().await;
    server.shut_down(WAIT).await;
}

/// Further behind than `REPLAY_CAP` (2 here): Bob, back after missing
/// three messages, is told in words that one older message is not shown,
/// and is shown the latest two, in order.
#[tokio::test]
async fn too_far_behind_the_page_says_how_many_were_skipped() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let files = ScratchFolder::new();
    let (server, _) = start_step_10(any_port(), &files.join("chat.db"), settings(2)).await;
    let bobs_network = Relay::start(server.addr()).await;
    chat::open(&alice, server.addr(), TITLE).await;
    chat::open(&bob, bobs_network.addr(), TITLE).await;
    join(&alice, "alice", "general").await;
    join(&bob, "bob", "general").await;
    say(&alice, &bob, "Seen by Bob").await;

    // Act: three messages while Bob is away.
    bobs_network.cut();
    bob.wait_until_disconnected().await;
    for text in ["Missed 1", "Missed 2", "Missed 3"] {
        send(&alice, text).await;
        wait_for_own_line(&alice, text, "sent").await;
    }
    bobs_network.restore();

    // Assert
    wait_until_joined(&bob, "bob", "general").await;
    bob.wait_for_script(
        "return [...document.querySelectorAll('#messages li.notice')].map(li => li.textContent)",
        |notices| {
            notices.as_array().is_some_and(|all| {
                all.contains(&json!(
                    "you were away for long: 1 older message in general not shown, only the latest ones"
                ))
            })
        },
        WAIT,
    )
    .await;
    say(&alice, &bob, "And now live").await;
    assert_eq!(
        texts(&bob).await,
        ["Seen by Bob", "Missed 2", "Missed 3", "And now live"]
    );
    alice.close().await;
    bob.close().await;
    server.shut_down(WAIT).await;
}

/// `io({ ackTimeout, retries })` against a server that never answers
/// (step 08's, which ignores `"ack"` but passes every message on, back to
/// its writer too): the emit is sent 1 + `retries` times, each try after the
/// last one's `ackTimeout`, and then its callback fails with "operation has
/// timed out".
#[tokio::test]
async fn socket_js_sends_an_unanswered_emit_again_then_fails_it() {
    // Arrange
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let server = GracefulServer::start(serve_step_08).await;
    chat::open(&browser, server.addr(), "Step 08 · Chat, production-grade").await;

    // Act
    let outcome = browser
        .execute_async(
            "const done = arguments[0];
             const retrying = io({ ackTimeout: 300, retries: 2 });
             let heard = 0;
             retrying.on('message', ({ text }) => { if (text === 'once more') heard += 1; });
             retrying.on('connect', () => {
                 const started = Date.now();
                 retrying.emit('message', 'once more', (err, result) => done({
                     error: err ? err.message : null, heard, waited: Date.now() - started,
                 }));
             });",
            vec![],
        )
        .await;

    // Assert: three tries reached the server, then the callback failed.
    assert_eq!(outcome["error"], "operation has timed out", "{outcome}");
    assert_eq!(outcome["heard"], 3, "sent 1 + 2 times: {outcome}");
    assert!(
        outcome["waited"].as_u64().is_some_and(|ms| ms >= 900),
        "three timeouts of 300 ms: {outcome}"
    );
    browser.close().await;
    server.shut_down(WAIT).await;
}

/// A newer connection that joins with this tab's session takes it over:
/// the server closes the tab's connection with 4001, and `socket.js` does
/// not reconnect (no "reconnecting" follows the "disconnect"; `active` is
/// false), and the page says so instead of rejoining.
#[tokio::test]
async fn after_a_take_over_the_page_does_not_reconnect_and_says_why() {
    // Arrange
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let files = ScratchFolder::new();
    let (server, _) = start_step_10(any_port(), &files.join("chat.db"), settings(1000)).await;
    chat::open(&browser, server.addr(), TITLE).await;
    join(&browser, "bob", "general").await;

    // Act: a second socket in the same page joins with the tab's session.
    let outcome = browser
        .execute_async(
            "const done = arguments[0];
             const events = [];
             socket.on('reconnecting', () => events.push('reconnecting'));
             const closed = new Promise((resolve) => socket.on('disconnect', (reason) => {
                 events.push(reason);
                 // 'reconnecting' would have fired in this same turn.
                 setTimeout(resolve, 0);
             }));
             const newer = io();
             const answered = new Promise((resolve) => newer.on('connect', () => {
                 const session = JSON.parse(sessionStorage.getItem('chat.session'));
                 resolve(newer.emitWithAck('join', { nickname: 'bob', session }));
             }));
             Promise.all([closed, answered]).then(
                 ([, { recovered }]) => done({ events, active: socket.active, recovered }),
                 (err) => done(`threw: ${err}`));",
            vec![],
        )
        .await;

    // Assert
    assert_eq!(
        outcome,
        json!({
            "events": ["this session was taken over by a newer connection (code 4001)"],
            "active": false,
            "recovered": true,
        })
    );
    let status = browser
        .wait_for_text("#status", |text| text.contains("not reconnecting"), WAIT)
        .await;
    assert!(status.contains("taken over"), "{status}");
    browser
        .wait_for_text("#room-status", |text| text.contains("newer tab"), WAIT)
        .await;
    browser.close().await;
    server.shut_down(WAIT).await;
}

/// `127.0.0.1:0`: any free port.
fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// The default settings, but [`HISTORY_SIZE`] and `replay_cap` as
/// `REPLAY_CAP`.
fn settings(replay_cap: usize) -> Config {
    let defaults = Config::default();
    Config {
        delivery: DeliveryConfig {
            history_size: HISTORY_SIZE,
            replay_cap,
            ..defaults.delivery.clone()
        },
        ..defaults
    }
}

/// Starts step 10 on `addr` (port 0 for any) with `config` and the
/// database at `database`, as `main` would with `DATABASE_PATH`; returns
/// the server and a handle to its store, to look into the database.
async fn start_step_10(
    addr: SocketAddr,
    database: &Path,
    config: Config,
) -> (GracefulServer, Store) {
    let store = Store::open(database, config.delivery.retention_per_room)
        .unwrap_or_else(|error| panic!("open {}: {error}", database.display()));
    let state = AppState::new(config, store.clone());
    let server = GracefulServer::start_on(addr, move |listener, stop| {
        serve(listener, public_folder(), state, stop)
    })
    .await;
    (server, store)
}

/// Alice types `text` and presses Enter; waits until `reader` shows it.
async fn say(alice: &Browser, reader: &Browser, text: &str) {
    send(alice, text).await;
    wait_for_line(reader, |line| {
        line["from"] == "alice" && line["text"] == text
    })
    .await;
}

/// Waits until `window` shows its own line `text` in `state`; returns it
/// as [`LINES`] gives it.
async fn wait_for_own_line(window: &Browser, text: &str, state: &str) -> Value {
    let lines = window
        .wait_for_script(
            LINES,
            |lines| {
                lines.as_array().is_some_and(|lines| {
                    lines
                        .iter()
                        .any(|line| line["text"] == text && line["state"] == state)
                })
            },
            WAIT,
        )
        .await;
    lines
        .as_array()
        .and_then(|lines| lines.iter().find(|line| line["text"] == text))
        .cloned()
        .expect("the line the wait found")
}

/// The text of every chat line `window` shows, oldest first.
async fn texts(window: &Browser) -> Vec<String> {
    let lines = window.execute(LINES, vec![]).await;
    lines
        .as_array()
        .into_iter()
        .flatten()
        .map(|line| line["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `[from, text]` of each line of `lines`.
fn froms_and_texts(lines: &Value) -> Vec<[String; 2]> {
    lines
        .as_array()
        .into_iter()
        .flatten()
        .map(|line| {
            let part = |key: &str| line[key].as_str().unwrap_or_default().to_owned();
            [part("from"), part("text")]
        })
        .collect()
}

/// `[from, text]` for each of `texts`.
fn pairs(from: &str, texts: &[&str]) -> Vec<[String; 2]> {
    texts
        .iter()
        .map(|text| [from.to_owned(), (*text).to_owned()])
        .collect()
}

/// Reloads `window` (as the browser's reload button does) and waits until
/// the page is connected again.
async fn reload(window: &Browser) {
    timeout(WAIT, window.client().refresh())
        .await
        .expect("the browser answered within the timeout")
        .expect("reload the page");
    window.wait_until_connected().await;
}
