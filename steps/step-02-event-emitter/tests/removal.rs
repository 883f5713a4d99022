//! Checkpoint: `off` removes exactly one listener, by the id `on` returned,
//! and changes to the listener list never affect an emit already running.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use common::{CallLog, shared_emitter};
use step_02_event_emitter::{EventEmitter, ListenerId};

/// Every `on`, `once` and `prepend_listener` returns a new id, even for the
/// same closure on the same event.
#[test]
fn each_registration_returns_a_distinct_listener_id() {
    let emitter = EventEmitter::<u32>::new();

    let ids = [
        emitter.on("message", |_| {}),
        emitter.on("message", |_| {}),
        emitter.once("message", |_| {}),
        emitter.prepend_listener("message", |_| {}),
        emitter.on("typing", |_| {}),
    ];

    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
}

/// `off` removes the listener with that id and leaves the others in place.
#[test]
fn off_removes_only_that_listener() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener::<u32>("a"));
    let b = emitter.on("message", log.listener("b"));
    emitter.on("message", log.listener("c"));

    let removed = emitter.off("message", b);
    emitter.emit("message", &1).expect("not the error event");

    assert!(removed);
    assert_eq!(log.entries(), ["a", "c"]);
}

/// Removing the same listener twice: the second `off` reports `false`.
#[test]
fn off_returns_false_for_a_listener_already_removed() {
    let emitter = EventEmitter::<u32>::new();
    let id = emitter.on("message", |_| {});

    assert!(emitter.off("message", id));
    assert!(!emitter.off("message", id));
}

/// An id belongs to one event: `off` on another event removes nothing.
#[test]
fn off_with_another_events_id_removes_nothing() {
    let emitter = EventEmitter::<u32>::new();
    let typing = emitter.on("typing", |_| {});
    emitter.on("message", |_| {});

    assert!(!emitter.off("message", typing));
    assert_eq!(emitter.listener_count("message"), 1);
    assert_eq!(emitter.listener_count("typing"), 1);
}

/// Registers a first `message` listener that removes, with `off`, the
/// listener whose id the test puts in the returned cell; the test registers
/// that later listener itself, and the cell learns its id.
fn first_listener_removes_a_later_one(
    emitter: &EventEmitter<u32>,
    weak: Weak<EventEmitter<u32>>,
) -> Rc<Cell<Option<ListenerId>>> {
    let later = Rc::new(Cell::new(None));
    let later_id = Rc::clone(&later);
    emitter.on("message", move |_| {
        if let (Some(emitter), Some(id)) = (weak.upgrade(), later_id.get()) {
            emitter.off("message", id);
        }
    });
    later
}

/// A listener removed by an earlier listener during an emit still runs in
/// that emit (it works on a snapshot), and not in the next one.
#[test]
fn removal_during_an_emit_does_not_affect_that_emit() {
    // Arrange
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    let later = first_listener_removes_a_later_one(&emitter, weak);
    later.set(Some(
        emitter.on("message", log.listener_with_payload("later")),
    ));

    // Act
    emitter.emit("message", &1).expect("not the error event");
    emitter.emit("message", &2).expect("not the error event");

    // Assert
    assert_eq!(log.entries(), ["later=1"]);
}

/// Same rule for a `once` listener that is removed before its turn: it still
/// runs in that emit, as in Node.
#[test]
fn once_listener_removed_during_an_emit_still_runs_in_that_emit() {
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    let later = first_listener_removes_a_later_one(&emitter, weak);
    later.set(Some(
        emitter.once("message", log.listener_with_payload("once")),
    ));

    emitter.emit("message", &1).expect("not the error event");
    emitter.emit("message", &2).expect("not the error event");

    assert_eq!(log.entries(), ["once=1"]);
}

/// A listener added during an emit waits for the next emit.
#[test]
fn listener_added_during_an_emit_waits_for_the_next_emit() {
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    let adder_log = log.clone();
    emitter.once("message", move |_| {
        if let Some(emitter) = weak.upgrade() {
            emitter.on("message", adder_log.listener_with_payload("added"));
        }
    });

    emitter.emit("message", &1).expect("not the error event");
    assert!(log.entries().is_empty());
    emitter.emit("message", &2).expect("not the error event");

    assert_eq!(log.entries(), ["added=2"]);
}
