//! Checkpoint: listeners run synchronously, in registration order, and
//! `prepend_listener` puts one in front.

mod common;

use common::CallLog;
use step_02_event_emitter::EventEmitter;

/// Listeners of one event run in the order they were registered with `on`.
#[test]
fn listeners_run_in_registration_order() {
    // Arrange
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener::<u32>("first"));
    emitter.on("message", log.listener("second"));
    emitter.on("message", log.listener("third"));

    // Act
    emitter.emit("message", &1).expect("not the error event");

    // Assert
    assert_eq!(log.entries(), ["first", "second", "third"]);
}

/// Listeners run synchronously: every one has finished when `emit` returns.
#[test]
fn listeners_have_run_when_emit_returns() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener::<u32>("listener"));

    emitter.emit("message", &1).expect("not the error event");
    let seen_right_after_emit = log.entries();

    assert_eq!(seen_right_after_emit, ["listener"]);
}

/// Every listener receives the payload that was emitted.
#[test]
fn every_listener_receives_the_emitted_payload() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener_with_payload::<u32>("a"));
    emitter.on("message", log.listener_with_payload("b"));

    emitter.emit("message", &42).expect("not the error event");

    assert_eq!(log.entries(), ["a=42", "b=42"]);
}

/// `prepend_listener` runs before listeners registered earlier.
#[test]
fn prepend_listener_runs_before_existing_listeners() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener::<u32>("on"));
    emitter.prepend_listener("message", log.listener("prepended"));

    emitter.emit("message", &1).expect("not the error event");

    assert_eq!(log.entries(), ["prepended", "on"]);
}

/// `prepend_once_listener` runs first, and only on the first emit.
#[test]
fn prepend_once_listener_runs_first_and_only_once() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener::<u32>("on"));
    emitter.prepend_once_listener("message", log.listener("prepended once"));

    emitter.emit("message", &1).expect("not the error event");
    emitter.emit("message", &2).expect("not the error event");

    assert_eq!(log.entries(), ["prepended once", "on", "on"]);
}

/// A listener only hears the event it registered for.
#[test]
fn emit_reaches_only_listeners_of_that_event() {
    let emitter = EventEmitter::new();
    let log = CallLog::new();
    emitter.on("message", log.listener::<u32>("message listener"));
    emitter.on("typing", log.listener("typing listener"));

    emitter.emit("typing", &1).expect("not the error event");

    assert_eq!(log.entries(), ["typing listener"]);
}

/// `emit` returns `true` when at least one listener ran.
#[test]
fn emit_returns_true_when_a_listener_ran() {
    let emitter = EventEmitter::new();
    emitter.on("message", |_: &u32| {});

    assert_eq!(emitter.emit("message", &1), Ok(true));
}

/// `emit` returns `false` when no listener is registered for the event.
#[test]
fn emit_returns_false_when_no_listener_is_registered() {
    let emitter = EventEmitter::<u32>::new();
    emitter.on("other event", |_| {});

    assert_eq!(emitter.emit("message", &1), Ok(false));
}
