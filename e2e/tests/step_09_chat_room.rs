//! Step 09 in a real browser: three windows on `public/step-09-chat-room/`,
//! served exactly as `cargo run -p step-09-chat-room` serves it.
//!
//! Step 09's own tests prove the protocol from Rust; these prove what only
//! the page can: Alice and Bob in `general` and Carol in `random` each see
//! the right "online" list; Bob sees "alice is typing…" and then her message;
//! Alice's own message shows at once as "sending…" and is then confirmed by
//! the server's acknowledgement; Carol sees nothing of `general`; a private
//! message shows in the recipient's window only; a taken nickname shows the
//! server's refusal in words; markup in a nickname or a message stays text;
//! keyboard alone is enough, and the message box stays in view in a short
//! window. The first check also takes the screenshots shown in
//! `notes/09-chat-room.md` and the README (refresh them with
//! `UPDATE_SCREENSHOTS=1`). Run with
//! `cargo test -p e2e --test step_09_chat_room`.

mod common;

use std::io;

use common::serve_step_08;
use e2e::{
    Browser, GracefulServer, StopSignal, WAIT,
    chat::{self, send},
    chat_room::{self, join, wait_for_line, wait_for_online, what_is_out_of_view},
};
use fantoccini::key::Key;
use serde_json::{Value, json};
use step_09_chat_room::{AppState, public_folder, serve};
use tokio::{net::TcpListener, time::timeout};

/// The page's title.
const TITLE: &str = "Step 09 · Chat room";

/// The text of every notice in the message list (joins, leaves, room
/// changes), oldest first.
const NOTICES: &str =
    "return [...document.querySelectorAll('#messages li.notice')].map(li => li.textContent)";

/// Records, on the first own chat line added from now on, every
/// `data-state` it goes through, into `window.__states`; so a check can
/// tell that the page showed the line as "sending" before the server's
/// answer marked it "sent", however fast that answer came.
const WATCH_OWN_LINE: &str = "window.__states = [];
const messages = document.getElementById('messages');
const watch = (li) => new MutationObserver(() => window.__states.push(li.dataset.state))
    .observe(li, { attributes: true, attributeFilter: ['data-state'] });
new MutationObserver((changes, observer) => {
    for (const change of changes) for (const li of change.addedNodes) {
        if (li.classList && li.classList.contains('mine')) {
            observer.disconnect();
            if (li.dataset.state !== undefined) window.__states.push(li.dataset.state);
            watch(li);
        }
    }
}).observe(messages, { childList: true });";

