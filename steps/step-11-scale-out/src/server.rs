//! The HTTP server under the app: accepting TCP connections, speaking HTTP/1.1
//! on each with hyper, and stopping in bounded time — whatever clients do.
//!
//! `axum::serve` is the one-line version of this file, and steps 03–07 use it.
//! Attacked on loopback, it showed three gaps that matter in production (see
//! "Attacks it survives" in `notes/08-production.md`):
//!
//! - it builds hyper without a timer, so hyper's header-read timeout never
//!   fires: a client that trickles its headers holds a connection, and up to
//!   ~400 KB of buffer, forever;
//! - it counts no connections: only upgraded WebSockets meet
//!   `MAX_CONNECTIONS`, so thousands of slow or idle TCP connections are free;
//! - its graceful shutdown waits for every HTTP connection with no limit, so
//!   one half-sent request keeps the process alive after SIGTERM.
//!
//! Here every TCP connection takes one of `MAX_TCP_CONNECTIONS` slots for its
//! whole life (upgraded or not; a client past the limit gets a 503 and is
//! closed); hyper has a timer, a header-read timeout (`HEADER_READ_TIMEOUT_MS`)
//! and a small header budget ([`MAX_HEADER_BYTES`]); and shutdown gives HTTP
//! requests in flight the same `SHUTDOWN_GRACE_MS` as the WebSockets, then
//! closes whatever is left.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError},
    time::{sleep, timeout},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{debug, warn};

use crate::{AppState, config::Config, quiet_log::LogThrottle};

/// The most bytes a request's start line and headers may take (hyper's
/// default would be its whole ~400 KB read buffer).
///
/// A browser's request for a page or the WebSocket upgrade, cookies
/// included, fits in a few KiB; 16 KiB leaves room. A bigger one gets
/// "431 Request Header Fields Too Large". It is also the most a client that
/// never finishes its headers can make the server hold for it.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// hyper's read buffer per HTTP connection: the header budget plus room for
/// one read beyond it. (hyper refuses less than 8 KiB.)
const READ_BUFFER_LIMIT: usize = MAX_HEADER_BYTES + 8 * 1024;

/// How long a refused client (over `MAX_TCP_CONNECTIONS`) gets to take its
/// 503 before the socket is closed anyway.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// At most this many refusals are being written at once; past that, a
/// client over the limit is closed without a word. Each one holds a file
/// descriptor until its 503 is out, and a flood of them must not use up the
/// file descriptors the limit keeps free.
const MAX_REFUSALS_AT_ONCE: usize = 16;

/// The answer to a client over `MAX_TCP_CONNECTIONS`, written by hand: no
/// request is read, no hyper connection is made for it.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 71\r\n\
connection: close\r\n\
\r\n\
503 Service Unavailable: too many connections; try again in a moment.\r\n";

/// Serves `app` on `listener` until `stop` resolves, then shuts down: no new
/// connections, 1001 for every WebSocket, and at most `shutdown_grace` for
/// the HTTP requests in flight — all at the same time, so the whole
/// shutdown takes about one grace period, whatever clients do.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: &AppState,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let config = &state.config;
    let http = Http::new(app, config);
    let slots = Arc::new(Semaphore::new(config.max_tcp_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_AT_ONCE));
    let quiet = Quiet::default();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _peer)) => match slots.clone().try_acquire_owned() {
                Ok(slot) => http.spawn(tcp, slot),
                Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                    refuse_busy(tcp, &refusals, config, &quiet);
                }
            },
            Err(error) => pause_after_accept_error(&error, &quiet).await,
        }
    }
    // Closing the listener first: from here on, a new client is refused by
    // the operating system at once instead of waiting in its queue.
    drop(listener);
    let grace = config.shutdown_grace;
    let (left, _) = tokio::join!(http.finish_within(grace), state.close_all_connections());
    if left > 0 {
        warn!("{left} HTTP connections did not finish within {grace:?}; closed them");
    }
    Ok(())
}

/// Log lines a flood could repeat thousands of times a second, at most one
/// a second each (with a count of what was left out).
#[derive(Default)]
struct Quiet {
    busy: LogThrottle,
    accept_errors: LogThrottle,
}

