//! Runs step 08: `cargo run -p step-08-production`, then open the URL it logs
//! in two tabs. Every limit can be set in the environment, e.g.
//! `MAX_CONNECTIONS=100 ALLOWED_ORIGINS=https://chat.example.com cargo run -p
//! step-08-production`; the limits in force are logged at start-up.

use step_08_production::{AppState, config::Config, public_folder, serve};
use support::StartupError;

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    // Settings first, each checked against its range, then the state they
    // size (connection slots, the hub's ring), and only then the port: a
    // setting the server cannot work with stops it before "listening on".
    let config = Config::from_env()?;
    let folder = support::require_folder(public_folder())?;
    let summary = config.summary();
    let state = AppState::new(config);
    let listener = support::bind_from_env(env!("CARGO_PKG_NAME")).await?;
    for line in summary {
        tracing::info!("{line}");
    }
    tracing::info!("listening on http://{}", listener.local_addr()?);

    serve(listener, folder, state, support::shutdown_signal()).await?;
    Ok(())
}
