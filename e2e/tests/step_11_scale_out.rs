//! Step 11 in a real browser: `public/step-11-scale-out/` on two nodes of
//! one chat, "a" and "b", both in this process, sharing a `redis-server`
//! the check starts on a free port (and stops) itself.
//!
//! Step 11's own tests prove from Rust that two nodes share rooms,
//! presence, ids and history through Redis; these prove what only two pages
//! on two servers can: Alice's tab on node A and Bob's on node B are in one
//! room, see each other online and typing, chat both ways and exchange
//! private messages; when node A restarts, Alice's page comes back by
//! itself and shows what Bob wrote meanwhile, once each, in order, with the
//! right people online; and while Redis is down a message waits ("waiting
//! for the server…"), `socket.js` sending it again as the node's "retry"
//! refusals ask, until it goes, once. Without `redis-server` each check
//! prints one `SKIP:` line and passes (`REDIS_REQUIRED=1` makes that a
//! failure), as without Chromium (`E2E_REQUIRED=1`). The first check also
//! takes the screenshots for `notes/11-scale-out.md` (refresh them with
//! `UPDATE_SCREENSHOTS=1`). Run with
//! `cargo test -p e2e --test step_11_scale_out`.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use e2e::{
    Browser, GracefulServer, WAIT,
    chat::{self, send},
    chat_room::{join, wait_for_line, wait_for_online, wait_until_joined},
    delivery::{ids, say, texts, wait_for_own_line, wait_for_own_line_within},
    scratch::ScratchFolder,
};
use fantoccini::key::Key;
use step_11_scale_out::{
    AppState,
    config::{Config, DeliveryConfig, SharedSettings},
    public_folder, serve,
};
use testkit::redis::{RedisOptions, RedisServer};

/// The page's title.
const TITLE: &str = "Step 11 · Many servers";

/// `HISTORY_SIZE` for these checks: 2, fewer than Alice misses, so a page
/// that joined again without its `last_id` (and got only the room's latest)
/// would show a gap.
const HISTORY_SIZE: usize = 2;

/// `NODE_LIVENESS_MS`: short, so a node that has gone silent counts as gone
/// quickly; the nodes here stop gracefully, which takes their users out at
/// once anyway.
const LIVENESS: Duration = Duration::from_millis(600);

/// How long a message refused while Redis is down may take to go once
/// Redis is back: the node must notice (its reconnect backs off) and
/// socket.js sends refused emits again every 2 s at most.
const BACK_FROM_AN_OUTAGE: Duration = Duration::from_secs(30);

/// Alice on node A, Bob on node B, in `general`: each page says which
/// server it is on; they see each other online, see each other typing, chat
/// both ways, and exchange private messages. Then node A stops (its
/// graceful shutdown: Bob's list loses Alice) and, while it is down, Bob
/// writes three messages; node A starts again on the same port (a new
/// process state, the same Redis). Alice's page reconnects and rejoins by
/// itself and shows the three, once each, in order, before what Bob says
/// live; both lists say alice and bob; and the ids on the page, given by
/// two nodes, only ever increase.
#[tokio::test]
async fn two_tabs_on_two_nodes_chat_and_a_restarted_node_gives_back_what_was_missed() {
    // Arrange: two browsers, one Redis, two nodes.
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let bob = alice.new_session().await;
    let files = ScratchFolder::new();
    let node_a = start_node(any_port(), "a", &redis, &files).await;
    let node_b = start_node(any_port(), "b", &redis, &files).await;
    let addr_a = node_a.addr();
    open_on(&alice, addr_a).await;
    open_on(&bob, node_b.addr()).await;
    join(&alice, "alice", "general").await;
    join(&bob, "bob", "general").await;

    // Assert: one room across two servers.
    wait_for_online(&alice, &["alice", "bob"]).await;
    wait_for_online(&bob, &["alice", "bob"]).await;

    // Act and Assert: typing and chatting, both ways.
    let from_alice = "Hi Bob! I am on node A.";
    type_then_send(&alice, &bob, "alice", from_alice).await;
    let from_bob = "Hi Alice, node B here.";
    type_then_send(&bob, &alice, "bob", from_bob).await;
    wait_for_own_line(&alice, from_alice, "sent").await;
    wait_for_own_line(&bob, from_bob, "sent").await;

    // Act and Assert: a private message each way, seen by its recipient
    // only as private, and by its sender as sent.
    let to_bob = "Psst, Bob: this one is only for you.";
    private(&alice, "alice", &bob, "bob", to_bob).await;
    let to_alice = "Got it, Alice.";
    private(&bob, "bob", &alice, "alice", to_alice).await;
    alice.save_screenshot("11-alice-on-a.png").await;
    bob.save_screenshot("11-bob-on-b.png").await;

    // Act: node A goes; Bob writes while it is down.
    node_a.shut_down(WAIT).await;
    alice.wait_until_disconnected().await;
    wait_for_online(&bob, &["bob"]).await;
    let missed = ["One, while node A is down", "Two", "Three"];
    for text in missed {
        send(&bob, text).await;
        wait_for_own_line(&bob, text, "sent").await;
    }

    // Act: node A again, on the same port, with a new state.
    let node_a = start_node(addr_a, "a", &redis, &files).await;

    // Assert: Alice is back by herself, with everyone online, and has what
    // she missed once each, in order, before what comes live.
    wait_until_joined(&alice, "alice", "general").await;
    wait_for_online(&alice, &["alice", "bob"]).await;
    wait_for_online(&bob, &["alice", "bob"]).await;
    let live = "Welcome back, Alice";
    say(&bob, "bob", &alice, live).await;
    let mut expected = vec![from_alice, from_bob, to_bob, to_alice];
    expected.extend(missed);
    expected.push(live);
    assert_eq!(
        texts(&alice).await,
        expected,
        "Alice's page, once each, in order"
    );
    assert_eq!(texts(&bob).await, expected, "Bob's page");
    assert_increasing(&ids(&alice).await);
    let answer = "Thanks, Bob!";
    say(&alice, "alice", &bob, answer).await;
    wait_for_own_line(&alice, answer, "sent").await;
    for window in [alice, bob] {
        window.close().await;
    }
    node_a.shut_down(WAIT).await;
    node_b.shut_down(WAIT).await;
}

