//! Step 10 checkpoint, with the real binary and a real file: an
//! acknowledged message survives `kill -9` of the server, exactly once; and
//! a file that is not a database stops the server with a sentence.
//!
//! Run with `cargo test -p step-10-delivery --test durability`.

mod common;

use std::{collections::BTreeMap, path::Path, process::Stdio};

use common::{RunningBinary, TempDatabase, chat_message, connect_as, next_ack};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use testkit::{Client, DEADLINE, connect, next_event};
use tokio::{process::Command, time::timeout};
use tokio_tungstenite::tungstenite::Message;

/// Sends messages as fast as the answers come (ten in flight), until the
/// connection breaks; returns every message acknowledged, by id.
async fn send_until_cut(mut client: Client, sender: usize) -> BTreeMap<i64, String> {
    let mut acked = BTreeMap::new();
    let mut waiting: BTreeMap<u64, String> = BTreeMap::new();
    for index in 0.. {
        while waiting.len() < 10 {
            let (ack, text) = (
                next_ack(),
                format!("sender {sender} message {index}-{}", waiting.len()),
            );
            let data = json!({ "text": text, "client_offset": format!("s{sender}:{ack}") });
            let frame = json!({ "event": "message", "data": data, "ack": ack }).to_string();
            if client.send(Message::text(frame)).await.is_err() {
                return acked;
            }
            waiting.insert(ack, text);
        }
        let Ok(Some(Ok(Message::Text(answer)))) = timeout(DEADLINE, client.next()).await else {
            return acked;
        };
        let answer: Value = serde_json::from_str(&answer).expect("JSON");
        if let Some(text) = answer["ack"].as_u64().and_then(|ack| waiting.remove(&ack)) {
            let id = answer["data"]["id"].as_str().and_then(|id| id.parse().ok());
            acked.insert(id.expect("an acknowledged message has an id"), text);
        }
    }
    acked
}

/// The attack on durability: three clients send as fast as they can, and
/// the server is killed with SIGKILL in the middle. Started again on the
/// same file, it has every message it acknowledged, exactly once, with its
/// text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_kill_9_exactly_once() {
    // Arrange
    let database = TempDatabase::new("kill");
    let settings = [
        ("DATABASE_PATH", database.path()),
        ("MAX_MESSAGES_PER_SECOND", "1000000"),
        ("REPLAY_CAP", "100000"),
    ];
    let server = RunningBinary::start(&settings, None).await;
    let mut senders = Vec::new();
    for sender in 0..3 {
        let (client, _) = connect_as(server.addr, &format!("sender{sender}")).await;
        senders.push(tokio::spawn(send_until_cut(client, sender)));
    }
    let (mut watcher, _) = connect_as(server.addr, "watcher").await;
    for _ in 0..300 {
        // Wait until plenty of messages are flowing.
        let _ = next_event(&mut watcher).await;
    }

    // Act
    let status = Command::new("kill")
        .args(["-KILL", &server.pid()])
        .status()
        .await
        .expect("run kill");
    assert!(status.success());
    let mut acked = BTreeMap::new();
    for sender in senders {
        acked.extend(
            timeout(DEADLINE, sender)
                .await
                .expect("in time")
                .expect("ran"),
        );
    }
    drop(server);
    let restarted = RunningBinary::start(&settings, None).await;

    // Assert
    let (mut reader, _) = connect(restarted.addr).await;
    let join =
        json!({ "event": "join", "data": { "nickname": "reader", "last_id": "0" }, "ack": 1 });
    reader
        .send(Message::text(join.to_string()))
        .await
        .expect("send");
    let answer = next_event(&mut reader).await;
    assert_eq!(answer["ack"], 1, "{answer}");
    // Until every acknowledged id has come: the replay may also hold
    // messages stored whose answer the kill cut off, so counting up to
    // `acked.len()` could stop before the last acknowledged one.
    let mut stored = BTreeMap::new();
    while !acked.keys().all(|id| stored.contains_key(id)) {
        let event = next_event(&mut reader).await;
        let message = chat_message(&event).unwrap_or_else(|| panic!("a stored message: {event}"));
        let id: i64 = message.id.parse().expect("numeric");
        assert!(
            stored.insert(id, message.text).is_none(),
            "message {id} twice"
        );
    }
    assert!(
        acked.len() > 100,
        "only {} messages were acknowledged",
        acked.len()
    );
    for (id, text) in &acked {
        assert_eq!(stored.get(id), Some(text), "acknowledged message {id}");
    }
}

/// A file that is not a SQLite database stops the server before it listens,
/// with a sentence naming the file, and exit code 1.
#[tokio::test]
async fn a_file_that_is_not_a_database_stops_the_server() {
    // Arrange
    let database = TempDatabase::new("garbage");
    std::fs::write(database.path(), "not a database\n".repeat(1000)).expect("write the file");

    // Act
    let output = Command::new(env!("CARGO_BIN_EXE_step-10-delivery"))
        .env("PORT", "0")
        .env("DATABASE_PATH", database.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = timeout(DEADLINE, output)
        .await
        .expect("it gives up by itself")
        .expect("run");

    // Assert
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} is not a SQLite database this server can use",
            Path::new(database.path()).display()
        )),
        "{stderr}"
    );
    assert!(!stdout.contains("listening on"), "{stdout}");
}
