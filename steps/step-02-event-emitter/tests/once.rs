//! Checkpoint: a `once` listener runs at most once, even when emit re-enters.

mod common;

use common::{CallLog, shared_emitter};
use step_02_event_emitter::EventEmitter;

/// A `once` listener runs on the first emit and never again.
#[test]
fn once_listener_runs_only_on_the_first_emit() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.once("message", log.listener_with_payload::<u32>("once"));

    emitter.emit("message", &1).expect("not the error event");
    emitter.emit("message", &2).expect("not the error event");

    assert_eq!(log.entries(), ["once=1"]);
}

/// After it fires, a `once` listener is gone: it no longer counts, and an
/// emit with nobody else listening returns `false`.
#[test]
fn once_listener_is_removed_after_it_fires() {
    let emitter = EventEmitter::new();
    emitter.once("message", |_: &u32| {});
    assert_eq!(emitter.listener_count("message"), 1);

    assert_eq!(emitter.emit("message", &1), Ok(true));

    assert_eq!(emitter.listener_count("message"), 0);
    assert_eq!(emitter.emit("message", &2), Ok(false));
}

/// A `once` listener can be cancelled with `off` before it ever fires.
#[test]
fn once_listener_can_be_removed_with_off_before_it_fires() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    let id = emitter.once("message", log.listener::<u32>("once"));

    assert!(emitter.off("message", id));
    emitter.emit("message", &1).expect("not the error event");

    assert!(log.entries().is_empty());
}

/// A `once` listener that emits its own event is not called again by that
/// nested emit.
#[test]
fn once_listener_runs_at_most_once_when_it_re_emits_its_own_event() {
    // Arrange
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    let once_log = log.clone();
    emitter.once("message", move |depth| {
        once_log.push(&format!("once at depth {depth}"));
        if let Some(emitter) = weak.upgrade() {
            emitter
                .emit("message", &(depth + 1))
                .expect("not the error event");
        }
    });

    // Act
    emitter.emit("message", &0).expect("not the error event");

    // Assert
    assert_eq!(log.entries(), ["once at depth 0"]);
}

/// When an earlier listener re-emits the event before a `once` listener's
/// turn, the nested emit runs the `once` listener, and the outer emit, still
/// looping over its older snapshot, must not run it a second time.
#[test]
fn once_listener_runs_at_most_once_when_an_earlier_listener_re_emits() {
    // Arrange
    let (emitter, weak) = shared_emitter::<u32>();
    let log = CallLog::new();
    emitter.on("message", move |depth| {
        if *depth > 0 {
            return;
        }
        if let Some(emitter) = weak.upgrade() {
            emitter.emit("message", &1).expect("not the error event");
        }
    });
    emitter.once("message", log.listener_with_payload("once at depth"));

    // Act
    emitter.emit("message", &0).expect("not the error event");

    // Assert: run by the nested emit (depth 1) and by nobody else.
    assert_eq!(log.entries(), ["once at depth=1"]);
}
