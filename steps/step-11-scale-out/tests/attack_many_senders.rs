//! Step 11 under attack (step 08's attacks, carried over): many clients, each
//! just under its own limit. 150 clients sending 16 KB messages 20 times a
//! second each were within `MAX_MESSAGES_PER_SECOND`, and together they
//! published far more than anyone could receive: the canary (a quiet client
//! that only reads) and 41 others fell more than `QUEUE_CAPACITY` messages
//! behind and were disconnected with 1008.
//!
//! Now two budgets stand between them and everyone else: each client may
//! send `MAX_BYTES_PER_SECOND` (64 KiB), and the server takes at most
//! `MAX_PUBLISHED_BYTES_PER_SECOND` (1 MiB) of messages from everyone
//! together — which is what each member of a room must keep up with,
//! however many send. What goes beyond is dropped and its sender told. In
//! step 10 the chat's budget is spent before a message is stored: a message
//! beyond it is neither stored nor sent.
//!
//! The test checks that bound on what a quiet client receives, rather than
//! waiting for it to be pushed out: whether a client falls behind depends on
//! how fast the machine is, the bound does not. (On a 2-core machine running
//! a debug build, the server without the budgets published about 2 MB a
//! second to every client here: twice the budget.)
//!
//! Run with `cargo test -p step-11-scale-out --test attack_many_senders`.

mod common;

use std::time::{Duration, Instant};

use common::{chat_message, connect_as, request, spawn_app_with};
use futures::{SinkExt, StreamExt, future::join_all};
use step_11_scale_out::{AppState, config::Config};
use testkit::{Client, DEADLINE};
use tokio::time::{MissedTickBehavior, interval, timeout};
use tokio_tungstenite::tungstenite::Message;

/// How many clients attack at once.
const ATTACKERS: usize = 50;

/// How many messages each attacker sends, one every [`EVERY`]: 19 a second
/// for a second, just under the default 20.
const MESSAGES_EACH: usize = 19;
const EVERY: Duration = Duration::from_millis(1000 / 19);

/// The text of each attacker's messages: as big as a message may be, less
/// the envelope.
const TEXT_BYTES: usize = 16_000;

/// One attacker: sends [`MESSAGES_EACH`] messages of [`TEXT_BYTES`], one
/// every [`EVERY`], and reads whatever the server sends meanwhile; returns
/// how many `error` events it got (its messages refused by a budget).
async fn push_just_under_the_limit(client: Client) -> usize {
    let (mut sink, mut stream) = client.split();
    let frame = serde_json::json!({ "event": "message", "data": "x".repeat(TEXT_BYTES) });
    let frame = frame.to_string();
    let mut refused = 0;
    let writing = async {
        let mut tick = interval(EVERY);
        // Late ticks are not made up in a burst: that would be over the limit.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for _ in 0..MESSAGES_EACH {
            tick.tick().await;
            if sink.send(Message::text(frame.as_str())).await.is_err() {
                break;
            }
        }
    };
    let reading = async {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame
                && text.contains(r#""event":"error""#)
            {
                refused += 1;
            }
        }
    };
    tokio::select! {
        () = writing => {}
        () = reading => {}
    }
    refused
}

/// Reads the canary's frames until `attack` is over; returns how many bytes
/// of chat messages it received, and the attackers' refusals. Any close
/// frame fails the test: the canary must not be pushed out.
async fn read_while_attacked(
    canary: &mut Client,
    attack: &mut tokio::task::JoinHandle<Vec<usize>>,
) -> (usize, Vec<usize>) {
    let mut received = 0;
    loop {
        tokio::select! {
            frame = timeout(DEADLINE, canary.next()) => match frame {
                Ok(Some(Ok(Message::Text(text)))) => received += text.len(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                other => panic!("the canary was pushed out after {received} bytes: {other:?}"),
            },
            refused = &mut *attack => {
                return (received, refused.expect("the attackers finished"));
            }
        }
    }
}

/// Has a new member, the witness, say `text` once the attack is over, and
/// reads the canary's frames until it arrives; returns how many bytes came
/// before it. Messages arrive in the order of their ids, so everything
/// published during the attack has come by then. The chat's budget may just
/// have been spent by the attack's last messages: a refusal ("the chat is
/// busy") is answered by sending again.
async fn bytes_before_the_witness_speaks(
    addr: std::net::SocketAddr,
    canary: &mut Client,
    text: &str,
) -> usize {
    let (mut witness, _id) = connect_as(addr, "witness").await;
    loop {
        match request(&mut witness, "message", serde_json::json!(text))
            .await
            .0
        {
            Ok(_) => break,
            Err(refusal) => assert!(refusal.starts_with("the chat is busy"), "{refusal}"),
        }
    }
    let mut before = 0;
    loop {
        let frame = testkit::next_frame(canary).await;
        let Message::Text(json) = frame else { continue };
        let event: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        match chat_message(&event) {
            Some(message) if message.from == "witness" => {
                assert_eq!(message.text, text);
                return before;
            }
            _ => before += json.len(),
        }
    }
}

/// The attack: 50 clients each send 19 messages of 16 KB a second — just
/// under their message limit — while a canary only reads. The canary is
/// never disconnected; it receives no more than the chat's byte budget for
/// the time the attack took (plus one full burst); afterwards a new
/// member's message still reaches it; and the attackers were told their
/// excess was dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_just_under_their_limit_cannot_push_out_a_quiet_one() {
    // Arrange: the default limits, as `cargo run` has them.
    let config = Config::default();
    let budget = config.max_published_bytes_per_second as usize;
    let addr = spawn_app_with(AppState::in_memory(config)).await;
    let (mut canary, _canary_id) = connect_as(addr, "canary").await;
    let mut attackers = Vec::new();
    for index in 0..ATTACKERS {
        attackers.push(connect_as(addr, &format!("attacker{index}")).await.0);
    }

    // Act
    let started = Instant::now();
    let attack = join_all(attackers.into_iter().map(push_just_under_the_limit));
    let mut attack = tokio::spawn(attack);
    let (during, refused) = read_while_attacked(&mut canary, &mut attack).await;
    let after = timeout(
        DEADLINE,
        bytes_before_the_witness_speaks(addr, &mut canary, "still here"),
    )
    .await
    .expect("the witness's message reaches the canary in time");
    // Every message counted was published before this.
    let took = started.elapsed();

    // Assert: the canary got chat all along, but never more than the budget...
    let received = during + after;
    let most = budget as f64 * (took.as_secs_f64() + 1.0);
    assert!(during > 0, "the canary received nothing during the attack");
    assert!(
        received as f64 <= most,
        "the canary received {received} bytes in {took:?}; the budget allows {most:.0}"
    );
    // ...and the attackers were told.
    let refused: usize = refused.iter().sum();
    assert!(refused > 0, "no attacker was told to slow down");
}
