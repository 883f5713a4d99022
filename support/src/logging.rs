//! Logging set-up: human-readable lines on the terminal.

use tracing_subscriber::EnvFilter;

/// Sends `tracing` events to the terminal at `info` level, or at whatever
/// `RUST_LOG` asks for (`RUST_LOG=debug`, `RUST_LOG=tower_http=trace`, ...).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init` rather than `init`: a second call (from a test, say) is
    // harmless instead of a panic.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