/// Every HTTP connection: how to serve one, and how to stop them all.
struct Http {
    app: Router,
    builder: http1::Builder,
    /// Every HTTP connection task, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled at shutdown: finish the request in flight, take no other.
    finishing: CancellationToken,
    /// Cancelled when the grace is over: close now.
    closing: CancellationToken,
}

impl Http {
    fn new(app: Router, config: &Config) -> Self {
        let mut builder = http1::Builder::new();
        // The timer is what makes hyper's timeouts work at all; without it
        // the header-read timeout is silently off (axum 0.8's `serve`).
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_header_size(MAX_HEADER_BYTES)
            .max_buf_size(READ_BUFFER_LIMIT);
        Http {
            app,
            builder,
            tasks: TaskTracker::new(),
            finishing: CancellationToken::new(),
            closing: CancellationToken::new(),
        }
    }

    /// Serves one accepted connection in a task of its own. `slot` is
    /// carried inside the socket, so it is given back when the socket is
    /// closed — after the WebSocket upgrade too, which takes the socket
    /// over.
    fn spawn(&self, tcp: TcpStream, slot: OwnedSemaphorePermit) {
        // Nagle's algorithm holds back a small write until the previous one
        // is acknowledged, which with delayed ACKs adds tens of milliseconds
        // to a chat message. Every frame here is small and meant to go now.
        if let Err(error) = tcp.set_nodelay(true) {
            debug!("cannot turn off Nagle's algorithm for a connection ({error})");
        }
        let io = TokioIo::new(Counted { tcp, _slot: slot });
        let service = TowerToHyperService::new(self.app.clone());
        let connection = self.builder.serve_connection(io, service).with_upgrades();
        let finishing = self.finishing.clone();
        let closing = self.closing.clone();
        self.tasks.spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = finishing.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = connection.as_mut() => ended,
                        () = closing.cancelled() => return,
                    }
                }
            };
            // A client that went away, a header timeout, a malformed request:
            // that connection's business, not worth more than a debug line.
            if let Err(error) = ended {
                debug!("HTTP connection ended: {error}");
            }
        });
    }

    /// Lets every connection finish the request it is on, for at most
    /// `grace`, then closes the rest. Returns how many had to be closed.
    async fn finish_within(&self, grace: Duration) -> usize {
        self.finishing.cancel();
        self.tasks.close();
        if timeout(grace, self.tasks.wait()).await.is_ok() {
            return 0;
        }
        let left = self.tasks.len();
        self.closing.cancel();
        // Each task returns at its next poll; this wait is short.
        let _ = timeout(Duration::from_secs(1), self.tasks.wait()).await;
        left
    }
}

/// A client over `MAX_TCP_CONNECTIONS`: a 503 and close, in a task of its
/// own so the accept loop goes on at once.
fn refuse_busy(tcp: TcpStream, refusals: &Arc<Semaphore>, config: &Config, quiet: &Quiet) {
    if let Some(left_out) = quiet.busy.allow() {
        let max = config.max_tcp_connections;
        warn!(
            "refusing TCP connections: already {max} open (MAX_TCP_CONNECTIONS){}",
            LogThrottle::and_more(left_out)
        );
    }
    // No place to write a refusal either: closing is the only answer left.
    let Ok(writing) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _writing = writing;
        let mut tcp = tcp;
        let _ = timeout(REFUSAL_TIMEOUT, async {
            tcp.write_all(BUSY_RESPONSE).await?;
            tcp.shutdown().await
        })
        .await;
    });
}

/// `accept` failed. Out of file descriptors (`EMFILE`) is the usual cause,
/// and it would fail again at once, in a loop that burns a core and floods
/// the log: so wait a moment, and say so at most once a second.
async fn pause_after_accept_error(error: &io::Error, quiet: &Quiet) {
    if let Some(left_out) = quiet.accept_errors.allow() {
        warn!(
            "cannot accept a connection ({error}){}",
            LogThrottle::and_more(left_out)
        );
    }
    sleep(Duration::from_millis(50)).await;
}

/// A TCP stream that holds its slot of `MAX_TCP_CONNECTIONS` for as long as
/// it is open: when the stream is dropped (however the connection ends), so
/// is the permit.
struct Counted {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written 503 says how long its body is, exactly.
    #[test]
    fn the_busy_response_has_the_right_length() {
        let text = std::str::from_utf8(BUSY_RESPONSE).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{text}"
        );
    }
}
