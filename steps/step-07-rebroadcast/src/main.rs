//! Runs step 07: `cargo run -p step-07-rebroadcast`, then open the URL it logs
//! in two tabs.

use step_07_rebroadcast::{AppState, app, public_folder};
use support::StartupError;

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    let folder = support::require_folder(public_folder())?;
    let state = AppState::new();
    let listener = support::bind_from_env(env!("CARGO_PKG_NAME")).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    axum::serve(listener, app(folder, state))
        .with_graceful_shutdown(support::shutdown_signal())
        .await?;
    Ok(())
}
