//! Step 02 — event-based architecture: Node's `EventEmitter`, ported to Rust.
//!
//! Something happens, the code that noticed it *emits* a named event, and
//! every listener registered for that name reacts, without the emitter knowing
//! who they are. This crate is the useful core of Node's `events.EventEmitter`
//! as a small library; `cargo run -p step-02-event-emitter` runs a demo of it,
//! and `cargo run -p step-02-event-emitter --example async_bus` shows the async
//! event bus the later steps use instead. Read `notes/02-event-emitter.md`
//! beside this file.
//!
//! # Layout
//! - [`EventEmitter`] (`src/emitter.rs`): `on`, `once`, `prepend_listener`,
//!   `off`, `emit`, `listener_count`, `event_names`, and the max-listeners
//!   warning.
//! - [`ListenerId`] (`src/listener.rs`): the handle `on` returns, so a listener
//!   can be removed later; the private `Listener` that wraps each callback.
//! - [`UnhandledError`] (`src/error.rs`): what `emit("error", ..)` returns when
//!   nobody listens for errors (Node throws instead).
//!
//! Programs that use it: `src/main.rs` (the demo), `examples/async_bus.rs`
//! (the same listeners as tokio tasks on a `broadcast` channel), and
//! `examples/leaky_listeners.rs` (a deliberate mistake that trips the
//! max-listeners warning).
//!
//! # Example
//! ```
//! use std::{cell::Cell, rc::Rc};
//! use step_02_event_emitter::EventEmitter;
//!
//! let emitter = EventEmitter::new();
//! let seen = Rc::new(Cell::new(0));
//! let counter = Rc::clone(&seen);
//! emitter.on("tick", move |n: &u32| counter.set(counter.get() + n));
//!
//! assert_eq!(emitter.emit("tick", &2), Ok(true));
//! assert_eq!(seen.get(), 2);
//! ```

mod emitter;
mod error;
mod listener;

pub use emitter::{DEFAULT_MAX_LISTENERS, ERROR_EVENT, EventEmitter};
pub use error::UnhandledError;
pub use listener::ListenerId;
