//! One registered listener, and the [`ListenerId`] that names it.

use std::cell::Cell;

/// The handle [`EventEmitter::on`](crate::EventEmitter::on) gives back, to
/// pass to [`EventEmitter::off`](crate::EventEmitter::off) later.
///
/// Node removes a listener by passing the same function again
/// (`emitter.off("message", fn)`), which works because JavaScript compares
/// functions by identity. Rust closures cannot be compared at all, so the
/// emitter numbers each listener and hands you the number instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);

/// A callback plus what the emitter needs to know about it.
///
/// The emitter stores `Rc<Listener<T>>`, so taking a snapshot of an event's
/// listeners before an emit only copies pointers.
pub(crate) struct Listener<T> {
    /// How `off` finds this listener again.
    pub(crate) id: ListenerId,
    /// `Fn`, not `FnMut`: a listener may emit the same event again, which calls
    /// it again while it is still running. An `FnMut` would need `&mut` access
    /// to itself twice at once; listeners that keep state use `Cell`/`RefCell`.
    callback: Box<dyn Fn(&T)>,
    /// `None` for `on` listeners. For `once` listeners, whether it has already
    /// fired. The flag lives here, in the listener itself, because every
    /// snapshot shares it: when a nested emit runs a `once` listener, the outer
    /// emit that is still looping over an older snapshot sees the flag and
    /// skips it.
    fired: Option<Cell<bool>>,
}

impl<T> Listener<T> {
    /// A listener that runs on every emit.
    pub(crate) fn every_time(id: ListenerId, callback: Box<dyn Fn(&T)>) -> Self {
        Self {
            id,
            callback,
            fired: None,
        }
    }

    /// A listener that runs on the first emit only.
    pub(crate) fn once(id: ListenerId, callback: Box<dyn Fn(&T)>) -> Self {
        Self {
            id,
            callback,
            fired: Some(Cell::new(false)),
        }
    }

    /// Whether this listener is a `once` listener.
    pub(crate) fn is_once(&self) -> bool {
        self.fired.is_some()
    }

    /// Claims this listener's turn: `true` if it should run now.
    ///
    /// Always `true` for `on` listeners. For a `once` listener, `true` the
    /// first time only: the flag is set *before* the callback runs, so even a
    /// callback that re-emits its own event cannot run twice.
    pub(crate) fn claim_turn(&self) -> bool {
        match &self.fired {
            None => true,
            Some(fired) => !fired.replace(true),
        }
    }

    /// Runs the callback with the payload.
    pub(crate) fn call(&self, payload: &T) {
        (self.callback)(payload);
    }
}
