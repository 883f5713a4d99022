//! Start-up plumbing that every step needs but no step is *about*.
//!
//! Each step's `main.rs` should read as "bind, log the URL, serve": the lesson
//! lives in the step's `lib.rs`. What is left over — turning `RUST_LOG` into a
//! logger, reading `PORT` and the other settings, explaining a busy port in one sentence, checking
//! that `public/` exists, waiting for Ctrl-C — lives here, once.
//!
//! # Layout
//! - [`init_tracing`]: logs to the terminal, `info` unless `RUST_LOG` says otherwise.
//! - [`config_from_env`]: reads a number such as `PORT` or `TICK_MS`, with a default.
//! - [`bounded_from_env`]: the same, and refuses a number outside the range the
//!   server can work with, naming the range, before anything is bound;
//!   [`check_range`] is that check on its own, for a value read already.
//! - [`bind_from_env`]: listens on `127.0.0.1:$PORT` (3000 by default, like the Node lesson);
//!   a busy port's sentence shows the `cargo run -p` command for the step itself.
//! - [`require_folder`]: reports a missing `public/` folder before the server starts.
//! - [`shutdown_signal`]: resolves on Ctrl-C or SIGTERM, for graceful shutdown;
//!   [`StopSignals`], the same for a server that counts them.
//! - [`StartupError`]: everything above that can go wrong, worded for a learner.

mod bind;
mod config;
mod error;
mod folder;
mod logging;
mod shutdown;

pub use bind::{DEFAULT_PORT, bind_from_env};
pub use config::{bounded_from_env, check_range, config_from_env};
pub use error::StartupError;
pub use folder::require_folder;
pub use logging::init_tracing;
pub use shutdown::{StopSignals, shutdown_signal};
