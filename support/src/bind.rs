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
pub async fn bind_from_env() -> Result<TcpListener, StartupError> {
    let port = config_from_env("PORT", DEFAULT_PORT, "a port number from 0 to 65535")?;
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|error| match error.kind() {
            io::ErrorKind::AddrInUse => StartupError::PortInUse { port },
            _ => StartupError::Io(error),
        })
}
