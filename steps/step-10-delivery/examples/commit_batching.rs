//! How much one transaction per batch buys: stores 2,000 messages from 100
//! writers at once, first the way `store.rs` does (one thread, every waiting
//! message in one transaction), then one transaction per message, both in a
//! temporary file with `synchronous = FULL` — and prints messages per
//! second for each.
//!
//! Run it with `cargo run --release -p step-10-delivery --example
//! commit_batching`; `notes/10-delivery.md` shows what it printed here.

use std::{path::PathBuf, time::Instant};

use futures::future::join_all;
use rusqlite::{Connection, params};
use step_10_delivery::store::{NewMessage, Store};

const WRITERS: usize = 100;
const EACH: usize = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batched = temp_file("batched");
    let per_message = temp_file("per-message");

    let store = Store::open(&batched, 1_000_000)?;
    let started = Instant::now();
    let writers = (0..WRITERS).map(|writer| {
        let store = store.clone();
        async move {
            for index in 0..EACH {
                let message = message(writer, index);
                store.save(message, Box::new(|_| {})).await?;
            }
            Ok::<_, step_10_delivery::store::StoreError>(())
        }
    });
    for result in join_all(writers).await {
        result?;
    }
    report("one transaction per batch", started.elapsed().as_secs_f64());

    let connection = Connection::open(&per_message)?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT, from_name TEXT, text TEXT);",
    )?;
    let started = Instant::now();
    for writer in 0..WRITERS {
        for index in 0..EACH {
            // Outside a transaction, every INSERT is a transaction of its
            // own: one commit, one fsync, per message.
            connection.execute(
                "INSERT INTO messages (room, from_name, text) VALUES (?1, ?2, ?3)",
                params![
                    "general",
                    format!("writer{writer}"),
                    format!("message {index}")
                ],
            )?;
        }
    }
    report(
        "one transaction per message",
        started.elapsed().as_secs_f64(),
    );

    for path in [batched, per_message] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}

fn message(writer: usize, index: usize) -> NewMessage {
    NewMessage {
        room: Some("general".to_owned()),
        from: format!("writer{writer}"),
        from_key: format!("writer{writer}"),
        to: None,
        text: format!("message {index}"),
        client_offset: Some(format!("{writer}:{index}")),
        at: 0,
    }
}

fn report(how: &str, seconds: f64) {
    let messages = (WRITERS * EACH) as f64;
    println!(
        "{how:>30}: {:>8.0} messages/s ({seconds:.2} s)",
        messages / seconds
    );
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("commit-batching-{name}-{}.db", std::process::id()))
}
