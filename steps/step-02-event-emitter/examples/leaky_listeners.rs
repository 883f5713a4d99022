//! A deliberate mistake, for the "What can go wrong" part of
//! `notes/02-event-emitter.md`: a listener added for every request and never
//! removed. Run it with
//! `cargo run -p step-02-event-emitter --example leaky_listeners` and read the
//! warning it logs; the note shows the fix.

use serde_json::{Value, json};
use step_02_event_emitter::{EventEmitter, UnhandledError};

fn main() -> Result<(), UnhandledError> {
    support::init_tracing();
    let chat: EventEmitter<Value> = EventEmitter::new();

    // The mistake: one more listener per request, and no `off` when it ends.
    for request in 1..=12 {
        chat.on("message", move |message| {
            println!("request {request} sees {}", message["text"]);
        });
    }

    chat.emit("message", &json!({ "from": "alice", "text": "hi" }))?;
    Ok(())
}
