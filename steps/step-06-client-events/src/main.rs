//! Runs step 06: `cargo run -p step-06-client-events`, then open the URL it logs.
//! `TICK_MS=500` makes the ticks come every half second instead of every two.

use std::{num::NonZeroU64, time::Duration};

use step_06_client_events::{AppState, DEFAULT_TICK_MS, app, public_folder};
use support::StartupError;

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    let folder = support::require_folder(public_folder())?;
    // Read as a `NonZeroU64`, so `TICK_MS=0` is refused here with a clear
    // sentence, like any other value that is not a number of milliseconds.
    let tick_ms: NonZeroU64 = support::config_from_env(
        "TICK_MS",
        DEFAULT_TICK_MS,
        "a number of milliseconds, 1 or more",
    )?;
    let state = AppState::new(Duration::from_millis(tick_ms.get()));
    tracing::info!("every client gets fromServer every {tick_ms} ms");
    let listener = support::bind_from_env().await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    axum::serve(listener, app(folder, state))
        .with_graceful_shutdown(support::shutdown_signal())
        .await?;
    Ok(())
}
