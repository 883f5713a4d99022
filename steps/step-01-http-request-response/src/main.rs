//! Runs step 01: `cargo run -p step-01-http-request-response`.
//!
//! Starts the server, plays one HTTP exchange against it over a raw TCP socket
//! and prints every byte, then keeps serving until Ctrl-C so you can try
//! `curl -v` yourself. `notes/01-http-request-response.md` explains it.

use std::io;

use step_01_http_request_response::{app, raw_http_get};
use support::StartupError;

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    support::init_tracing();
    // The package name is for the busy-port sentence: it ends with the exact
    // `cargo run -p ...` command that starts this step on another port.
    let listener = support::bind_from_env(env!("CARGO_PKG_NAME")).await?;
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");

    // The server runs in its own task, which leaves `main` free to be a client.
    let server = tokio::spawn(async move {
        axum::serve(listener, app())
            .with_graceful_shutdown(support::shutdown_signal())
            .await
    });

    match raw_http_get(addr).await {
        Ok(exchange) => println!("{exchange}"),
        Err(error) => {
            tracing::error!("the raw TCP demo failed ({error}); the server keeps running")
        }
    }
    tracing::info!(
        "still serving: try `curl -v http://localhost:{}/`, Ctrl-C to stop",
        addr.port()
    );

    // The first `?` reports a server task that panicked, the second a server that failed.
    server.await.map_err(io::Error::from)??;
    Ok(())
}
