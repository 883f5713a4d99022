//! Starting a step's app inside a test, and stopping it again. Three kinds:
//!
//! - [`serve`]: a [`Router`] on `127.0.0.1:0` that runs until the test ends.
//!   What most tests want.
//! - [`KillableServer`]: a [`Router`] on a thread of its own, stopped *from
//!   outside*, as if its process were killed, and started again on the same
//!   port: the "server restarted" case that `socket.js` reconnects from
//!   (the steps before graceful shutdown have no way to stop of their own).
//! - [`GracefulServer`]: a step's own serving function (from the step that
//!   adds graceful shutdown on: `serve(listener, folder, state, stop)`),
//!   stopped by resolving the `stop` future it was given, so what a client
//!   sees is exactly what the step's graceful shutdown does (close frames
//!   with a reason), as after Ctrl-C.
//!
//! Each installs the log capture ([`crate::log_lines`]) before the app runs,
//! so no line the app logs is lost.
//!
//! Why not just abort the task running `axum::serve` to kill a server? That
//! stops accepting new connections, but every connection already accepted,
//! and every WebSocket upgraded from one, runs in a task of its own that the
//! abort does not reach: the clients would stay connected to a server that
//! is "stopped". So a [`KillableServer`] gets its own tokio runtime on its
//! own thread, and stopping drops that runtime, which drops every task in it
//! and so closes every socket, exactly as a killed server process would.

use std::{future::Future, io, net::SocketAddr, pin::Pin, thread, time::Duration};

use axum::Router;
use tokio::{
    net::TcpListener,
    sync::oneshot,
    task::JoinHandle,
    time::{Instant, sleep, timeout},
};

use crate::{DEADLINE, logs::start_capture};

