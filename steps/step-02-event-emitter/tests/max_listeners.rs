//! Checkpoint: more listeners on one event than the limit logs one "possible
//! leak" warning through `tracing`, and is never an error.
//!
//! The warning is observed for real: each test installs a `tracing`
//! subscriber that writes into a buffer, for the duration of the test only.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use step_02_event_emitter::{DEFAULT_MAX_LISTENERS, EventEmitter};

/// The words every leak warning contains.
const LEAK_WARNING: &str = "possible EventEmitter leak";

/// A `tracing` writer that appends to a shared buffer.
struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("log buffer poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `act` with a subscriber that records every log line on this thread,
/// and returns those lines.
fn logs_while(act: impl FnOnce()) -> Vec<String> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer_buffer = Arc::clone(&buffer);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || BufferWriter(Arc::clone(&writer_buffer)))
        .with_ansi(false)
        .finish();

    tracing::subscriber::with_default(subscriber, act);

    let bytes = buffer.lock().expect("log buffer poisoned").clone();
    String::from_utf8(bytes)
        .expect("logs are UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The log lines that are leak warnings.
fn leak_warnings(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.contains(LEAK_WARNING)).collect()
}

/// Adds `n` listeners that do nothing to `event`.
fn add_listeners(emitter: &EventEmitter<u32>, event: &str, n: usize) {
    for _ in 0..n {
        emitter.on(event, |_| {});
    }
}

/// The limit is 10 by default, as in Node.
#[test]
fn max_listeners_defaults_to_ten_like_node() {
    let emitter = EventEmitter::<u32>::new();

    assert_eq!(DEFAULT_MAX_LISTENERS, 10);
    assert_eq!(emitter.max_listeners(), 10);
}

/// Exactly the limit is fine: ten listeners, no warning.
#[test]
fn reaching_exactly_max_listeners_does_not_warn() {
    let emitter = EventEmitter::new();

    let lines = logs_while(|| add_listeners(&emitter, "message", 10));

    assert!(leak_warnings(&lines).is_empty(), "unexpected: {lines:?}");
}

/// The eleventh listener logs one warning, at `WARN` level, naming the event,
/// the count and the limit.
#[test]
fn exceeding_max_listeners_logs_a_possible_leak_warning() {
    let emitter = EventEmitter::new();

    let lines = logs_while(|| add_listeners(&emitter, "message", 11));

    let warnings = leak_warnings(&lines);
    assert_eq!(warnings.len(), 1, "got: {lines:?}");
    let warning = warnings[0];
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("11 listeners"), "{warning}");
    assert!(warning.contains("\"message\""), "{warning}");
    assert!(warning.contains("limit of 10"), "{warning}");
}

/// The warning is logged once per event, however many listeners follow.
#[test]
fn leak_warning_is_logged_only_once_per_event() {
    let emitter = EventEmitter::new();

    let lines = logs_while(|| add_listeners(&emitter, "message", 30));

    assert_eq!(leak_warnings(&lines).len(), 1, "got: {lines:?}");
}

/// Each event has its own count and its own one-time warning.
#[test]
fn leak_warning_is_per_event() {
    let emitter = EventEmitter::new();

    let lines = logs_while(|| {
        add_listeners(&emitter, "message", 11);
        add_listeners(&emitter, "typing", 10);
        emitter.once("typing", |_| {});
    });

    let warnings = leak_warnings(&lines);
    assert_eq!(warnings.len(), 2, "got: {lines:?}");
    assert!(warnings[0].contains("\"message\""));
    assert!(warnings[1].contains("\"typing\""));
}

/// Going over the limit is never an error: every listener is still added
/// and still runs.
#[test]
fn exceeding_max_listeners_is_never_an_error() {
    let emitter = EventEmitter::new();
    let calls = Rc::new(Cell::new(0));
    for _ in 0..15 {
        let calls = Rc::clone(&calls);
        emitter.on("message", move |_: &u32| calls.set(calls.get() + 1));
    }

    let result = emitter.emit("message", &1);

    assert_eq!(result, Ok(true));
    assert_eq!(emitter.listener_count("message"), 15);
    assert_eq!(calls.get(), 15);
}

/// `set_max_listeners` moves the threshold.
#[test]
fn set_max_listeners_changes_the_threshold() {
    let emitter = EventEmitter::new();
    emitter.set_max_listeners(2);

    let lines = logs_while(|| add_listeners(&emitter, "message", 3));

    assert_eq!(emitter.max_listeners(), 2);
    assert_eq!(leak_warnings(&lines).len(), 1, "got: {lines:?}");
}

/// A limit of 0 turns the warning off, as in Node.
#[test]
fn zero_max_listeners_turns_the_warning_off() {
    let emitter = EventEmitter::with_max_listeners(0);

    let lines = logs_while(|| add_listeners(&emitter, "message", 50));

    assert!(leak_warnings(&lines).is_empty(), "unexpected: {lines:?}");
}

/// Once an event loses all its listeners, piling them up again warns again.
#[test]
fn leak_warning_rearms_after_the_event_loses_all_listeners() {
    let emitter = EventEmitter::with_max_listeners(1);

    let lines = logs_while(|| {
        let first = emitter.on("message", |_| {});
        let second = emitter.on("message", |_| {});
        emitter.off("message", first);
        emitter.off("message", second);
        add_listeners(&emitter, "message", 2);
    });

    assert_eq!(leak_warnings(&lines).len(), 2, "got: {lines:?}");
}