/// Alice and Bob join `general`, Carol `random`, and the whole homework
/// works between them: each window lists exactly the people in its room;
/// while Alice types, Bob's window says "alice is typing…", and once she
/// presses Enter he sees her message from "alice" and the notice goes; her
/// own window shows that message at once as "sending…" and then "sent" (it
/// has it once: the server does not echo it); a private message from Alice
/// to Carol (who is in another room) shows in Carol's window marked as
/// private, and in Alice's as sent, but not in Bob's; and Carol's window
/// shows nothing of `general`. Takes the screenshots of all three windows.
#[tokio::test]
async fn three_windows_two_rooms_online_lists_typing_acks_and_a_private_message() {
    // Arrange: three people, two rooms.
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let carol = alice.new_session().await;
    let server = GracefulServer::start(serve_step_09).await;
    for window in [&alice, &bob, &carol] {
        chat::open(window, server.addr(), TITLE).await;
    }
    join(&alice, "alice", "general").await;
    join(&bob, "bob", "general").await;
    join(&carol, "carol", "random").await;

    // Assert: each window lists the people in its own room, and nobody else.
    wait_for_online(&alice, &["alice", "bob"]).await;
    wait_for_online(&bob, &["alice", "bob"]).await;
    wait_for_online(&carol, &["carol"]).await;

    // Act: Alice types, without sending yet.
    let hello = "Hi Bob! Carol is over in random.";
    alice.type_into("#message-input", hello).await;

    // Assert: Bob is told she is typing.
    bob.wait_for_text("#typing", |text| text == "alice is typing…", WAIT)
        .await;

    // Act: she presses Enter, with the page watching her line's states.
    alice.execute(WATCH_OWN_LINE, vec![]).await;
    let enter = char::from(Key::Enter).to_string();
    alice.type_into("#message-input", &enter).await;

    // Assert: Bob gets it from "alice", and "typing" goes.
    let from_alice = |line: &Value| line["from"] == "alice" && line["text"] == hello;
    let seen_by_bob = wait_for_line(&bob, from_alice).await;
    assert_eq!(seen_by_bob["mine"], false);
    bob.wait_for_text("#typing", str::is_empty, WAIT).await;
    // Alice's own line was shown as "sending…" first, then confirmed.
    let confirmed = wait_for_line(&alice, |line| from_alice(line) && line["state"] == "sent").await;
    assert_eq!(confirmed["mine"], true);
    let states = alice.execute("return window.__states", vec![]).await;
    assert_eq!(
        states,
        json!(["sending", "sent"]),
        "her line's states, in order"
    );
    assert_eq!(own_lines(&alice, hello).await, 1, "shown once: no echo");

    // Act: a private message, to someone in another room.
    let secret = "Psst, Carol: Bob cannot read this.";
    send(&alice, &format!("/msg carol {secret}")).await;

    // Assert: Carol has it, from Alice, marked private; Alice sees it sent.
    let to_carol = |line: &Value| line["text"] == secret;
    let got = wait_for_line(&carol, to_carol).await;
    assert_eq!(got["from"], "alice");
    assert_eq!(got["private"], "private from alice");
    let sent = wait_for_line(&alice, |line| to_carol(line) && line["state"] == "sent").await;
    assert_eq!(sent["private"], "private to carol");
    // Bob: a later room message from Alice arrives, the private one never.
    chat_room_say(&alice, &bob, "alice", "Back to the room, Bob.").await;
    assert!(
        !shows_text(&bob, secret).await,
        "Bob never sees the private message"
    );
    // Carol: nothing of general: no message but Alice's private one, no
    // notice of anyone joining it, nobody typing, nobody else online.
    let carols_lines = chat_room::lines(&carol).await;
    assert_eq!(
        carols_lines.as_array().map(Vec::len),
        Some(1),
        "{carols_lines}"
    );
    let carols_notices = carol.execute(NOTICES, vec![]).await;
    assert_eq!(
        carols_notices,
        json!(["you joined random as carol: nobody else is here yet"])
    );
    assert_eq!(
        carol_typing_and_online(&carol).await,
        json!(["", ["carol"]])
    );

    // The pictures: Bob is halfway through an answer, so Alice sees him typing.
    bob.type_into("#message-input", "Got it. Say hi to Car")
        .await;
    alice
        .wait_for_text("#typing", |text| text == "bob is typing…", WAIT)
        .await;
    alice.save_screenshot("09-chat-alice.png").await;
    bob.save_screenshot("09-chat-bob.png").await;
    carol.save_screenshot("09-chat-carol.png").await;
    for window in [alice, bob, carol] {
        window.close().await;
    }
    server.shut_down(WAIT).await;
}

/// A nickname someone else already has (compared without regard to case)
/// is refused, and the page says so in the server's words, under the form,
/// staying out of the room with its message box disabled; another nickname
/// is then let in, and the refusal goes away.
#[tokio::test]
async fn a_taken_nickname_shows_the_servers_refusal_in_words() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let impostor = alice.new_session().await;
    let server = GracefulServer::start(serve_step_09).await;
    chat::open(&alice, server.addr(), TITLE).await;
    chat::open(&impostor, server.addr(), TITLE).await;
    join(&alice, "alice", "general").await;

    // Act: the same nickname, differently capitalised.
    chat_room::submit_join(&impostor, "ALICE", "general").await;

    // Assert: the refusal in words, and still out of the room.
    let refusal = impostor
        .wait_for_text("#join-error", |text| text.contains("is taken"), WAIT)
        .await;
    assert!(refusal.contains("ALICE"), "names the nickname: {refusal}");
    let state = impostor
        .execute(
            "return [document.getElementById('room-status').dataset.state,
                     document.getElementById('message-input').disabled]",
            vec![],
        )
        .await;
    assert_eq!(state, json!(["not-joined", true]));
    impostor.save_screenshot("09-nickname-taken.png").await;

    // Act and Assert: another nickname gets in; the refusal is gone.
    join(&impostor, "alicia", "general").await;
    assert_eq!(
        impostor
            .execute(
                "return document.getElementById('join-error').textContent",
                vec![]
            )
            .await,
        ""
    );
    wait_for_online(&alice, &["alice", "alicia"]).await;
    alice.close().await;
    impostor.close().await;
    server.shut_down(WAIT).await;
}

