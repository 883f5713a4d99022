//! Test plumbing that no lesson is about, written once for every step's tests
//! (steps 04 to 08, and any step copied from them) and for the browser checks
//! in `e2e/`.
//!
//! A step's `tests/common/mod.rs` keeps what is about that step (starting its
//! app with its `AppState`, reading its chat messages or ticks); everything a
//! test needs whatever the step — a deadline on every wait, a WebSocket
//! client, the server's log lines, a server it can stop — comes from here.
//! Nothing in this crate names a step: a copied step 09 uses it unchanged.
//!
//! # Layout
//! - `lib.rs` (this file): [`DEADLINE`] and [`QUIET_PERIOD`], the two times
//!   every test shares.
//! - [`logs`]: [`log_lines`], the server's own log lines (its `debug!` ones
//!   too), and [`LogLines::wait_for`] and friends to wait for one.
//! - [`websocket`]: [`connect`] to `/ws` and read the `connect` greeting, then
//!   [`send_frame`], [`next_frame`], [`next_event`] and
//!   [`assert_nothing_arrives`], each bounded by a deadline.
//! - [`transcript`]: a note's transcript against what an example prints.
//! - [`server`]: [`serve`] an app for the rest of the test;
//!   [`KillableServer`], an app stopped from outside as if its process died;
//!   [`GracefulServer`], an app stopped through its own graceful shutdown.
//! - [`redis`]: [`RedisServer`], a real `redis-server` a test starts on a
//!   free port (or skips without), stops, restarts and kills by its PID, with
//!   [`RedisServer::command`] and [`RedisServer::kill_clients_named`] to
//!   look inside and to cut a node's connections.
//!
//! Every wait here has a deadline, so a bug fails a test in seconds with a
//! sentence saying what did not happen, instead of hanging it.

use std::time::Duration;

pub mod logs;
pub mod redis;
pub mod server;
pub mod transcript;
pub mod websocket;

pub use logs::{LogLines, log_lines};
pub use redis::{RedisOptions, RedisServer};
pub use server::{GracefulServer, KillableServer, StopSignal, serve};
pub use websocket::{
    Client, assert_nothing_arrives, connect, next_event, next_frame, read_greeting, send_frame,
};

/// How long any single step of a test may take before it counts as a failure.
///
/// On loopback everything a test waits for takes milliseconds; five seconds
/// is for a busy 2-core CI machine, and still fails a broken server quickly.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// How long a client must stay quiet for "nothing more arrives" to hold.
///
/// A test cannot wait forever to prove that a frame never comes, so it waits
/// this long and asserts that nothing came. The server forwards a message in
/// well under a millisecond on loopback, so a stray frame would show up
/// within this window.
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);
