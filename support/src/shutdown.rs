//! The signal that starts a graceful shutdown.

/// Resolves when the process is asked to stop: Ctrl-C in the terminal, or
/// SIGTERM from a process manager (`kill`, systemd, Docker) on Unix.
///
/// Pass it to `axum::serve(..).with_graceful_shutdown(..)`: the server stops
/// accepting, lets requests in flight finish, and `main` returns normally, so
/// the exit code is 0.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C ({error}); stop the server with SIGTERM");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!("cannot listen for SIGTERM ({error}); stop the server with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