/// A nickname and a message made of markup are shown, in the other
/// person's window, as exactly the characters typed: in the online list, in
/// the join notice, as a message's sender and text. No element is made of
/// them and no script runs.
#[tokio::test]
async fn markup_in_a_nickname_or_a_message_is_shown_as_text() {
    // Arrange
    let Some(mallory) = e2e::browser().await else {
        return;
    };
    let bob = mallory.new_session().await;
    let server = GracefulServer::start(serve_step_09).await;
    chat::open(&mallory, server.addr(), TITLE).await;
    chat::open(&bob, server.addr(), TITLE).await;
    join(&bob, "bob", "general").await;
    // If either ran, it would leave a mark on the window and its title.
    let nickname = "<img src=x onerror=x=1>";
    let payload = "<img src=x onerror=\"window.__pwned='img';document.title='pwned'\"> \
                   <script>window.__pwned='script';document.title='pwned'</script>";

    // Act
    join(&mallory, nickname, "general").await;
    send(&mallory, payload).await;

    // Assert: Bob sees the characters, everywhere the page shows them.
    // (Sorted as people read: "<" comes before letters.)
    wait_for_online(&bob, &[nickname, "bob"]).await;
    let line = wait_for_line(&bob, |line| line["text"] == payload).await;
    assert_eq!(line["from"], nickname);
    let joined = format!("{nickname} joined general");
    bob.wait_for_script(
        NOTICES,
        |notices| {
            notices
                .as_array()
                .is_some_and(|all| all.contains(&json!(joined)))
        },
        WAIT,
    )
    .await;
    for window in [&mallory, &bob] {
        let effects = window
            .execute(
                "return {
                    pwned: window.__pwned === undefined ? null : String(window.__pwned),
                    x: window.x === undefined ? null : String(window.x),
                    title: document.title,
                    elements: document.querySelectorAll('#messages img, #messages script, #online img').length,
                }",
                vec![],
            )
            .await;
        assert_eq!(
            effects,
            json!({ "pwned": null, "x": null, "title": TITLE, "elements": 0 }),
            "nothing became an element or ran"
        );
    }
    mallory.close().await;
    bob.close().await;
    server.shut_down(WAIT).await;
}

/// In a window only 557 px tall, someone using only the keyboard can join
/// (type a nickname, Enter), chat (the cursor is in the message box; type,
/// Enter), and start a private message (Tab to a name in the list, Enter);
/// and the join form and the message box are in view all along.
#[tokio::test]
async fn keyboard_alone_is_enough_and_the_message_box_stays_in_a_short_window() {
    // Arrange: a short window, and a second person to talk to.
    let Some(kay) = e2e::browser().await else {
        return;
    };
    let lee = kay.new_session().await;
    let server = GracefulServer::start(serve_step_09).await;
    timeout(WAIT, kay.client().set_window_size(1024, 557))
        .await
        .expect("the browser answered within the timeout")
        .expect("resize the window");
    chat::open(&lee, server.addr(), TITLE).await;
    join(&lee, "lee", "general").await;
    chat::open(&kay, server.addr(), TITLE).await;

    // Act: the nickname box has the focus when the page opens.
    press(&kay, &format!("kay{}", char::from(Key::Enter))).await;
    chat_room::wait_until_joined(&kay, "kay", "general").await;
    press(
        &kay,
        &format!("Hello from the keyboard{}", char::from(Key::Enter)),
    )
    .await;

    // Assert: sent, and seen.
    wait_for_line(&kay, |line| {
        line["text"] == "Hello from the keyboard" && line["state"] == "sent"
    })
    .await;
    wait_for_line(&lee, |line| line["from"] == "kay").await;

    // Act: Tab from the message box backwards to the list: Shift+Tab past
    // the "×" (hidden, so skipped) lands on the last name, "lee".
    let shift_tab = format!("{}{}", char::from(Key::Shift), char::from(Key::Tab));
    press(&kay, &shift_tab).await;
    press(&kay, &char::from(Key::Enter).to_string()).await;

    // Assert: a private message to lee is being written, and it all fits.
    kay.wait_for_text("#private-to", |text| text.contains("Private to lee"), WAIT)
        .await;
    let outside = what_is_out_of_view(&kay).await;
    assert!(
        outside["height"].as_u64().is_some_and(|h| h <= 557),
        "{outside}"
    );
    assert_eq!(outside["hidden"], json!([]), "out of view: {outside}");
    assert_eq!(outside["focus"], "message-input", "{outside}");
    kay.close().await;
    lee.close().await;
    server.shut_down(WAIT).await;
}

