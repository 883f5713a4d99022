//! The node's connection for commands, and whether Redis is reachable.
//!
//! Every command a connection's task sends (store a message, claim a
//! nickname, read history) goes over one multiplexed connection: many
//! commands in flight at once, each answered in order. This module keeps
//! that connection, and a watch of its health that `/health`, the
//! connections and the log all read.
//!
//! Why not the redis crate's `ConnectionManager`: it reconnects by itself,
//! but a command sent while Redis is gone waits through its retries (about
//! nine seconds by default) before it fails. A chat client waiting for an
//! acknowledgement is better told at once "not stored; it will be sent
//! again", so here a command fails fast while Redis is down, and one task
//! (the supervisor, [`Link::keep_connected`]) reconnects in the background.
//! A command that does not answer within [`RESPONSE_TIMEOUT`] counts as a
//! lost connection too.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use redis::{AsyncConnectionConfig, Client, RedisError, aio::MultiplexedConnection};
use tokio::{sync::Notify, sync::watch, time::timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long a command may take before the connection counts as lost. Redis
/// answers in well under a millisecond; a second means it is gone (or
/// stuck, which is the same to a chat client waiting for its ack).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The first wait between reconnection attempts; it doubles up to
/// [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Whether this node can reach Redis right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Commands go through.
    Up,
    /// Not connected; the sentence says why.
    Down(String),
}

/// The command connection: cloning gives another handle to the same one.
#[derive(Clone)]
pub struct Link {
    inner: Arc<LinkInner>,
}

struct LinkInner {
    client: Client,
    /// The name this connection has in Redis's `CLIENT LIST`.
    name: String,
    /// `None` while disconnected. A `std::sync::Mutex`, held only to clone
    /// or replace the handle, never across an `.await`.
    connection: Mutex<Option<MultiplexedConnection>>,
    health: watch::Sender<Health>,
    /// Wakes the supervisor when a command finds the connection broken.
    broken: Notify,
    /// Whether it has ever connected: the log says "connected" the first
    /// time and "back" after that.
    ever_connected: AtomicBool,
    /// When the current connection was made.
    connected_at: Mutex<Option<Instant>>,
}

/// A command could not be sent or answered: Redis is unreachable (worth
/// retrying once it is back), or it refused the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    Unavailable(String),
    Refused(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Unavailable(why) => write!(f, "this server cannot reach Redis ({why})"),
            LinkError::Refused(why) => write!(f, "Redis refused it ({why})"),
        }
    }
}

impl Link {
    /// A link that is not connected yet; [`Link::keep_connected`] connects it.
    pub fn new(client: Client, name: String) -> Link {
        let down = Health::Down("not connected yet".to_owned());
        Link {
            inner: Arc::new(LinkInner {
                client,
                name,
                connection: Mutex::new(None),
                health: watch::Sender::new(down),
                broken: Notify::new(),
                ever_connected: AtomicBool::new(false),
                connected_at: Mutex::new(None),
            }),
        }
    }

    /// Whether Redis is reachable, and a way to wait for a change.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.inner.health.subscribe()
    }

    /// Whether commands go through right now.
    pub fn is_up(&self) -> bool {
        *self.inner.health.borrow() == Health::Up
    }

    /// The connection, if there is one: a cheap handle to share.
    pub fn connection(&self) -> Result<MultiplexedConnection, LinkError> {
        let current = self
            .inner
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match (&*current, &*self.inner.health.borrow()) {
            (Some(connection), Health::Up) => Ok(connection.clone()),
            (_, Health::Down(why)) => Err(LinkError::Unavailable(why.clone())),
            (None, Health::Up) => Err(LinkError::Unavailable("reconnecting".to_owned())),
        }
    }

    /// Sorts a command's error: one that means the connection is gone
    /// marks the link down (and wakes the supervisor); any other is Redis
    /// refusing this command.
    pub fn failed(&self, error: &RedisError) -> LinkError {
        if is_connection_lost(error) {
            self.mark_down(error.to_string());
            LinkError::Unavailable(error.to_string())
        } else {
            LinkError::Refused(error.to_string())
        }
    }

    fn mark_down(&self, why: String) {
        let was_up = self.inner.health.send_if_modified(|health| {
            let was_up = *health == Health::Up;
            if was_up {
                *health = Health::Down(why.clone());
            }
            was_up
        });
        if was_up {
            warn!("lost Redis ({why}); refusing messages until it is back");
        }
        *self
            .inner
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        self.inner.broken.notify_one();
    }

    /// The supervisor: connects, and reconnects whenever a command found
    /// the connection broken, until `stop` is cancelled. A failed attempt
    /// waits a little longer each time, up to a second.
    pub async fn keep_connected(self, url: String, stop: CancellationToken) {
        let mut delay = FIRST_RETRY_DELAY;
        let mut said_unreachable = false;
        while !stop.is_cancelled() {
            match connect_named(&self.inner.client, &self.inner.name, Some(RESPONSE_TIMEOUT)).await
            {
                Ok(connection) => {
                    delay = FIRST_RETRY_DELAY;
                    said_unreachable = false;
                    self.connected(connection, &url);
                    tokio::select! {
                        () = self.inner.broken.notified() => {}
                        () = stop.cancelled() => return,
                    }
                }
                Err(why) => {
                    if !said_unreachable {
                        warn!("cannot reach Redis at {url} ({why}); trying again until it answers");
                        said_unreachable = true;
                    }
                    self.inner
                        .health
                        .send_if_modified(|health| set_down(health, why));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => return,
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }

    /// How long the current connection has been up (zero while down).
    pub fn up_for(&self) -> Duration {
        let connected_at = *self
            .inner
            .connected_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match connected_at {
            Some(at) if self.is_up() => at.elapsed(),
            _ => Duration::ZERO,
        }
    }

    fn connected(&self, connection: MultiplexedConnection, url: &str) {
        *self
            .inner
            .connected_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
        *self
            .inner
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(connection);
        let before = self.inner.health.send_replace(Health::Up);
        let first = !self.inner.ever_connected.swap(true, Ordering::Relaxed);
        match before {
            Health::Up => {}
            Health::Down(_) if first => info!("connected to Redis at {url}"),
            Health::Down(_) => info!("Redis is back; taking messages again"),
        }
    }
}

/// Records `why` as the reason Redis is down; whether that changed it.
fn set_down(health: &mut Health, why: String) -> bool {
    let down = Health::Down(why);
    let changed = *health != down;
    *health = down;
    changed
}

/// Whether `error` means the connection is gone (rather than Redis
/// refusing one command).
pub fn is_connection_lost(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

/// A new connection to `client`'s Redis, named `name` in `CLIENT LIST`,
/// whose commands time out after `response_timeout` (`None`: never, for
/// blocking reads). The error is a sentence.
pub async fn connect_named(
    client: &Client,
    name: &str,
    response_timeout: Option<Duration>,
) -> Result<MultiplexedConnection, String> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(response_timeout);
    let connecting = client.get_multiplexed_async_connection_with_config(&config);
    let mut connection = match timeout(CONNECT_TIMEOUT * 2, connecting).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err("no answer within 2 s".to_owned()),
    };
    let mut naming = redis::cmd("CLIENT");
    naming.arg("SETNAME").arg(name);
    match timeout(CONNECT_TIMEOUT, naming.query_async::<()>(&mut connection)).await {
        Ok(Ok(())) => Ok(connection),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no answer to CLIENT SETNAME within 1 s".to_owned()),
    }
}
