//! Runs step 03: `cargo run -p step-03-static-server`, then open the URL it logs.

use step_03_static_server::{app, public_folder};
use support::StartupError;

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    let folder = support::require_folder(public_folder())?;
    let listener = support::bind_from_env(env!("CARGO_PKG_NAME")).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    axum::serve(listener, app(folder))
        .with_graceful_shutdown(support::shutdown_signal())
        .await?;
    Ok(())
}