/// After a graceful shutdown and a restart on the same port, both pages
/// reconnect by themselves and join again as who they were, where they
/// were (the new server knows nobody); a message typed while the server was
/// down is listed as waiting, then sent after that join and confirmed; and
/// the two chat again. (Whoever is not back in the room yet when the waiting
/// message goes out does not get it: there is no history, so the check does
/// not ask Bob for that one.)
#[tokio::test]
async fn after_a_restart_the_pages_join_again_and_send_what_waited() {
    // Arrange
    let Some(alice) = e2e::browser().await else {
        return;
    };
    let bob = alice.new_session().await;
    let server = GracefulServer::start(serve_step_09).await;
    let addr = server.addr();
    for (window, nickname) in [(&alice, "alice"), (&bob, "bob")] {
        chat::open(window, addr, TITLE).await;
        join(window, nickname, "general").await;
    }

    // Act: the server goes; Alice writes while it is away.
    server.shut_down(WAIT).await;
    alice.wait_until_disconnected().await;
    let text = "Typed while the server was down";
    send(&alice, text).await;

    // Assert: listed as waiting, not lost.
    wait_for_line(&alice, |line| {
        line["text"] == text && line["state"] == "waiting"
    })
    .await;

    // Act: step 09 again on the same port, with fresh state.
    let server = GracefulServer::start_on(addr, serve_step_09).await;

    // Assert: both are back in general under their names, the waiting
    // message went out after the join and was confirmed, and they chat.
    for (window, nickname) in [(&alice, "alice"), (&bob, "bob")] {
        chat_room::wait_until_joined(window, nickname, "general").await;
        wait_for_online(window, &["alice", "bob"]).await;
    }
    wait_for_line(&alice, |line| {
        line["text"] == text && line["state"] == "sent"
    })
    .await;
    chat_room_say(&alice, &bob, "alice", "Are you back, Bob?").await;
    chat_room_say(&bob, &alice, "bob", "Back, under my own name.").await;
    alice.close().await;
    bob.close().await;
    server.shut_down(WAIT).await;
}

/// Three emits of `message` before joining, one of each of socket.js's
/// callback forms, each refused by the server ("join a room first"): the
/// err-first callback gets an Error with the server's sentence, the Promise
/// of `emitWithAck` rejects with it, and the plain callback is not called:
/// the refusal goes to the page's `error` listeners instead. Then a `join`
/// with no room resolves with the server's answer (room `general`).
const REFUSED_THREE_WAYS: &str = "const done = arguments[arguments.length - 1];
const errorEvents = [];
socket.on('error', ({ message }) => errorEvents.push(message));
let plainCalled = false;
socket.emit('message', 'too early', () => { plainCalled = true; });
const errFirst = new Promise((resolve) =>
    socket.timeout(5000).emit('message', 'too early', (err, result) => resolve(err ? err.message : result)));
const promise = socket.emitWithAck('message', 'too early').then(() => 'resolved', (err) => err.message);
Promise.all([errFirst, promise])
    .then(async ([errFirst, promise]) => {
        const joined = await socket.emitWithAck('join', { nickname: 'ack-check' });
        done({ errFirst, promise, plainCalled, errorEvents, joined });
    })
    .catch((err) => done(`threw: ${err}`));";

