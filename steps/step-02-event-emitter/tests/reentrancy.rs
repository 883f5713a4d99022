//! Checkpoint: a listener may call `on`, `off` and `emit` on the emitter that
//! is calling it, without a deadlock or a "RefCell already borrowed" panic.

mod common;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use common::{CallLog, shared_emitter};
use step_02_event_emitter::EventEmitter;

/// A listener may register another listener on the same emitter mid-emit.
#[test]
fn listener_may_call_on_during_an_emit() {
    let (emitter, weak) = shared_emitter::<u32>();
    emitter.on("message", move |_| {
        if let Some(emitter) = weak.upgrade() {
            emitter.on("typing", |_| {});
        }
    });

    let result = emitter.emit("message", &1);

    assert_eq!(result, Ok(true));
    assert_eq!(emitter.listener_count("typing"), 1);
}

/// A listener may remove listeners, itself included, mid-emit.
#[test]
fn listener_may_call_off_on_itself_during_an_emit() {
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    let self_removing_log = log.clone();
    let own_id = Rc::new(Cell::new(None));
    let id_seen_by_listener = Rc::clone(&own_id);
    own_id.set(Some(emitter.on("message", move |_| {
        self_removing_log.push("self-removing");
        if let (Some(emitter), Some(id)) = (weak.upgrade(), id_seen_by_listener.get()) {
            emitter.off("message", id);
        }
    })));

    emitter.emit("message", &1).expect("not the error event");
    emitter.emit("message", &2).expect("not the error event");

    assert_eq!(log.entries(), ["self-removing"]);
    assert_eq!(emitter.listener_count("message"), 0);
}

/// A listener may emit on the same emitter: the nested emit runs to the end
/// before the outer one carries on (depth first, like nested function calls).
#[test]
fn listener_may_emit_on_the_same_emitter_during_an_emit() {
    // Arrange
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    let message_log = log.clone();
    emitter.on("message", move |n| {
        message_log.push(&format!("message {n} starts"));
        if let Some(emitter) = weak.upgrade() {
            emitter.emit("reply", n).expect("not the error event");
        }
        message_log.push(&format!("message {n} ends"));
    });
    emitter.on("reply", log.listener_with_payload("reply"));

    // Act
    emitter.emit("message", &7).expect("not the error event");

    // Assert
    assert_eq!(
        log.entries(),
        ["message 7 starts", "reply=7", "message 7 ends"]
    );
}

/// A listener that panics leaves the emitter consistent and usable: no
/// borrow is held while listeners run, so none is left dangling.
#[test]
fn a_panicking_listener_leaves_the_emitter_usable() {
    // Arrange
    let emitter = EventEmitter::<u32>::new();
    let log = CallLog::new();
    let panicking = emitter.on("message", |_| panic!("listener failed on purpose"));

    // Act
    let outcome = catch_unwind(AssertUnwindSafe(|| emitter.emit("message", &1)));
    assert!(outcome.is_err(), "the listener's panic reaches the caller");
    emitter.off("message", panicking);
    emitter.on("message", log.listener("healthy"));

    // Assert
    assert_eq!(emitter.emit("message", &2), Ok(true));
    assert_eq!(log.entries(), ["healthy"]);
}