/// Redis goes down (and comes back, with its append-only file) while Alice
/// and Bob are in `general` on two nodes. Alice's message typed meanwhile is
/// refused by her node with `"retry": true`; her page keeps it as
/// "waiting for the server…" while socket.js sends it again; once Redis is
/// back it is sent, and Bob sees it exactly once; both lists still say
/// alice and bob, and the chat goes on. Meanwhile a join from a second
/// socket shows that socket.js's patience with such refusals is its own
/// (outside `retries`) and runs out.
#[tokio::test]
async fn while_redis_is_down_a_message_waits_and_goes_once_when_it_is_back() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let Some(mut redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let bob = alice.new_session().await;
    let files = ScratchFolder::new();
    let node_a = start_node(any_port(), "a", &redis, &files).await;
    let node_b = start_node(any_port(), "b", &redis, &files).await;
    open_on(&alice, node_a.addr()).await;
    open_on(&bob, node_b.addr()).await;
    join(&alice, "alice", "general").await;
    join(&bob, "bob", "general").await;
    wait_for_online(&bob, &["alice", "bob"]).await;
    say(&alice, "alice", &bob, "Before the outage").await;
    alice.execute(RECORD_RETRY_REFUSALS, vec![]).await;

    // Act: Redis goes; Alice writes.
    redis.stop();
    let waiting = "Typed while Redis was down";
    send(&alice, waiting).await;

    // Assert: refused with "retry", and waiting, not failed.
    alice
        .wait_for_script(
            "return window.__retryRefusals",
            |count| count.as_u64().is_some_and(|n| n >= 1),
            WAIT,
        )
        .await;
    let line = wait_for_own_line(&alice, waiting, "waiting").await;
    assert_eq!(line["words"], "waiting for the server…", "{line}");
    alice.save_screenshot("11-waiting-for-redis.png").await;

    // Assert: socket.js's patience with "retry" refusals is its own, and
    // it ends: a join from a second socket, with 1 retry of 300 ms, is sent
    // three times or more (more than the 2 tries its retries allow), then
    // fails with the server's sentence, marked retry, after the 600 ms.
    let patience = alice.execute_async(PATIENCE_RUNS_OUT, vec![]).await;
    assert_eq!(patience["retry"], true, "{patience}");
    assert!(
        patience["message"].as_str().is_some_and(|m| !m.is_empty()),
        "the server's sentence: {patience}"
    );
    assert!(
        patience["sends"].as_u64().is_some_and(|n| n >= 3),
        "sent again outside the retries budget: {patience}"
    );
    assert!(
        patience["waited"].as_u64().is_some_and(|ms| ms >= 600),
        "ms × (retries + 1) of patience: {patience}"
    );

    // Act: Redis is back, with what it had.
    redis.restart();

    // Assert: it goes, once; everyone is still online; the chat goes on.
    wait_for_own_line_within(&alice, waiting, "sent", BACK_FROM_AN_OUTAGE).await;
    wait_for_line(&bob, |line| line["text"] == waiting).await;
    wait_for_online(&alice, &["alice", "bob"]).await;
    wait_for_online(&bob, &["alice", "bob"]).await;
    let after = "And after it";
    say(&bob, "bob", &alice, after).await;
    let expected = ["Before the outage", waiting, after];
    assert_eq!(texts(&bob).await, expected, "Bob's page, once each");
    assert_eq!(texts(&alice).await, expected, "Alice's page, once each");
    for window in [alice, bob] {
        window.close().await;
    }
    node_a.shut_down(WAIT).await;
    node_b.shut_down(WAIT).await;
}