/// socket.js's acknowledgements against step 09, which answers them: a
/// refusal reaches each callback form as its header comment says (see
/// [`REFUSED_THREE_WAYS`]), and an answer resolves `emitWithAck`.
#[tokio::test]
async fn socket_js_acknowledgements_deliver_answers_and_refusals_as_documented() {
    // Arrange
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let server = GracefulServer::start(serve_step_09).await;
    chat::open(&browser, server.addr(), TITLE).await;

    // Act
    let outcome = browser.execute_async(REFUSED_THREE_WAYS, vec![]).await;

    // Assert
    let refusal = "join a room first";
    assert_eq!(
        outcome,
        json!({
            "errFirst": refusal,
            "promise": refusal,
            "plainCalled": false,
            "errorEvents": [refusal],
            "joined": { "nickname": "ack-check", "room": "general", "users": ["ack-check"] },
        })
    );
    browser.close().await;
    server.shut_down(WAIT).await;
}

/// socket.js's acknowledgements against a server that never answers them
/// (step 08's, which ignores `"ack"`): an emit with `timeout(ms)` fails
/// with "operation has timed out" once `ms` has passed; one still waiting
/// when the connection goes (the server shuts down) fails at once with
/// "socket has been disconnected", as socket.io's do, rather than hanging.
#[tokio::test]
async fn socket_js_acknowledgements_time_out_and_fail_when_the_connection_goes() {
    // Arrange: step 08's page and server; socket.js is the same file.
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let server = GracefulServer::start(serve_step_08).await;
    chat::open(&browser, server.addr(), "Step 08 · Chat, production-grade").await;

    // Act and Assert: no answer within 200 ms.
    let timed_out = browser
        .execute_async(
            "const done = arguments[0];
             socket.timeout(200).emit('message', 'nobody acks this', (err) => done(err && err.message));",
            vec![],
        )
        .await;
    assert_eq!(timed_out, "operation has timed out");

    // Act: an emit that would wait a minute, then the server goes.
    browser
        .execute(
            "window.__outcome = 'waiting';
             socket.timeout(60000).emitWithAck('message', 'still waiting')
                 .then(() => { window.__outcome = 'resolved'; },
                       (err) => { window.__outcome = err.message; });",
            vec![],
        )
        .await;
    server.shut_down(WAIT).await;

    // Assert: it failed when the connection did, not a minute later.
    browser
        .wait_for_script(
            "return window.__outcome",
            |outcome| outcome == "socket has been disconnected",
            WAIT,
        )
        .await;
    browser.close().await;
}

/// `sender` sends `text` to the room; waits until `reader` shows it from
/// `nickname`.
async fn chat_room_say(sender: &Browser, reader: &Browser, nickname: &str, text: &str) {
    send(sender, text).await;
    wait_for_line(reader, |line| {
        line["from"] == nickname && line["text"] == text
    })
    .await;
}

/// How many of `window`'s own chat lines say `text`.
async fn own_lines(window: &Browser, text: &str) -> usize {
    let lines = chat_room::lines(window).await;
    lines.as_array().map_or(0, |lines| {
        lines
            .iter()
            .filter(|l| l["mine"] == true && l["text"] == text)
            .count()
    })
}

/// Whether `text` appears anywhere in `window`'s list of messages.
async fn shows_text(window: &Browser, text: &str) -> bool {
    let all = window
        .execute(
            "return document.getElementById('messages').textContent",
            vec![],
        )
        .await;
    all.as_str().is_some_and(|all| all.contains(text))
}

/// What Carol's window says about typing, and who it lists as online.
async fn carol_typing_and_online(window: &Browser) -> Value {
    window
        .execute(
            "return [document.getElementById('typing').textContent,
                     [...document.querySelectorAll('#online button.user')].map(b => b.dataset.nickname)]",
            vec![],
        )
        .await
}

/// Sends `keys` to whatever has the focus, as a person typing would.
async fn press(window: &Browser, keys: &str) {
    timeout(WAIT, async {
        let focused = window.client().active_element().await?;
        focused.send_keys(keys).await
    })
    .await
    .expect("the browser answered within the timeout")
    .unwrap_or_else(|error| panic!("press {keys:?}: {error}"));
}

/// Step 09 as `main` serves it, with the default limits, until `stop`.
fn serve_step_09(
    listener: TcpListener,
    stop: StopSignal,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    serve(listener, public_folder(), AppState::default(), stop)
}