/// `127.0.0.1:0`: loopback only, and any free port, so tests running side by
/// side never race for one.
const ANY_LOOPBACK_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// Starts `app` on `127.0.0.1:0` in this test's runtime and returns the
/// address it got. The app runs until the test ends (its runtime drops it).
pub async fn serve(app: Router) -> SocketAddr {
    start_capture();
    let listener = tokio_listener(ANY_LOOPBACK_PORT).await;
    let addr = address_of(&listener);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A running app that [`KillableServer::stop`] ends completely: listener,
/// HTTP connections and WebSockets alike.
pub struct KillableServer {
    addr: SocketAddr,
    /// Tells the server thread to stop; `None` once it has been told.
    stop: Option<oneshot::Sender<()>>,
    /// The server thread; `None` once it has been joined.
    thread: Option<thread::JoinHandle<()>>,
}

impl KillableServer {
    /// Starts `app` on `127.0.0.1:0` (any free port).
    pub async fn start(app: Router) -> KillableServer {
        KillableServer::start_on(ANY_LOOPBACK_PORT, app).await
    }

    /// Starts `app` on `addr`, e.g. the address of a server just stopped
    /// (see [`bind_with_retries`] for a port the OS still holds).
    pub async fn start_on(addr: SocketAddr, app: Router) -> KillableServer {
        start_capture();
        let listener = bind_with_retries(addr).await;
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let (stop, stopped) = oneshot::channel();
        let thread = thread::Builder::new()
            .name(format!("killable server {addr}"))
            .spawn(move || run_until_killed(listener, app, stopped))
            .expect("start a thread for the server");
        KillableServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where the app listens, e.g. for `http://{addr}/`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the app and waits, up to [`DEADLINE`], until it is gone: when
    /// this returns, the port is closed and every connection the app had is
    /// closed too.
    pub async fn stop(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let joined =
                timeout(DEADLINE, tokio::task::spawn_blocking(move || thread.join())).await;
            assert!(
                matches!(joined, Ok(Ok(Ok(())))),
                "the server thread did not stop cleanly within {DEADLINE:?}"
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

impl Drop for KillableServer {
    /// A test that panics before calling [`KillableServer::stop`] still
    /// stops its server; the thread finishes on its own, a moment later.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// The server thread: serve `app` on a runtime of its own until told to stop,
/// then drop the runtime with everything in it.
fn run_until_killed(listener: std::net::TcpListener, app: Router, stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime for the server");
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("hand the listener to tokio");
        tokio::select! {
            served = async { axum::serve(listener, app).await } => {
                if let Err(error) = served {
                    panic!("the server stopped by itself: {error}");
                }
            }
            // Told to stop, or the `KillableServer` was dropped.
            _ = stopped => {}
        }
    });
    // The serve loop (and with it the listener) is gone now; the tasks it
    // spawned, one per connection and one per WebSocket, are still in the
    // runtime. Dropping the runtime drops each of them, which closes its
    // socket: the client sees the connection end, as if the process died.
    drop(runtime);
}

/// The `stop` future a [`GracefulServer`] hands the app's serving function:
/// it resolves when the test calls [`GracefulServer::begin_shutdown`], as
/// `support::shutdown_signal()` resolves on Ctrl-C.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An app served by its own serving function on the test's runtime, shut
/// down through that function's own graceful shutdown.
///
/// Dropping it without shutting it down leaves the app running until the
/// test ends, like [`serve`].
pub struct GracefulServer {
    addr: SocketAddr,
    /// Resolves the app's [`StopSignal`]; `None` once it has been sent.
    stop: Option<oneshot::Sender<()>>,
    /// The serving function's task: it finishes when the app has shut down.
    finished: JoinHandle<io::Result<()>>,
}

impl GracefulServer {
    /// Runs `serve` on `127.0.0.1:0` (any free port); see
    /// [`GracefulServer::start_on`].
    pub async fn start<S, F>(serve: S) -> GracefulServer
    where
        S: FnOnce(TcpListener, StopSignal) -> F,
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        GracefulServer::start_on(ANY_LOOPBACK_PORT, serve).await
    }

    /// Binds `addr` (port 0 for any free port; a port just given up is
    /// retried as [`bind_with_retries`] says) and runs `serve(listener,
    /// stop)` in a task, e.g.
    /// `|listener, stop| serve(listener, public_folder(), AppState::default(), stop)`.
    pub async fn start_on<S, F>(addr: SocketAddr, serve: S) -> GracefulServer
    where
        S: FnOnce(TcpListener, StopSignal) -> F,
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        start_capture();
        let listener = tokio_listener(addr).await;
        let addr = address_of(&listener);
        let (stop, stopped) = oneshot::channel::<()>();
        let signal: StopSignal = Box::pin(async move {
            // Sent: shut down. Dropped unsent: the test let go of its
            // server, which then runs until the test ends.
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        });
        let finished = tokio::spawn(serve(listener, signal));
        GracefulServer {
            addr,
            stop: Some(stop),
            finished,
        }
    }

    /// Where the app listens, e.g. for `ws://{addr}/ws`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resolves the app's [`StopSignal`], as Ctrl-C does in `main`, and
    /// returns at once: the clients can now read their close frames (and
    /// answer them) while the app shuts down.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            // A send fails only if the app stopped by itself; waiting for
            // it to finish then says how it ended.
            let _ = stop.send(());
        }
    }

    /// Waits, up to `limit`, until the serving function has returned `Ok`:
    /// when this returns, the app has done all of its shutdown and the port
    /// is closed. Call [`GracefulServer::begin_shutdown`] first.
    pub async fn wait_until_finished(self, limit: Duration) {
        match timeout(limit, self.finished).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => panic!("the server ended with an error: {error}"),
            Ok(Err(error)) => panic!("the server task failed: {error}"),
            Err(_) => panic!("the server did not shut down within {limit:?}"),
        }
    }

    /// Begins the shutdown and waits, up to `limit`, until it is done; for
    /// when nothing needs to happen in between. `limit` must cover the app's
    /// own grace period for clients that do not answer its close frame.
    pub async fn shut_down(mut self, limit: Duration) {
        self.begin_shutdown();
        self.wait_until_finished(limit).await;
    }
}

/// Binds `addr`, retrying "address in use" every 50 ms until [`DEADLINE`]
/// runs out: the port of a server just stopped is normally free at once,
/// but the OS may hold it a moment longer. The listener is non-blocking, as
/// tokio needs it.
pub async fn bind_with_retries(addr: SocketAddr) -> std::net::TcpListener {
    let deadline = Instant::now() + DEADLINE;
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
                sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("bind {addr}: {error}"),
        }
    }
}

/// [`bind_with_retries`], handed to tokio.
async fn tokio_listener(addr: SocketAddr) -> TcpListener {
    TcpListener::from_std(bind_with_retries(addr).await).expect("hand the listener to tokio")
}

/// The address a bound listener got (its port, when it asked for port 0).
fn address_of(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("a bound socket has an address")
}
