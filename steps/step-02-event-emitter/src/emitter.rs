//! The [`EventEmitter`]: named events, listeners that react to them.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::error::UnhandledError;
use crate::listener::{Listener, ListenerId};

/// How many listeners one event may have before the emitter warns about a
/// possible leak. Node's default is 10 as well.
pub const DEFAULT_MAX_LISTENERS: usize = 10;

/// The event name with a special rule: emitting it with no listener is an
/// [`UnhandledError`] instead of a silent `false`.
pub const ERROR_EVENT: &str = "error";

/// Node's `EventEmitter`: listeners register for an event name, and `emit`
/// calls them, synchronously and in order, with a payload of type `T`.
///
/// Every event of one emitter carries the same payload type `T`. Use your own
/// enum or struct when every event is yours, or `serde_json::Value` to get
/// JavaScript's "any event carries any data" (the demo does that).
///
/// # Single-threaded on purpose
/// The emitter holds its listeners in `Rc` and its state in a `RefCell`, so it
/// is neither `Send` nor `Sync`: like Node's, it lives on one thread and its
/// listeners run on the thread that calls `emit`. Listeners can then capture
/// plain `Rc<Cell<..>>` state, no locks can deadlock, and the compiler stops
/// you from sharing it between threads or tokio tasks, which is what
/// `tokio::sync::broadcast` is for (see `examples/async_bus.rs`):
///
/// ```compile_fail
/// fn needs_send<S: Send>(_: S) {}
/// needs_send(step_02_event_emitter::EventEmitter::<u32>::new());
/// ```
///
/// # Re-entrancy
/// All methods take `&self`, so a listener that captured the emitter (through
/// an `Rc`, or better a `Weak` to avoid a cycle) can call `on`, `off` or
/// `emit` on it while an emit is running. `emit` never holds the `RefCell`
/// borrow while a listener runs; it works on a snapshot of the listener list.
pub struct EventEmitter<T> {
    /// Everything that changes. A `RefCell` because listeners only ever get
    /// `&EventEmitter`, yet must be able to add and remove listeners.
    registry: RefCell<Registry<T>>,
}

/// The emitter's mutable state, only ever borrowed for a few lines at a time.
struct Registry<T> {
    /// Every event that has at least one listener, in the order each one got
    /// its first listener (Node's `eventNames()` order). A `Vec`, not a map:
    /// an emitter has a handful of event names, and order matters.
    events: Vec<EventListeners<T>>,
    /// The number the next listener's `ListenerId` gets; never reused, so a
    /// stale id can never remove somebody else's listener.
    next_id: u64,
    /// Above this many listeners on one event, warn once; 0 means never warn.
    max_listeners: usize,
}

/// The listeners of one event name.
struct EventListeners<T> {
    name: String,
    /// In calling order: `on` pushes to the back, `prepend_listener` to the front.
    listeners: Vec<Rc<Listener<T>>>,
    /// The leak warning is logged once per event, not on every extra listener.
    /// It resets when the event loses all its listeners (as in Node).
    leak_warned: bool,
}

/// Where a new listener goes in its event's list.
#[derive(Clone, Copy)]
enum Position {
    Back,
    Front,
}

impl<T> EventEmitter<T> {
    /// An emitter with no listeners that warns above
    /// [`DEFAULT_MAX_LISTENERS`] listeners per event.
    pub fn new() -> Self {
        Self::with_max_listeners(DEFAULT_MAX_LISTENERS)
    }

    /// An emitter that warns above `max` listeners per event (0: never warn).
    pub fn with_max_listeners(max: usize) -> Self {
        Self {
            registry: RefCell::new(Registry {
                events: Vec::new(),
                next_id: 0,
                max_listeners: max,
            }),
        }
    }

    /// Changes the leak-warning threshold, like Node's `setMaxListeners`.
    /// 0 turns the warning off. Going over it only logs; it is never an error.
    pub fn set_max_listeners(&self, max: usize) {
        self.registry.borrow_mut().max_listeners = max;
    }

    /// The current leak-warning threshold (0: the warning is off).
    pub fn max_listeners(&self) -> usize {
        self.registry.borrow().max_listeners
    }

    /// Calls `listener` on every later `emit` of `event`, after the listeners
    /// already there. Keep the id to remove it with [`off`](Self::off).
    pub fn on(&self, event: &str, listener: impl Fn(&T) + 'static) -> ListenerId {
        self.add(event, Position::Back, |id| {
            Listener::every_time(id, Box::new(listener))
        })
    }

    /// Calls `listener` on the next `emit` of `event` only, then removes it.
    pub fn once(&self, event: &str, listener: impl Fn(&T) + 'static) -> ListenerId {
        self.add(event, Position::Back, |id| {
            Listener::once(id, Box::new(listener))
        })
    }

    /// Like [`on`](Self::on), but `listener` runs *before* the listeners
    /// already registered for `event`.
    pub fn prepend_listener(&self, event: &str, listener: impl Fn(&T) + 'static) -> ListenerId {
        self.add(event, Position::Front, |id| {
            Listener::every_time(id, Box::new(listener))
        })
    }