/// Counts, in `window.__retryRefusals`, the answers with `"retry": true`
/// that reach the page's socket on its current connection: a listener of
/// its own on the WebSocket, beside socket.js's (which it does not change).
const RECORD_RETRY_REFUSALS: &str = "window.__retryRefusals = 0;
socket._webSocket.addEventListener('message', ({ data }) => {
    try {
        const frame = JSON.parse(data);
        if (frame.error && frame.error.retry === true) window.__retryRefusals += 1;
    } catch (error) {}
});";

/// In the page, while its node cannot reach Redis: a second socket,
/// `io({ ackTimeout: 300, retries: 1 })`, joins; every join frame it sends
/// is counted (through `WebSocket.prototype.send`, which socket.js calls);
/// calls back with the Error the join ends with, how many times its frame
/// was sent, and how long it took: `{"message", "retry", "sends",
/// "waited"}`.
const PATIENCE_RUNS_OUT: &str = "const done = arguments[0];
let sends = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (frame) {
    if (String(frame).includes('patience-check')) sends += 1;
    return send.call(this, frame);
};
const patient = io({ ackTimeout: 300, retries: 1 });
patient.on('connect', () => {
    const started = Date.now();
    patient.emitWithAck('join', { nickname: 'patience-check' }).then(
        () => done('joined, although Redis is down'),
        (err) => {
            WebSocket.prototype.send = send;
            patient.disconnect();
            done({ message: err.message, retry: err.retry === true, sends, waited: Date.now() - started });
        });
});";

/// `127.0.0.1:0`: any free port.
fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Starts node `name` on `addr` (port 0 for any), sharing the chat through
/// `redis`, as `REDIS_URL=... NODE_NAME=<name> cargo run -p
/// step-11-scale-out` would (with [`HISTORY_SIZE`] and [`LIVENESS`]), and
/// waits until it has connected to Redis.
async fn start_node(
    addr: SocketAddr,
    name: &str,
    redis: &RedisServer,
    files: &ScratchFolder,
) -> GracefulServer {
    let defaults = Config::default();
    let config = Config {
        shared: Some(SharedSettings {
            redis_url: redis.url(),
            node_name: name.to_owned(),
            node_liveness: LIVENESS,
        }),
        delivery: DeliveryConfig {
            history_size: HISTORY_SIZE,
            // Unused with Redis; never the repository's data/chat.db.
            database_path: files.join(&format!("node-{name}.db")),
            ..defaults.delivery.clone()
        },
        ..defaults
    };
    let mut log = e2e::log_lines();
    let state = AppState::open(config)
        .unwrap_or_else(|error| panic!("open node {name}'s state on {}: {error}", redis.url()));
    let node = GracefulServer::start_on(addr, move |listener, stop| {
        serve(listener, public_folder(), state, stop)
    })
    .await;
    log.wait_for(&format!("connected to Redis at {}", redis.url()))
        .await;
    node
}

/// Opens the page on the node at `addr`, and checks that it says it is
/// connected to that server.
async fn open_on(window: &Browser, addr: SocketAddr) {
    chat::open(window, addr, TITLE).await;
    let connected_to = format!("connected to {addr}");
    window
        .wait_for_text("#server", |text| text == connected_to, WAIT)
        .await;
}

/// `sender` (nicknamed `from`) types `text`: `reader` is told that `from`
/// is typing; then Enter: `reader` shows the message, and the notice goes.
async fn type_then_send(sender: &Browser, reader: &Browser, from: &str, text: &str) {
    sender.type_into("#message-input", text).await;
    let typing = format!("{from} is typing…");
    reader
        .wait_for_text("#typing", |shown| shown == typing, WAIT)
        .await;
    let enter = char::from(Key::Enter).to_string();
    sender.type_into("#message-input", &enter).await;
    wait_for_line(reader, |line| line["from"] == from && line["text"] == text).await;
    reader.wait_for_text("#typing", str::is_empty, WAIT).await;
}

/// `sender` (`from`) sends `text` privately to `to`, with `/msg`: the
/// recipient shows it from `from`, marked private; the sender, as sent to
/// `to`.
async fn private(sender: &Browser, from: &str, recipient: &Browser, to: &str, text: &str) {
    send(sender, &format!("/msg {to} {text}")).await;
    let got = wait_for_line(recipient, |line| line["text"] == text).await;
    assert_eq!(got["from"], from, "{got}");
    assert_eq!(got["private"], format!("private from {from}"), "{got}");
    let sent = wait_for_own_line(sender, text, "sent").await;
    assert_eq!(sent["private"], format!("private to {to}"), "{sent}");
}

/// Every line has an id, and each is greater than the one before: one
/// counter, shared by both nodes, numbers every message, room and private.
fn assert_increasing(ids: &[Option<u64>]) {
    let numbers: Option<Vec<u64>> = ids.iter().copied().collect();
    let numbers = numbers.unwrap_or_else(|| panic!("every line has a numeric id: {ids:?}"));
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "ids only increase: {numbers:?}"
    );
}
