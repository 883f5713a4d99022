//! Helpers shared by step 02's tests: a log that listeners write to, so a test
//! can see which listeners ran and in what order.

// Each file in `tests/` is its own crate and uses only some of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use step_02_event_emitter::EventEmitter;

/// Who ran, in order. Cloning it shares the same log, so listeners can own a
/// clone while the test keeps another to read.
#[derive(Clone, Default)]
pub struct CallLog(Rc<RefCell<Vec<String>>>);

impl CallLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A listener that records `name` every time it runs.
    pub fn listener<T>(&self, name: &str) -> impl Fn(&T) + 'static {
        let log = self.clone();
        let name = name.to_owned();
        move |_| log.push(&name)
    }

    /// A listener that records `name=payload` every time it runs.
    pub fn listener_with_payload<T: std::fmt::Display>(&self, name: &str) -> impl Fn(&T) + 'static {
        let log = self.clone();
        let name = name.to_owned();
        move |payload| log.push(&format!("{name}={payload}"))
    }

    pub fn push(&self, entry: &str) {
        self.0.borrow_mut().push(entry.to_owned());
    }

    /// Everything recorded so far, in order.
    pub fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// Forgets what was recorded, to look at the next emit on its own.
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

/// An emitter that listeners can reach, for the re-entrancy tests.
///
/// Listeners get a `Weak`, not an `Rc`: an emitter owning a listener that owns
/// the emitter would be a reference cycle and never be freed.
pub fn shared_emitter<T>() -> (Rc<EventEmitter<T>>, Weak<EventEmitter<T>>) {
    let emitter = Rc::new(EventEmitter::new());
    let weak = Rc::downgrade(&emitter);
    (emitter, weak)
}
