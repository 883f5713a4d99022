//! Runs step 02's demo: `cargo run -p step-02-event-emitter`.
//!
//! Something happens (a chat message arrives) and three independent listeners
//! react: one logs it, one counts, and one greets the first message only. The
//! code that emits knows none of them. Read `notes/02-event-emitter.md`.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::{Value, json};
use step_02_event_emitter::{EventEmitter, UnhandledError};

fn main() -> Result<(), UnhandledError> {
    support::init_tracing();
    // `Value` payloads: like JavaScript, any event may carry any data.
    let chat: EventEmitter<Value> = EventEmitter::new();

    let logger = chat.on("message", |message| {
        println!("  [log]     {} says {}", message["from"], message["text"]);
    });
    // Listeners are `Fn`, so state they keep lives in a `Cell`.
    let count = Rc::new(Cell::new(0));
    let counter = Rc::clone(&count);
    chat.on("message", move |_| {
        counter.set(counter.get() + 1);
        println!("  [count]   {} message(s) so far", counter.get());
    });
    chat.once("message", |message| {
        println!("  [welcome] first message! welcome, {}", message["from"]);
    });

    println!(
        "listeners for \"message\": {}",
        chat.listener_count("message")
    );
    for (from, text) in [("alice", "hi"), ("bob", "hello"), ("alice", "how are you?")] {
        println!("emit message from {from}");
        let ran = chat.emit("message", &json!({ "from": from, "text": text }))?;
        println!("  -> a listener ran: {ran}");
    }
    println!(
        "listeners for \"message\": {}",
        chat.listener_count("message")
    );

    chat.off("message", logger);
    println!("removed the logger; emit message from bob");
    chat.emit("message", &json!({ "from": "bob", "text": "bye" }))?;
    println!("messages counted: {}", count.get());

    let ran = chat.emit("typing", &json!({ "from": "alice" }))?;
    println!("emit typing (nobody listens) -> a listener ran: {ran}");

    // Node would throw here and crash the process; Rust hands us a `Result`.
    match chat.emit("error", &json!({ "reason": "disk full" })) {
        Ok(_) => println!("emit error -> handled"),
        Err(unhandled) => println!("emit error -> Err: {unhandled}"),
    }
    chat.on("error", |error| println!("  [error]   {}", error["reason"]));
    chat.emit("error", &json!({ "reason": "disk full" }))?;
    println!("events with listeners: {:?}", chat.event_names());
    Ok(())
}