    /// Like [`once`](Self::once), but `listener` runs *before* the listeners
    /// already registered for `event`.
    pub fn prepend_once_listener(
        &self,
        event: &str,
        listener: impl Fn(&T) + 'static,
    ) -> ListenerId {
        self.add(event, Position::Front, |id| {
            Listener::once(id, Box::new(listener))
        })
    }

    /// Removes the listener `id` from `event`. Returns `false` if it was not
    /// there (already removed, a `once` that fired, or another event's id).
    ///
    /// An emit that is already running still calls it: it works on the list
    /// as it was when it started.
    pub fn off(&self, event: &str, id: ListenerId) -> bool {
        let mut registry = self.registry.borrow_mut();
        let Some(index) = registry.events.iter().position(|e| e.name == event) else {
            return false;
        };
        let listeners = &mut registry.events[index].listeners;
        let Some(position) = listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        listeners.remove(position);
        if listeners.is_empty() {
            // Node deletes the key too: the event leaves `event_names`, and
            // its leak warning may fire again if listeners pile up anew.
            registry.events.remove(index);
        }
        true
    }

    /// Calls every listener of `event`, in order, with `payload`.
    ///
    /// Returns `Ok(true)` if at least one listener ran and `Ok(false)` if none
    /// did, except for the `"error"` event: emitting it with no listener
    /// returns `Err(UnhandledError)` (where Node would throw).
    ///
    /// The listener list is copied first, so listeners added during this emit
    /// wait for the next one, and listeners removed during it still run now.
    pub fn emit(&self, event: &str, payload: &T) -> Result<bool, UnhandledError> {
        // The snapshot is a `Vec` of `Rc` clones, and the `RefCell` borrow
        // ends with this statement. Calling a listener while still holding it
        // would make any `on`/`off`/`emit` inside that listener panic with
        // "already borrowed" (with a `Mutex`, it would deadlock instead).
        let snapshot = self.listeners_of(event);

        let mut any_ran = false;
        for listener in snapshot {
            if !listener.claim_turn() {
                // A `once` listener that a nested emit has already run.
                continue;
            }
            if listener.is_once() {
                // Removed before it runs, so if it emits its own event the
                // nested emit's snapshot no longer contains it.
                self.off(event, listener.id);
            }
            listener.call(payload);
            any_ran = true;
        }

        if !any_ran && event == ERROR_EVENT {
            return Err(UnhandledError);
        }
        Ok(any_ran)
    }

    /// How many listeners `event` has right now (`once` listeners included).
    pub fn listener_count(&self, event: &str) -> usize {
        self.registry
            .borrow()
            .events
            .iter()
            .find(|e| e.name == event)
            .map_or(0, |e| e.listeners.len())
    }

    /// The events that have at least one listener, in the order each got its
    /// first one.
    pub fn event_names(&self) -> Vec<String> {
        self.registry
            .borrow()
            .events
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    /// A copy of `event`'s listener list (cheap: `Rc` clones).
    fn listeners_of(&self, event: &str) -> Vec<Rc<Listener<T>>> {
        self.registry
            .borrow()
            .events
            .iter()
            .find(|e| e.name == event)
            .map_or_else(Vec::new, |e| e.listeners.clone())
    }

    /// Registers the listener `make` builds, and warns once if `event` now has
    /// more listeners than the limit.
    fn add(
        &self,
        event: &str,
        position: Position,
        make: impl FnOnce(ListenerId) -> Listener<T>,
    ) -> ListenerId {
        let mut registry = self.registry.borrow_mut();
        let id = ListenerId(registry.next_id);
        registry.next_id += 1;
        let max = registry.max_listeners;

        let index = match registry.events.iter().position(|e| e.name == event) {
            Some(index) => index,
            None => {
                registry.events.push(EventListeners {
                    name: event.to_owned(),
                    listeners: Vec::new(),
                    leak_warned: false,
                });
                registry.events.len() - 1
            }
        };
        let entry = &mut registry.events[index];
        let listener = Rc::new(make(id));
        match position {
            Position::Back => entry.listeners.push(listener),
            Position::Front => entry.listeners.insert(0, listener),
        }

        let count = entry.listeners.len();
        let warn = max > 0 && count > max && !entry.leak_warned;
        if warn {
            entry.leak_warned = true;
        }
        // Log after releasing the borrow: nothing of ours should run inside it.
        drop(registry);
        if warn {
            // A warning, never an error: some programs really do need many
            // listeners. Most of the time, though, it is a listener added in a
            // loop or per request and never removed.
            tracing::warn!(
                "possible EventEmitter leak: {count} listeners for event {event:?}, \
                 more than the limit of {max}; remove listeners with `off`, or raise \
                 the limit with `set_max_listeners`"
            );
        }
        id
    }
}

impl<T> Default for EventEmitter<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows each event name with its listener count: closures have no `Debug`.
impl<T> fmt::Debug for EventEmitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.registry.borrow();
        let counts: Vec<(&str, usize)> = registry
            .events
            .iter()
            .map(|e| (e.name.as_str(), e.listeners.len()))
            .collect();
        f.debug_struct("EventEmitter")
            .field("listeners", &counts)
            .field("max_listeners", &registry.max_listeners)
            .finish()
    }
}
