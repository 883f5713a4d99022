//! Runs step 11: `cargo run -p step-11-scale-out`, then open the URL it logs
//! in two tabs (one node, SQLite: step 10). With Redis, run it twice:
//! `REDIS_URL=redis://127.0.0.1:6379 PORT=3001 cargo run -p
//! step-11-scale-out`, the same with `PORT=3002`, and a tab on each. Every
//! limit can be set in the environment, e.g. `MAX_CONNECTIONS=100 cargo run
//! -p step-11-scale-out`; the limits in force are logged at start-up.

use step_11_scale_out::{
    AppState,
    config::Config,
    open_files::{Fit, fit_to_open_file_limit},
    public_folder, serve,
};
use support::StartupError;

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    // Settings first, each checked against its range, then the state they
    // size (connection slots, the rooms), and only then the port: a
    // setting the server cannot work with stops it before "listening on".
    let mut config = Config::from_env()?;
    // Every TCP connection is an open file: make sure they all fit, so a
    // client over the limit gets a 503 rather than a server out of files.
    match fit_to_open_file_limit(&mut config)? {
        Fit::Fits => {}
        Fit::Raised { from, to } => {
            tracing::info!(
                "raised the open-file limit from {from} to {to}, for MAX_TCP_CONNECTIONS"
            );
        }
        Fit::Lowered(sentence) => tracing::warn!("{sentence}"),
    }
    let folder = support::require_folder(public_folder())?;
    // The database is opened (and checked) before the port is bound too: a
    // file that is not a database stops the server with a sentence. Redis
    // is not waited for: a node starts while Redis is down, and serves
    // once it is back (`/health` says which).
    let summary = config.summary();
    let state = AppState::open(config)?;
    let listener = support::bind_from_env(env!("CARGO_PKG_NAME")).await?;
    for line in summary {
        tracing::info!("{line}");
    }
    tracing::info!("listening on http://{}", listener.local_addr()?);

    serve(listener, folder, state, first_signal_then_exit_on_second()).await?;
    Ok(())
}

/// Resolves on the first Ctrl-C or SIGTERM, which starts the graceful
/// shutdown; a second one exits at once (code 130), for someone who will not
/// wait for the grace period — as most servers do.
async fn first_signal_then_exit_on_second() {
    // Both signals are listened for from here on, so a second one that
    // comes right after the first is not missed.
    let mut signals = support::StopSignals::new();
    signals.next().await;
    tokio::spawn(async move {
        signals.next().await;
        tracing::warn!("a second signal: exiting now, without waiting for clients");
        std::process::exit(130);
    });
}
