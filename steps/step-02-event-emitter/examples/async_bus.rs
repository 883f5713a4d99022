//! The bridge to the later steps: an async event bus with `tokio::sync::broadcast`.
//!
//! Run it with `cargo run -p step-02-event-emitter --example async_bus`, and
//! read the end of `notes/02-event-emitter.md`. The same three listeners as the
//! demo, but each is its own tokio task with its own receiver: `send` only
//! queues the message and returns, and every task reads it when it gets to it,
//! in parallel with the others. The later steps push one server event to every
//! connected browser exactly like this.

use serde_json::{Value, json};
use tokio::sync::broadcast::{self, Receiver, error::RecvError};
use tokio::task::JoinError;

#[tokio::main]
async fn main() -> Result<(), JoinError> {
    // The channel keeps the last 16 messages for receivers that are behind.
    let (bus, _) = broadcast::channel::<Value>(16);

    // Subscribe *before* sending: a receiver only gets what is sent after it
    // exists. Subscribing inside the spawned task could miss the first message.
    let logger = tokio::spawn(listen("log", bus.subscribe(), |message| {
        println!("  [log]     {} says {}", message["from"], message["text"]);
    }));
    // Each task owns its state, so a plain `let mut` does what `Cell` did.
    let mut count = 0;
    let counter = tokio::spawn(listen("count", bus.subscribe(), move |_| {
        count += 1;
        println!("  [count]   {count} message(s) so far");
    }));
    let welcome = tokio::spawn(welcome_first_message(bus.subscribe()));

    announce(bus.send(json!({ "from": "alice", "text": "hi" })).ok());
    // `once`, async style: the welcome task reads one message and ends,
    // dropping its receiver. Wait for that, so the next sends see 2 receivers.
    welcome.await?;
    announce(bus.send(json!({ "from": "bob", "text": "hello" })).ok());
    announce(
        bus.send(json!({ "from": "alice", "text": "how are you?" }))
            .ok(),
    );

    // Dropping the only sender closes the bus: each task drains what is
    // queued, then `recv` returns `Closed` and the task ends.
    drop(bus);
    let logged = logger.await?;
    let counted = counter.await?;
    println!("bus closed; log saw {logged} message(s), count saw {counted}");
    Ok(())
}

/// Prints how many receivers a `send` reached. `send` fails only when there
/// are none, like `emit` returning `false`; the message is then dropped.
fn announce(receivers: Option<usize>) {
    match receivers {
        Some(n) => println!("sent to {n} receiver(s)"),
        None => println!("nobody is listening; message dropped"),
    }
}

/// One listener as a task: calls `react` on every message until the bus
/// closes, and returns how many messages it handled.
async fn listen(name: &str, mut receiver: Receiver<Value>, mut react: impl FnMut(Value)) -> usize {
    let mut handled = 0;
    loop {
        match receiver.recv().await {
            Ok(message) => {
                react(message);
                handled += 1;
            }
            // This task fell more than 16 messages behind and the oldest are
            // gone. Say so and carry on: `while let Ok(message)` would quietly
            // end the listener here instead.
            Err(RecvError::Lagged(missed)) => println!("  [{name}] missed {missed} message(s)"),
            Err(RecvError::Closed) => return handled,
        }
    }
}

/// Reacts to the first message only, then ends: the async `once`.
async fn welcome_first_message(mut receiver: Receiver<Value>) {
    match receiver.recv().await {
        Ok(message) => println!("  [welcome] first message! welcome, {}", message["from"]),
        Err(RecvError::Lagged(_)) => println!("  [welcome] missed the first message"),
        Err(RecvError::Closed) => println!("  [welcome] the bus closed before any message"),
    }
}
