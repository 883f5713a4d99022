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

/// Ctrl-C and SIGTERM, listened for from the moment this is made, for as
/// long as it lives: unlike calling [`shutdown_signal`] twice, nothing sent
/// between two waits is missed. For a server that starts a graceful
/// shutdown on the first signal and exits at once on the second.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    /// How many signals have come so far.
    seen: usize,
}

impl StopSignals {
    /// Starts listening. A signal that cannot be listened for is said in a
    /// warning, and only the other one stops the server.
    pub fn new() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    tracing::warn!("cannot listen for {name} ({error})");
                    None
                }
            };
            StopSignals {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                seen: 0,
            }
        }
        #[cfg(not(unix))]
        StopSignals { seen: 0 }
    }

    /// Resolves on the next Ctrl-C or SIGTERM; the first one logs
    /// "shutting down", like [`shutdown_signal`].
    pub async fn next(&mut self) {
        #[cfg(unix)]
        {
            let interrupt = async {
                match &mut self.interrupt {
                    Some(stream) => stream.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminate = async {
                match &mut self.terminate {
                    Some(stream) => stream.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => {}
                _ = terminate => {}
            }
        }
        #[cfg(not(unix))]
        shutdown_signal().await;
        self.seen += 1;
        if self.seen == 1 {
            tracing::info!("shutting down");
        }
    }
}

impl Default for StopSignals {
    fn default() -> Self {
        StopSignals::new()
    }
}
