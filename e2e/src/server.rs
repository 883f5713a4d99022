//! Servers a check can stop and start again on the same port — the "server
//! restarted" case that `socket.js` reconnects from. Two kinds:
//!
//! - [`StoppableServer`]: a step's [`Router`] on a thread of its own, stopped
//!   *from outside*, as if its process were killed (steps 04 to 07 have no
//!   shutdown of their own).
//! - [`GracefulServer`]: a step's own serving function (step 08's
//!   `serve(listener, folder, state, stop)`), stopped by resolving the `stop`
//!   future it was given, so what the browser sees is exactly what the step's
//!   graceful shutdown does (close frames with a reason), as after Ctrl-C.
//!
//! Why not just abort the task running `axum::serve`? That stops accepting
//! new connections, but every connection already accepted, and every
//! WebSocket upgraded from one, runs in a task of its own that the abort does
//! not reach: the pages would stay connected to a server that is "stopped".
//! So the app gets its own tokio runtime on its own thread, and stopping
//! drops that runtime, which drops every task in it and so closes every
//! socket, exactly as a killed server process would.

use std::{future::Future, io, net::SocketAddr, pin::Pin, thread::JoinHandle};

use axum::Router;
use tokio::{
    sync::oneshot,
    time::{Instant, sleep, timeout},
};

use crate::WAIT;

/// A running app that [`StoppableServer::stop`] ends completely: listener,
/// HTTP connections and WebSockets alike.
pub struct StoppableServer {
    addr: SocketAddr,
    /// Tells the server thread to stop; `None` once it has been told.
    stop: Option<oneshot::Sender<()>>,
    /// The server thread; `None` once it has been joined.
    thread: Option<JoinHandle<()>>,
}

impl StoppableServer {
    /// Starts `app` on `127.0.0.1:0` (any free port).
    pub async fn start(app: Router) -> StoppableServer {
        StoppableServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), app).await
    }

    /// Starts `app` on `addr`, e.g. the address of a server just stopped.
    ///
    /// The port is normally free the moment the old server has stopped;
    /// should the OS still hold it, binding is retried until [`WAIT`] runs
    /// out.
    pub async fn start_on(addr: SocketAddr, app: Router) -> StoppableServer {
        let listener = bind_with_retries(addr).await;
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("e2e server {addr}"))
            .spawn(move || run(listener, app, stopped))
            .expect("start a thread for the server");
        StoppableServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where the app listens, e.g. for `http://{addr}/`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the app and waits until it is gone: when this returns, the port
    /// is closed and every connection the app had is closed too.
    pub async fn stop(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let joined = timeout(WAIT, tokio::task::spawn_blocking(move || thread.join())).await;
            assert!(
                matches!(joined, Ok(Ok(Ok(())))),
                "the server thread stopped cleanly within {WAIT:?}"
            );
        }
    }

    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The thread is gone already if the send fails: nothing to stop.
            let _ = stop.send(());
        }
    }
}

impl Drop for StoppableServer {
    /// A check that panics before calling [`StoppableServer::stop`] still
    /// stops its server; the thread finishes on its own, a moment later.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// The server thread: serve `app` on a runtime of its own until told to stop,
/// then drop the runtime with everything in it.
fn run(listener: std::net::TcpListener, app: Router, stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime for the server");
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).expect("hand the listener to tokio");
        tokio::select! {
            served = async { axum::serve(listener, app).await } => {
                if let Err(error) = served {
                    panic!("the server stopped by itself: {error}");
                }
            }
            // Told to stop, or the `StoppableServer` was dropped.
            _ = stopped => {}
        }
    });
    // The serve loop (and with it the listener) is gone now; the tasks it
    // spawned, one per connection and one per WebSocket, are still in the
    // runtime. Dropping the runtime drops each of them, which closes its
    // socket: the browser sees the connection end, as if the process died.
    drop(runtime);
}

/// The `stop` future a [`GracefulServer`] hands the app's serving function:
/// it resolves when the check calls [`GracefulServer::shut_down`] (or drops
/// the server), as `support::shutdown_signal()` resolves on Ctrl-C.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An app served by its own serving function on the check's runtime, shut
/// down through that function's own graceful shutdown.
pub struct GracefulServer {
    addr: SocketAddr,
    /// Resolves the app's [`StopSignal`]; `None` once it has been sent.
    stop: Option<oneshot::Sender<()>>,
    /// The serving function's task; `None` once it has been awaited.
    finished: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl GracefulServer {
    /// Runs `serve` on `127.0.0.1:0` (any free port); see
    /// [`GracefulServer::start_on`].
    pub async fn start<S, F>(serve: S) -> GracefulServer
    where
        S: FnOnce(tokio::net::TcpListener, StopSignal) -> F,
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        GracefulServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), serve).await
    }

    /// Binds `addr` (port 0 for any free port; a port just given up is
    /// retried as in [`StoppableServer::start_on`]) and runs
    /// `serve(listener, stop)` in a task, e.g.
    /// `|listener, stop| serve(listener, public_folder(), AppState::default(), stop)`.
    pub async fn start_on<S, F>(addr: SocketAddr, serve: S) -> GracefulServer
    where
        S: FnOnce(tokio::net::TcpListener, StopSignal) -> F,
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::from_std(bind_with_retries(addr).await)
            .expect("hand the listener to tokio");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let (stop, stopped) = oneshot::channel::<()>();
        // A dropped sender resolves the signal too: a check that panics
        // still shuts its server down.
        let signal: StopSignal = Box::pin(async move {
            let _ = stopped.await;
        });
        let finished = tokio::spawn(serve(listener, signal));
        GracefulServer {
            addr,
            stop: Some(stop),
            finished: Some(finished),
        }
    }

    /// Where the app listens, e.g. for `http://{addr}/`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resolves the app's [`StopSignal`] and waits, up to [`WAIT`], until its
    /// serving function has returned `Ok`: when this returns, the app has
    /// done all of its shutdown and the port is closed.
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            // A send fails only if the app stopped by itself; the join below
            // then says how it ended.
            let _ = stop.send(());
        }
        if let Some(finished) = self.finished.take() {
            match timeout(WAIT, finished).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => panic!("the server ended with an error: {error}"),
                Ok(Err(error)) => panic!("the server task failed: {error}"),
                Err(_) => panic!("the server shut down within {WAIT:?}"),
            }
        }
    }
}

/// Binds `addr`, retrying "address in use" every 50 ms until [`WAIT`] runs
/// out. The listener is non-blocking, as tokio needs it.
async fn bind_with_retries(addr: SocketAddr) -> std::net::TcpListener {
    let deadline = Instant::now() + WAIT;
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(listener) => {
                listener
                    .set_nonblocking(true)
                    .expect("make the listener non-blocking");
                return listener;
            }
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                // Polling the port, not waiting for an event: there is no
                // notification for "this port is free again".
                sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(error) => panic!("bind {addr}: {error}"),
        }
    }
}
