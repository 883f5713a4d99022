//! Step 11 under attack (step 08's attacks, carried over): memory that one
//! large message leaves behind. An idle connection cost 4.55 KiB; after one 16
//! KB frame it cost 16.7 KiB more for the rest of its life.
//!
//! The WebSocket library keeps its buffers at the largest size they ever
//! grew to, and axum gives no way to shrink them (see `notes/08-production.md`,
//! "Memory after a large message"). What holds is a bound: the buffers grow
//! to one largest message each, and no further however many large messages
//! follow — so what a connection can ever cost is fixed by
//! `MAX_MESSAGE_BYTES`, not by what clients send.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_memory`.

mod common;
mod raw_websocket;

use common::RunningBinary;
use raw_websocket::{RawClient, TEXT, client_frame};
use step_11_scale_out::{MAX_MESSAGE_BYTES, READ_BUFFER_BYTES};

/// How many connections: enough that what each one keeps stands far above
/// the process's own noise.
const CONNECTIONS: usize = 1000;

/// The most one buffer may keep per connection after a large message: the
/// largest message, and a few reads' worth for the frame around it and for
/// how the allocator rounds (measured: 16.7 KiB for reading one, 15.7 KiB for
/// writing one).
const ONE_MESSAGE_WORTH: f64 = (MAX_MESSAGE_BYTES + 4 * READ_BUFFER_BYTES) as f64;

/// How much the process's memory may move per connection for reasons of its
/// own (the allocator, the runtime) while nothing should grow.
const NOISE: f64 = 1024.0;

/// How many bytes per connection the process's resident memory grew from
/// `from` to `to`.
fn per_connection(from: u64, to: u64) -> f64 {
    // Exact enough: a few GB at most, far below 2^53.
    to.saturating_sub(from) as f64 / CONNECTIONS as f64
}

/// One message of 16 KB (within `MAX_MESSAGE_BYTES` with its envelope), of
/// spaces: the server reads all of it, then refuses it ("only whitespace")
/// with a short `error`, so the memory measured is what reading it left.
fn large_refused_message() -> Vec<u8> {
    let frame = format!(r#"{{"event":"message","data":"{}"}}"#, " ".repeat(16_000));
    client_frame(TEXT, frame.as_bytes())
}

/// Each client joins `general`, in turn, and reads its answer; then each
/// reads the `joined` notices of those who came after it. (Step 10's chat
/// is in rooms: the large message at the end reaches the others only once
/// they are in the writer's room.)
async fn everyone_joins(clients: &mut [RawClient]) {
    for (index, client) in clients.iter_mut().enumerate() {
        let join = format!(r#"{{"event":"join","data":{{"nickname":"m{index}"}},"ack":1}}"#);
        client.write(&client_frame(TEXT, join.as_bytes())).await;
        let answer = client.next_frame().await.expect("the join's answer");
        assert!(
            answer.text().starts_with(r#"{"ack":1,"data""#),
            "{}",
            answer.text()
        );
    }
    let everyone = clients.len();
    for (index, client) in clients.iter_mut().enumerate() {
        for _ in index + 1..everyone {
            let notice = client.next_frame().await.expect("a joined notice");
            assert!(
                notice.text().contains(r#""event":"joined""#),
                "{}",
                notice.text()
            );
        }
    }
}

/// Each client sends `frame` and reads the one reply it gets.
async fn each_sends(clients: &mut [RawClient], frame: &[u8]) {
    for client in clients.iter_mut() {
        client.write(frame).await;
    }
    for client in clients.iter_mut() {
        let reply = client.next_frame().await.expect("a reply");
        assert_eq!(reply.opcode, TEXT, "{reply:?}");
    }
}

/// The attack: 1,000 connections join one room and each send one large
/// message, then two more; then one large message is published to all the
/// others. Memory per
/// connection after the first large message stays within one message's
/// worth of buffers for reading, after the next two it grows no further,
/// and the message every connection wrote out costs each at most one more
/// message's worth.
#[tokio::test]
async fn one_large_message_costs_a_connection_a_bounded_amount_once() {
    // Arrange: 1,000 client sockets here and 1,000 in the server.
    rlimit::increase_nofile_limit(4 * CONNECTIONS as u64).expect("raise the open-file limit");
    let mut server = RunningBinary::start(&[], None).await;
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, id) = RawClient::connect(server.addr).await;
        // Read the server's log as it goes: a pipe nobody reads fills up,
        // and then the server waits on it.
        server
            .wait_for_line(&format!("a user connected {id}"))
            .await;
        clients.push(client);
    }
    everyone_joins(&mut clients).await;
    let idle = server.resident_bytes();
    let large = large_refused_message();

    // Act
    each_sends(&mut clients, &large).await;
    let after_one = server.resident_bytes();
    each_sends(&mut clients, &large).await;
    each_sends(&mut clients, &large).await;
    let after_three = server.resident_bytes();
    let published = format!(r#"{{"event":"message","data":"{}"}}"#, "x".repeat(16_000));
    clients[0]
        .write(&client_frame(TEXT, published.as_bytes()))
        .await;
    // Step 10 sends it to everyone else in the room, not back to its writer.
    for client in &mut clients[1..] {
        let message = client.next_frame().await.expect("the published message");
        assert!(message.payload.len() > 16_000, "{:.60}", message.text());
    }
    let after_broadcast = server.resident_bytes();

    // Assert: one message's worth for reading, once...
    let reading = per_connection(idle, after_one);
    assert!(
        reading <= ONE_MESSAGE_WORTH,
        "{reading:.0} bytes per connection after one large message"
    );
    let more = per_connection(after_one, after_three);
    assert!(more <= NOISE, "{more:.0} bytes more after two more");
    // ...and one message's worth for writing.
    let writing = per_connection(after_three, after_broadcast);
    assert!(
        writing <= ONE_MESSAGE_WORTH,
        "{writing:.0} bytes per connection after writing one large message"
    );
}
