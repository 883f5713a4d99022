//! Checkpoint: `listener_count` and `event_names` describe the emitter as it
//! is right now.

use step_02_event_emitter::EventEmitter;

/// `listener_count` counts each event's listeners separately, `once`
/// listeners included, and is 0 for an unknown event.
#[test]
fn listener_count_counts_listeners_per_event() {
    let emitter = EventEmitter::<u32>::new();
    emitter.on("message", |_| {});
    emitter.once("message", |_| {});
    emitter.on("typing", |_| {});

    assert_eq!(emitter.listener_count("message"), 2);
    assert_eq!(emitter.listener_count("typing"), 1);
    assert_eq!(emitter.listener_count("unknown"), 0);
}

/// `event_names` lists the events that have listeners, in the order each got
/// its first one, each name once.
#[test]
fn event_names_lists_events_in_first_registration_order() {
    let emitter = EventEmitter::<u32>::new();
    emitter.on("typing", |_| {});
    emitter.on("message", |_| {});
    emitter.prepend_listener("typing", |_| {});

    assert_eq!(emitter.event_names(), ["typing", "message"]);
}

/// An event whose last listener was removed leaves `event_names`.
#[test]
fn event_without_listeners_leaves_event_names() {
    let emitter = EventEmitter::<u32>::new();
    let typing = emitter.on("typing", |_| {});
    emitter.once("message", |_| {});

    emitter.off("typing", typing);
    emitter.emit("message", &1).expect("not the error event");

    assert!(emitter.event_names().is_empty());
}

/// `Debug` shows what a closure cannot: each event and its listener count.
#[test]
fn debug_output_shows_events_and_listener_counts() {
    let emitter = EventEmitter::<u32>::new();
    emitter.on("message", |_| {});
    emitter.on("message", |_| {});

    assert_eq!(
        format!("{emitter:?}"),
        "EventEmitter { listeners: [(\"message\", 2)], max_listeners: 10 }"
    );
}
