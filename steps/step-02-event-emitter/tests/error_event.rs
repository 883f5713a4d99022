//! Checkpoint: an `"error"` event nobody listens to is an `Err`, not a
//! silent `false` (Node throws instead).

use std::cell::RefCell;
use std::rc::Rc;

use step_02_event_emitter::{ERROR_EVENT, EventEmitter, UnhandledError};

/// Emitting `"error"` with no listener returns `Err(UnhandledError)`.
#[test]
fn error_event_without_a_listener_returns_unhandled_error() {
    let emitter = EventEmitter::<&str>::new();

    let result = emitter.emit(ERROR_EVENT, &"disk full");

    assert_eq!(result, Err(UnhandledError));
}

/// Emitting `"error"` with a listener hands the payload to it and is `Ok`.
#[test]
fn error_event_with_a_listener_is_handled() {
    let emitter = EventEmitter::<&str>::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let handler_seen = Rc::clone(&seen);
    emitter.on("error", move |reason| {
        handler_seen.borrow_mut().push(*reason)
    });

    let result = emitter.emit("error", &"disk full");

    assert_eq!(result, Ok(true));
    assert_eq!(*seen.borrow(), ["disk full"]);
}

/// A `once` error handler handles one error; the next one is unhandled again.
#[test]
fn error_event_after_a_once_handler_fired_is_unhandled_again() {
    let emitter = EventEmitter::<&str>::new();
    emitter.once("error", |_| {});

    assert_eq!(emitter.emit("error", &"first"), Ok(true));
    assert_eq!(emitter.emit("error", &"second"), Err(UnhandledError));
}

/// Only `"error"` has this rule: any other event with no listener is `Ok(false)`.
#[test]
fn other_events_without_a_listener_are_not_an_error() {
    let emitter = EventEmitter::<&str>::new();

    assert_eq!(emitter.emit("errors", &"close, but not it"), Ok(false));
}

/// The error explains itself in a sentence a learner can act on.
#[test]
fn unhandled_error_says_which_event_was_unhandled() {
    let message = UnhandledError.to_string();

    assert_eq!(
        message,
        "an \"error\" event was emitted but no listener handles \"error\""
    );
}
