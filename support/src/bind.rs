//! Listening on `127.0.0.1:$PORT`, with a clear sentence when the port is busy.

use std::{io, net::Ipv4Addr};

use tokio::net::TcpListener;

use crate::{StartupError, config_from_env};

/// The Node lesson listens on 3000; so do we, unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 3000;

/// Binds `127.0.0.1:$PORT` (`PORT` defaults to [`DEFAULT_PORT`]).
///
/// Loopback only: a lesson server has no business being reachable from the
/// network. `PORT=0` asks the operating system for any free port.
///
/// `package` is the calling step's package name — pass
/// `env!("CARGO_PKG_NAME")` from its `main.rs` — so that the busy-port
/// sentence can end with a `cargo run -p ...` command that works when pasted.
pub async fn bind_from_env(package: &'static str) -> Result<TcpListener, StartupError> {
    // Reading it as a `u16` is the bound: every `u16` is a port, and
    // anything else (`PORT=70000`) is refused with the range in the sentence.
    let port = config_from_env("PORT", DEFAULT_PORT, "a port number from 0 to 65535")?;
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|error| match error.kind() {
            io::ErrorKind::AddrInUse => StartupError::PortInUse { port, package },
            _ => StartupError::Io(error),
        })
}
