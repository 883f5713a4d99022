//! Runs step 06: `cargo run -p step-06-client-events`, then open the URL it logs.
//! `TICK_MS=500` makes the ticks come every half second instead of every two.

use std::{num::NonZeroU64, time::Duration};

use step_06_client_events::{AppState, DEFAULT_TICK_MS, app, public_folder};
use support::StartupError;

/// The longest tick `TICK_MS` may ask for: a day.
///
/// A tick less often than daily is no tick anyone will wait for, so a
/// larger number is a mistake, and is refused at start-up. It also keeps
/// each connection's `Instant::now() + period` far from the end of what a
/// clock can represent (where that end lies differs per platform): an
/// overflow there would panic in every connection, long after start-up.
const LONGEST_TICK_MS: NonZeroU64 = NonZeroU64::new(24 * 60 * 60 * 1000).expect("a day is not 0");

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    let folder = support::require_folder(public_folder())?;
    // Read as a `NonZeroU64`, so `TICK_MS=0` is refused here with a clear
    // sentence, like any other value that is not a number of milliseconds;
    // and at most a day, so `TICK_MS=18446744073709551615` is refused too.
    let tick_ms: NonZeroU64 = support::bounded_from_env(
        "TICK_MS",
        DEFAULT_TICK_MS,
        NonZeroU64::MIN..=LONGEST_TICK_MS,
        "a number of milliseconds, 1 or more",
        "milliseconds",
    )?;
    let state = AppState::new(Duration::from_millis(tick_ms.get()));
    tracing::info!("every client gets fromServer every {tick_ms} ms");
    let listener = support::bind_from_env(env!("CARGO_PKG_NAME")).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    axum::serve(listener, app(folder, state))
        .with_graceful_shutdown(support::shutdown_signal())
        .await?;
    Ok(())
}
