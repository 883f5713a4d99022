//! Logging set-up: human-readable lines on the terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The level used when `RUST_LOG` is unset or empty: the lesson's own lines
/// ("listening on ...", "a user connected ...") and nothing noisier.
const DEFAULT_FILTER: &str = "info";

/// Sends `tracing` events to the terminal at `info` level, or at whatever
/// `RUST_LOG` asks for (`RUST_LOG=debug`, `RUST_LOG=info,tower_http=debug`, ...).
pub fn init_tracing() {
    // An empty `RUST_LOG=` would otherwise parse as "log nothing", hiding even
    // the URL to open; treat it like an unset variable.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .unwrap_or_else(|error| {
                eprintln!(
                    "RUST_LOG={directives:?} is not valid ({error}); using {DEFAULT_FILTER:?}"
                );
                EnvFilter::new(DEFAULT_FILTER)
            }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    // `try_init` rather than `init`: a second call (from a test, say) is
    // harmless instead of a panic.
    // Colours only on a terminal: piped into a file or a test, escape codes
    // are noise. `NO_COLOR` (https://no-color.org) turns them off anyway.
    let colours = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .try_init();
}
