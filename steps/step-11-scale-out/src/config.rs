//! The server's settings: every limit a production deployment needs to
//! choose, with a sensible default, read from the environment at start-up.
//!
//! `main` calls [`Config::from_env`] and logs [`Config::summary`], so the
//! terminal shows exactly which limits are in force; tests build a `Config`
//! directly (often with a heartbeat of a few milliseconds). See
//! `notes/08-production.md` for why each limit exists, and [`allowed`] for
//! the range each number must lie in, and why.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use support::{StartupError, bounded_from_env, check_range, config_from_env};

/// The values each numeric setting may take, checked by [`Config::from_env`]
/// before the port is bound. A number outside its range is refused with a
/// sentence naming the variable, the value and the range.
///
/// Each upper end is where something real stops working, or where a larger
/// number can only be a mistake; each reason is at its constant. Without
/// them, `MAX_CONNECTIONS=18446744073709551615` started the server, printed
/// "listening on ...", and then panicked.
pub mod allowed {
    use std::ops::RangeInclusive;

    use tokio::sync::Semaphore;

    use crate::MAX_MESSAGE_BYTES;

    /// A day in milliseconds: the longest duration any setting may ask for.
    ///
    /// A heartbeat less often than daily notices nothing, and a shutdown that
    /// waits longer than a day is a hung one, so a larger number is a
    /// mistake. It also keeps every `Instant::now() + d` the server computes
    /// far from the end of what a clock can represent (where that end lies
    /// differs per platform): an overflow there would panic in a connection.
    pub const ONE_DAY_MS: u64 = 24 * 60 * 60 * 1000;

    /// `MAX_CONNECTIONS` (and `MAX_TCP_CONNECTIONS`): at least 1 (0 would
    /// refuse everyone), at most Tokio's `Semaphore::MAX_PERMITS` (2^61 - 1
    /// on 64-bit machines): the connection slots are a semaphore's permits,
    /// and `Semaphore::new` panics above that. The operating system's limit on open files is far
    /// lower and stops connections first; this bound only keeps the number
    /// from panicking.
    pub const MAX_CONNECTIONS: RangeInclusive<usize> = 1..=Semaphore::MAX_PERMITS;

    /// `MAX_MESSAGES_PER_SECOND`: at least 1 (0 would drop every message), at
    /// most a million — one a microsecond, already no limit at all for one
    /// client of a server that delivers a few million frames a second in
    /// total (`bench/compare.sh` sets exactly this to switch the limit off).
    /// A larger number changes nothing, so it is refused as a mistake.
    pub const MAX_MESSAGES_PER_SECOND: RangeInclusive<u32> = 1..=1_000_000;

    /// `MAX_BYTES_PER_SECOND`: at least [`MAX_MESSAGE_BYTES`] (16,384), so
    /// that the largest message a client may send fits in one second's
    /// budget and can always be sent; at most a billion, more than one
    /// client's network carries (no limit at all), so a larger number is a
    /// mistake.
    pub const MAX_BYTES_PER_SECOND: RangeInclusive<u32> = LARGEST_MESSAGE..=1_000_000_000;

    /// `MAX_PUBLISHED_BYTES_PER_SECOND`: at least twice [`MAX_MESSAGE_BYTES`]
    /// (32,768), so that the largest message, published with its envelope
    /// and its sender's id, fits in one second's budget; at most a billion,
    /// as for one client.
    pub const MAX_PUBLISHED_BYTES_PER_SECOND: RangeInclusive<u32> =
        2 * LARGEST_MESSAGE..=1_000_000_000;

    /// [`MAX_MESSAGE_BYTES`] as the byte budgets count: 16 KiB fits a `u32`.
    const LARGEST_MESSAGE: u32 = MAX_MESSAGE_BYTES as u32;

    /// `QUEUE_CAPACITY`: at least 1 (Tokio's broadcast channel panics on 0),
    /// at most a million. The channel allocates its whole ring when the
    /// server starts, rounded up to a power of two — 2^20 slots at a
    /// million, tens of megabytes — and it panics above `usize::MAX / 2`,
    /// or fails to allocate well before that.
    pub const QUEUE_CAPACITY: RangeInclusive<usize> = 1..=1_000_000;

    /// `HEARTBEAT_INTERVAL_MS` and `HEARTBEAT_TIMEOUT_MS`: at least 1 ms (a
    /// zero interval would ping nonstop, a zero timeout drop every client at
    /// its first ping), at most [`ONE_DAY_MS`].
    pub const HEARTBEAT_MS: RangeInclusive<u64> = 1..=ONE_DAY_MS;

    /// `HEADER_READ_TIMEOUT_MS`: at least 1 ms, at most [`ONE_DAY_MS`] (a
    /// client that takes a day to send its headers is not a client).
    pub const HEADER_READ_TIMEOUT_MS: RangeInclusive<u64> = 1..=ONE_DAY_MS;

    /// `RETENTION_PER_ROOM`: at least 1 message, at most ten million (a
    /// room's history then takes gigabytes; beyond it, use a real archive).
    pub const RETENTION_PER_ROOM: RangeInclusive<usize> = 1..=10_000_000;

    /// `HISTORY_SIZE`: 0 (no history for a new member) to 1,000 (more would
    /// be a page nobody scrolls through before chatting).
    pub const HISTORY_SIZE: RangeInclusive<usize> = 0..=1000;

    /// `REPLAY_CAP`: 1 to 100,000 missed messages, a few megabytes on the
    /// wire at most; further behind, a client is told how many it missed.
    pub const REPLAY_CAP: RangeInclusive<usize> = 1..=100_000;

    /// `RECOVERY_SECONDS`: 0 (no recovery) to a day.
    pub const RECOVERY_SECONDS: RangeInclusive<u64> = 0..=86_400;

    /// `SHUTDOWN_GRACE_MS`: 0 is allowed (exit at once, without waiting for
    /// clients to be told), at most [`ONE_DAY_MS`].
    pub const SHUTDOWN_GRACE_MS: RangeInclusive<u64> = 0..=ONE_DAY_MS;

    /// `NODE_LIVENESS_MS`: at least 30 ms (a node says it is alive three
    /// times per period, and a Redis round trip must fit in between), at
    /// most a day.
    pub const NODE_LIVENESS_MS: RangeInclusive<u64> = 30..=ONE_DAY_MS;
}

/// Every setting of step 08. `Config::default()` is what `cargo run` uses
/// when no variable is set.
#[derive(Clone, Debug)]
pub struct Config {
    /// Web pages from these origins may open a WebSocket here, besides the
    /// server's own origin (`ALLOWED_ORIGINS`, comma-separated, e.g.
    /// `https://chat.example.com,http://localhost:8080`). Empty by default:
    /// same origin only.
    pub allowed_origins: AllowedOrigins,
    /// The host names browsers reach this server by (`ALLOWED_HOSTS`,
    /// comma-separated, added to `localhost`, `127.0.0.1` and `[::1]`, where
    /// it listens). A page is "the server's own" only if it was loaded from
    /// one of them: without this, a DNS-rebinding page at
    /// `http://evil.example:3000` counts as same origin (see [`crate::origin`]).
    pub allowed_hosts: AllowedHosts,
    /// At most this many WebSockets at once (`MAX_CONNECTIONS`). Each one
    /// costs memory and a file descriptor; beyond the limit a new client gets
    /// a 503 instead of making every other client slower.
    pub max_connections: usize,
    /// How many messages one client may send per second, on average
    /// (`MAX_MESSAGES_PER_SECOND`); it may also send that many in one burst.
    /// One client must not be able to flood everyone else's screen.
    pub max_messages_per_second: u32,
    /// How many bytes one client may send per second, in all its frames
    /// (`MAX_BYTES_PER_SECOND`, 64 KiB); it may also send that many in one
    /// burst. Without it, 20 messages of 16 KiB a second were within the
    /// limit: 320 KB a second from each client, for everyone to receive.
    pub max_bytes_per_second: u32,
    /// How many bytes of chat messages (room and private, counted as the
    /// frames that go out) the server takes per second from all clients
    /// together (`MAX_PUBLISHED_BYTES_PER_SECOND`, 1 MiB). One room may hold
    /// everyone, and its members receive all of its messages, so this is
    /// what each client must keep up with however many others are sending.
    /// It is checked before a message is stored: one beyond it is refused on
    /// its ack (the chat is busy), and neither stored nor sent.
    pub max_published_bytes_per_second: u32,
    /// How often the server pings each client (`HEARTBEAT_INTERVAL_MS`,
    /// 25 s like socket.io), so a dead connection is noticed.
    pub heartbeat_interval: Duration,
    /// How long a client may stay silent after a ping, and how long one
    /// batch of writes to it may take, before it counts as gone
    /// (`HEARTBEAT_TIMEOUT_MS`, 20 s like socket.io).
    pub heartbeat_timeout: Duration,
    /// How many chat messages may wait for one client (`QUEUE_CAPACITY`).
    /// A client that falls further behind is disconnected as too slow.
    pub queue_capacity: usize,
    /// On Ctrl-C or SIGTERM, how long to wait for every client to be told
    /// before exiting anyway (`SHUTDOWN_GRACE_MS`).
    pub shutdown_grace: Duration,
    /// At most this many TCP connections at once, of any kind: WebSockets,
    /// page loads, and clients that have not finished their request yet
    /// (`MAX_TCP_CONNECTIONS`; by default a tenth more than
    /// `MAX_CONNECTIONS`, plus 100). Beyond it a client gets a 503 and is
    /// closed; without it, idle or slow TCP connections would be free.
    pub max_tcp_connections: usize,
    /// How long a client may take to send a request's headers, on a new
    /// connection or between two requests on a kept-alive one
    /// (`HEADER_READ_TIMEOUT_MS`, 10 s). A client that trickles its headers
    /// ("slowloris") is closed after this, not kept forever.
    pub header_read_timeout: Duration,
    /// Where the history is kept, and how much of it (step 10).
    pub delivery: DeliveryConfig,
    /// The Redis this node shares the chat through, if any (step 11:
    /// `REDIS_URL`); `None` is step 10, one process and SQLite.
    pub shared: Option<SharedSettings>,
}

/// The settings of step 11: which Redis, and what this node is called there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedSettings {
    /// `REDIS_URL`, such as `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `NODE_NAME`: how this process is known to the others (in Redis's
    /// client list and keys); by default a random one, new at every start.
    pub node_name: String,
    /// `NODE_LIVENESS_MS`: a node that has not said it is alive for this
    /// long counts as dead, and its users leave every online list. It says
    /// so three times per period.
    pub node_liveness: Duration,
}

impl SharedSettings {
    /// The default `NODE_LIVENESS_MS`: 3 s, so a dead node's users leave
    /// the others' lists within about 4 s.
    pub const DEFAULT_LIVENESS: Duration = Duration::from_secs(3);

    /// Reads `REDIS_URL`, `NODE_NAME` and `NODE_LIVENESS_MS`; `None` when
    /// `REDIS_URL` is unset or empty.
    pub fn from_env() -> Result<Option<SharedSettings>, StartupError> {
        let redis_url = match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => return Ok(None),
        };
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("unix://")) {
            return Err(StartupError::BadSetting {
                name: "REDIS_URL",
                value: redis_url,
                expected: "a URL such as redis://127.0.0.1:6379 (TLS, rediss://, is not built in)",
            });
        }
        let node_name = match std::env::var("NODE_NAME") {
            Ok(name) if !name.is_empty() => check_node_name(name)?,
            _ => random_node_name()?,
        };
        let node_liveness = Duration::from_millis(bounded_from_env(
            "NODE_LIVENESS_MS",
            whole_milliseconds(SharedSettings::DEFAULT_LIVENESS),
            allowed::NODE_LIVENESS_MS,
            "a whole number of milliseconds",
            "milliseconds",
        )?);
        Ok(Some(SharedSettings {
            redis_url,
            node_name,
            node_liveness,
        }))
    }

    /// One line for the start-up log. The URL is shown without a password.
    pub fn summary(&self) -> String {
        format!(
            "node {}: the chat is shared through Redis at {}; a node silent for {} ms counts as gone",
            self.node_name,
            self.shown_url(),
            self.node_liveness.as_millis()
        )
    }

    /// `redis_url` with any password replaced by `***`, for log lines.
    pub fn shown_url(&self) -> String {
        match (self.redis_url.find("://"), self.redis_url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!(
                    "{}***{}",
                    &self.redis_url[..scheme + 3],
                    &self.redis_url[at..]
                )
            }
            _ => self.redis_url.clone(),
        }
    }
}

/// A `NODE_NAME` of 1 to 32 letters, digits, `-` and `_`: it becomes part
/// of Redis keys and client names, which must not hold spaces.
fn check_node_name(name: String) -> Result<String, StartupError> {
    let fits = name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fits {
        Ok(name)
    } else {
        Err(StartupError::BadSetting {
            name: "NODE_NAME",
            value: name,
            expected: "1 to 32 letters, digits, '-' or '_'",
        })
    }
}

/// Eight random hexadecimal digits, for a node started without a name.
fn random_node_name() -> Result<String, StartupError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|error| {
        StartupError::Io(std::io::Error::other(format!(
            "no random bytes for a node name ({error}); set NODE_NAME"
        )))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The settings of step 10: the database, how much history it keeps and
/// sends, and how long a dropped connection's session can be taken back.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// The SQLite file (`DATABASE_PATH`; by default `data/chat.db` at the
    /// root of the repository; `:memory:` keeps nothing after the process).
    pub database_path: PathBuf,
    /// Messages kept per room, and per recipient of private messages
    /// (`RETENTION_PER_ROOM`); older ones are deleted in the background.
    pub retention_per_room: usize,
    /// How many of a room's latest messages a first join gets
    /// (`HISTORY_SIZE`).
    pub history_size: usize,
    /// The most missed messages a reconnecting client is sent
    /// (`REPLAY_CAP`); further behind, it is told how many it missed.
    pub replay_cap: usize,
    /// How long after a connection ends its session can be taken back
    /// (`RECOVERY_SECONDS`): the nickname kept, and the private messages
    /// missed meanwhile delivered.
    pub recovery: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            database_path: default_database_path(),
            retention_per_room: 10_000,
            history_size: 50,
            replay_cap: 1000,
            recovery: Duration::from_secs(120),
        }
    }
}

/// `data/chat.db` at the root of the repository (a folder git ignores),
/// found from this crate's folder, so `cargo run` works from anywhere.
pub fn default_database_path() -> PathBuf {
    let step = Path::new(env!("CARGO_MANIFEST_DIR"));
    // steps/step-11-scale-out -> the repository's root.
    let root = step.parent().and_then(Path::parent).unwrap_or(step);
    root.join("data").join("chat.db")
}

impl DeliveryConfig {
    /// Reads the step 10 settings, each checked against its range.
    pub fn from_env() -> Result<DeliveryConfig, StartupError> {
        let default = DeliveryConfig::default();
        let database_path = match std::env::var_os("DATABASE_PATH") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => default.database_path,
        };
        Ok(DeliveryConfig {
            database_path,
            retention_per_room: bounded_from_env(
                "RETENTION_PER_ROOM",
                default.retention_per_room,
                allowed::RETENTION_PER_ROOM,
                "a whole number of messages",
                "messages",
            )?,
            history_size: bounded_from_env(
                "HISTORY_SIZE",
                default.history_size,
                allowed::HISTORY_SIZE,
                "a whole number of messages",
                "messages",
            )?,
            replay_cap: bounded_from_env(
                "REPLAY_CAP",
                default.replay_cap,
                allowed::REPLAY_CAP,
                "a whole number of messages",
                "messages",
            )?,
            recovery: Duration::from_secs(bounded_from_env(
                "RECOVERY_SECONDS",
                120,
                allowed::RECOVERY_SECONDS,
                "a whole number of seconds",
                "seconds",
            )?),
        })
    }

    /// One line for the start-up log.
    pub fn summary(&self) -> String {
        format!(
            "storage: {} (SQLite), keeping {} messages per room; a new member gets the last {}, \
             a returning one up to {} missed; a session can be taken back for {} s",
            self.database_path.display(),
            self.retention_per_room,
            self.history_size,
            self.replay_cap,
            self.recovery.as_secs()
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allowed_origins: AllowedOrigins::default(),
            allowed_hosts: AllowedHosts::default(),
            max_connections: 10_000,
            max_messages_per_second: 20,
            max_bytes_per_second: 64 * 1024,
            max_published_bytes_per_second: 1024 * 1024,
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(20),
            queue_capacity: 256,
            shutdown_grace: Duration::from_secs(5),
            max_tcp_connections: tcp_connections_for(10_000),
            header_read_timeout: Duration::from_secs(10),
            delivery: DeliveryConfig::default(),
            shared: None,
        }
    }
}

/// The default `MAX_TCP_CONNECTIONS` for `max_connections` WebSockets: room
/// for all of them, and a tenth more plus 100 for page loads and for the
/// 503 that tells one more WebSocket client the chat is full (and never
/// above what [`allowed::MAX_CONNECTIONS`] allows).
fn tcp_connections_for(max_connections: usize) -> usize {
    max_connections
        .saturating_add(max_connections / 10)
        .saturating_add(100)
        .min(*allowed::MAX_CONNECTIONS.end())
}

impl Config {
    /// Reads every setting from the environment; an unset variable keeps its
    /// default, a set but unreadable one, or a number outside its range in
    /// [`allowed`], is a [`StartupError`] naming it.
    pub fn from_env() -> Result<Config, StartupError> {
        let default = Config::default();
        let (max_bytes_per_second, max_published_bytes_per_second) =
            byte_budgets_from_env(&default)?;
        let config = Config {
            allowed_origins: config_from_env(
                "ALLOWED_ORIGINS",
                default.allowed_origins,
                "comma-separated origins such as https://chat.example.com,http://localhost:8080",
            )?,
            allowed_hosts: config_from_env(
                "ALLOWED_HOSTS",
                default.allowed_hosts,
                "at most 64 comma-separated host names such as chat.example.com,192.168.1.20 \
                 (no scheme, no port)",
            )?,
            max_connections: config_from_env(
                "MAX_CONNECTIONS",
                default.max_connections,
                "a whole number of connections",
            )?,
            max_messages_per_second: config_from_env(
                "MAX_MESSAGES_PER_SECOND",
                default.max_messages_per_second,
                "a whole number of messages per second",
            )?,
            max_bytes_per_second,
            max_published_bytes_per_second,
            heartbeat_interval: milliseconds_from_env(
                "HEARTBEAT_INTERVAL_MS",
                default.heartbeat_interval,
            )?,
            heartbeat_timeout: milliseconds_from_env(
                "HEARTBEAT_TIMEOUT_MS",
                default.heartbeat_timeout,
            )?,
            queue_capacity: config_from_env(
                "QUEUE_CAPACITY",
                default.queue_capacity,
                "a whole number of messages",
            )?,
            shutdown_grace: milliseconds_from_env("SHUTDOWN_GRACE_MS", default.shutdown_grace)?,
            max_tcp_connections: 0,
            header_read_timeout: milliseconds_from_env(
                "HEADER_READ_TIMEOUT_MS",
                default.header_read_timeout,
            )?,
            delivery: DeliveryConfig::from_env()?,
            shared: SharedSettings::from_env()?,
        };
        config.with_tcp_connections_from_env()?.check()
    }

    /// `MAX_TCP_CONNECTIONS`, read after `MAX_CONNECTIONS`, whose value sets
    /// its default.
    fn with_tcp_connections_from_env(self) -> Result<Config, StartupError> {
        let max_tcp_connections = config_from_env(
            "MAX_TCP_CONNECTIONS",
            tcp_connections_for(self.max_connections),
            "a whole number of connections",
        )?;
        Ok(Config {
            max_tcp_connections,
            ..self
        })
    }

    /// Refuses settings outside their ranges in [`allowed`] — values that
    /// would make the server useless, or panic once it is serving — rather
    /// than letting it start and misbehave.
    ///
    /// Durations are checked in whole milliseconds, as the environment
    /// gives them.
    fn check(self) -> Result<Config, StartupError> {
        check_range(
            "MAX_CONNECTIONS",
            self.max_connections,
            &allowed::MAX_CONNECTIONS,
            "connections",
        )?;
        self.check_budgets_per_second()?;
        check_range(
            "MAX_TCP_CONNECTIONS",
            self.max_tcp_connections,
            &allowed::MAX_CONNECTIONS,
            "connections",
        )?;
        if self.max_tcp_connections < self.max_connections {
            return Err(StartupError::BadSetting {
                name: "MAX_TCP_CONNECTIONS",
                value: self.max_tcp_connections.to_string(),
                expected: "at least MAX_CONNECTIONS: every WebSocket is also a TCP \
                           connection (and page loads need some more)",
            });
        }
        check_range(
            "QUEUE_CAPACITY",
            self.queue_capacity,
            &allowed::QUEUE_CAPACITY,
            "messages",
        )?;
        let milliseconds = [
            (
                "HEARTBEAT_INTERVAL_MS",
                self.heartbeat_interval,
                allowed::HEARTBEAT_MS,
            ),
            (
                "HEARTBEAT_TIMEOUT_MS",
                self.heartbeat_timeout,
                allowed::HEARTBEAT_MS,
            ),
            (
                "SHUTDOWN_GRACE_MS",
                self.shutdown_grace,
                allowed::SHUTDOWN_GRACE_MS,
            ),
            (
                "HEADER_READ_TIMEOUT_MS",
                self.header_read_timeout,
                allowed::HEADER_READ_TIMEOUT_MS,
            ),
        ];
        for (name, duration, range) in milliseconds {
            check_range(name, whole_milliseconds(duration), &range, "milliseconds")?;
        }
        Ok(self)
    }

    /// Refuses per-second budgets outside their ranges in [`allowed`].
    fn check_budgets_per_second(&self) -> Result<(), StartupError> {
        check_range(
            "MAX_MESSAGES_PER_SECOND",
            self.max_messages_per_second,
            &allowed::MAX_MESSAGES_PER_SECOND,
            "messages per second",
        )?;
        check_range(
            "MAX_BYTES_PER_SECOND",
            self.max_bytes_per_second,
            &allowed::MAX_BYTES_PER_SECOND,
            "bytes per second",
        )?;
        check_range(
            "MAX_PUBLISHED_BYTES_PER_SECOND",
            self.max_published_bytes_per_second,
            &allowed::MAX_PUBLISHED_BYTES_PER_SECOND,
            "bytes per second",
        )?;
        Ok(())
    }

    /// The settings in a few lines a person can read in the terminal at
    /// start-up, so nobody has to guess which limits are in force.
    pub fn summary(&self) -> Vec<String> {
        vec![
            format!(
                "limits: {} connections, {} messages per second per client, {} queued messages per client; \
                 {} bytes per second per client, {} bytes per second published in all",
                self.max_connections,
                self.max_messages_per_second,
                self.queue_capacity,
                self.max_bytes_per_second,
                self.max_published_bytes_per_second
            ),
            format!(
                "heartbeat: ping every {} ms, drop a client silent for {} ms after a ping; shutdown grace {} ms",
                self.heartbeat_interval.as_millis(),
                self.heartbeat_timeout.as_millis(),
                self.shutdown_grace.as_millis()
            ),
            format!("origins: {}", self.allowed_origins),
            format!("hosts: {}", self.allowed_hosts),
            format!(
                "HTTP: at most {} TCP connections, request headers within {} ms",
                self.max_tcp_connections,
                self.header_read_timeout.as_millis()
            ),
            match &self.shared {
                None => self.delivery.summary(),
                Some(shared) => shared.summary(),
            },
        ]
    }
}

/// `MAX_BYTES_PER_SECOND` and `MAX_PUBLISHED_BYTES_PER_SECOND`, or their
/// defaults.
fn byte_budgets_from_env(default: &Config) -> Result<(u32, u32), StartupError> {
    let per_client = config_from_env(
        "MAX_BYTES_PER_SECOND",
        default.max_bytes_per_second,
        "a whole number of bytes per second",
    )?;
    let published = config_from_env(
        "MAX_PUBLISHED_BYTES_PER_SECOND",
        default.max_published_bytes_per_second,
        "a whole number of bytes per second",
    )?;
    Ok((per_client, published))
}

/// A duration given in milliseconds, such as `HEARTBEAT_INTERVAL_MS=25000`.
fn milliseconds_from_env(name: &'static str, default: Duration) -> Result<Duration, StartupError> {
    config_from_env(
        name,
        whole_milliseconds(default),
        "a whole number of milliseconds",
    )
    .map(Duration::from_millis)
}

/// `duration` in whole milliseconds; one too long for a `u64` of them
/// (half a billion years) counts as `u64::MAX`, which no range allows.
fn whole_milliseconds(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Origins, besides the server's own, whose pages may open a WebSocket here.
///
/// Each is kept as a browser writes it in the `Origin` header:
/// `scheme://host[:port]`, lower case, no path and no trailing slash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Whether `origin` (an `Origin` header's value) is on the list. Scheme
    /// and host are case-insensitive, as browsers treat them.
    pub fn contains(&self, origin: &str) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }
}

impl FromStr for AllowedOrigins {
    type Err = String;

    /// Parses `https://a.example,http://localhost:8080`. An entry without a
    /// scheme, or with a path, is refused: it could never match what a
    /// browser sends, and a silent mismatch is worse than an error.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut origins = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let entry = entry.trim_end_matches('/').to_ascii_lowercase();
            let Some((scheme, host)) = entry.split_once("://") else {
                return Err(format!("{entry}: no scheme"));
            };
            if scheme.is_empty() || host.is_empty() || host.contains('/') {
                return Err(format!("{entry}: not scheme://host[:port]"));
            }
            origins.push(entry);
        }
        Ok(AllowedOrigins(origins))
    }
}

impl fmt::Display for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("same origin only (set ALLOWED_ORIGINS to allow others)")
        } else {
            write!(f, "same origin, and {}", self.0.join(", "))
        }
    }
}

/// The host names this server answers WebSocket upgrades for: the loopback
/// names it listens on, and those in `ALLOWED_HOSTS`.
///
/// Each is kept lower case, as a `Host` header names it without its port:
/// `chat.example.com`, `192.168.1.20`, `[::1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// The names of the loopback address the server listens on (see
    /// `support::bind_from_env`), always allowed.
    pub const LOOPBACK: [&'static str; 3] = ["localhost", "127.0.0.1", "[::1]"];

    /// The most names `ALLOWED_HOSTS` may list: enough for any real
    /// deployment, and a bound on the list every upgrade is compared with.
    pub const MAX_LISTED: usize = 64;

    /// The longest host name DNS allows, in characters.
    const MAX_NAME_CHARS: usize = 253;

    /// Whether `name` (a `Host` header without its port) is one of them;
    /// host names are case-insensitive.
    pub fn contains(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }
}

impl Default for AllowedHosts {
    fn default() -> Self {
        AllowedHosts(Self::LOOPBACK.map(String::from).to_vec())
    }
}

impl FromStr for AllowedHosts {
    type Err = String;

    /// Parses `chat.example.com,192.168.1.20,[fe80::1]` and adds the
    /// loopback names. An entry with a scheme or a port is refused: it could
    /// never equal a `Host` header's name, and a silent mismatch is worse
    /// than an error.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut hosts = AllowedHosts::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let entry = entry.to_ascii_lowercase();
            if !is_host_name(&entry) {
                return Err(format!("{entry}: not a host name"));
            }
            if !hosts.contains(&entry) {
                hosts.0.push(entry);
            }
        }
        if hosts.0.len() > Self::LOOPBACK.len() + Self::MAX_LISTED {
            return Err(format!("more than {} host names", Self::MAX_LISTED));
        }
        Ok(hosts)
    }
}

/// Whether `name` is a DNS name or IPv4 address (letters, digits, `-`, `.`)
/// or an IPv6 address in brackets, as a `Host` header writes them.
fn is_host_name(name: &str) -> bool {
    let fits = |text: &str, allowed: fn(char) -> bool| {
        !text.is_empty() && text.len() <= AllowedHosts::MAX_NAME_CHARS && text.chars().all(allowed)
    };
    match name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        Some(ipv6) => fits(ipv6, |c| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        None => fits(name, |c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
    }
}

impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))?;
        if self.0.len() == Self::LOOPBACK.len() {
            f.write_str(" (set ALLOWED_HOSTS to add the names browsers reach this server by)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// A password in `REDIS_URL` never reaches the log.
    #[test]
    fn the_redis_url_is_logged_without_its_password() {
        let settings = |url: &str| SharedSettings {
            redis_url: url.to_owned(),
            node_name: "a".to_owned(),
            node_liveness: SharedSettings::DEFAULT_LIVENESS,
        };
        let shown = settings("redis://user:hunter2@10.0.0.5:6379/0").shown_url();
        assert_eq!(shown, "redis://***@10.0.0.5:6379/0");
        assert_eq!(
            settings("redis://127.0.0.1:6379").shown_url(),
            "redis://127.0.0.1:6379"
        );
    }

    /// Node names become parts of keys and client names: no spaces, no
    /// colons, at most 32 characters.
    #[test]
    fn node_names_are_short_and_plain() {
        assert!(check_node_name("node-a_1".to_owned()).is_ok());
        for bad in ["node a", "a:b", "\u{e9}t\u{e9}", &"x".repeat(33)] {
            assert!(check_node_name(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    use std::time::Instant;

    use axum::extract::ws::Utf8Bytes;
    use tokio::sync::{Semaphore, broadcast};

    use super::*;

    /// A list is split on commas, trimmed, lower-cased, and a trailing slash
    /// dropped, so it compares equal to what a browser sends.
    #[test]
    fn allowed_origins_are_normalised() {
        // Act
        let origins: AllowedOrigins = " https://Chat.Example.com/ , http://localhost:8080,"
            .parse()
            .expect("a valid list");

        // Assert
        assert!(origins.contains("https://chat.example.com"));
        assert!(origins.contains("http://localhost:8080"));
        assert!(!origins.contains("http://chat.example.com"));
        assert!(!origins.contains("http://localhost:8081"));
    }

    /// Entries that could never match an `Origin` header are refused.
    #[test]
    fn malformed_origins_are_refused() {
        assert!("chat.example.com".parse::<AllowedOrigins>().is_err());
        assert!(
            "https://chat.example.com/app"
                .parse::<AllowedOrigins>()
                .is_err()
        );
        assert!("https://".parse::<AllowedOrigins>().is_err());
        assert_eq!("".parse::<AllowedOrigins>(), Ok(AllowedOrigins::default()));
    }

    /// `ALLOWED_HOSTS` adds its names, trimmed and lower-cased, to the
    /// loopback names, which are always allowed.
    #[test]
    fn allowed_hosts_add_to_the_loopback_names() {
        // Act
        let hosts: AllowedHosts = " Chat.Example.com , 192.168.1.20,[FE80::1],"
            .parse()
            .expect("a valid list");

        // Assert
        for name in [
            "chat.example.com",
            "192.168.1.20",
            "[fe80::1]",
            "localhost",
            "[::1]",
        ] {
            assert!(hosts.contains(name), "{name} in {hosts}");
        }
        assert!(!hosts.contains("example.com"));
        assert_eq!("".parse::<AllowedHosts>(), Ok(AllowedHosts::default()));
    }

    /// Entries that could never equal a `Host` header's name (a scheme, a
    /// port, a path), and lists longer than the bound, are refused.
    #[test]
    fn malformed_or_too_many_hosts_are_refused() {
        // Arrange
        let too_many = (0..=AllowedHosts::MAX_LISTED)
            .map(|n| format!("host{n}.example"))
            .collect::<Vec<_>>()
            .join(",");

        // Act + Assert
        for list in [
            "http://chat.example.com",
            "chat.example.com:443",
            "chat.example.com/app",
            "[::1",
            "[]",
            &"a".repeat(254),
            &too_many,
        ] {
            assert!(list.parse::<AllowedHosts>().is_err(), "{list:.40}");
        }
    }

    /// The start-up summary names every limit and its value.
    #[test]
    fn summary_names_every_limit() {
        // Arrange
        let config = Config {
            max_connections: 7,
            max_messages_per_second: 3,
            ..Config::default()
        };

        // Act
        let lines = config.summary().join("\n");

        // Assert
        for expected in [
            "7 connections",
            "3 messages per second",
            "256 queued messages",
            "65536 bytes per second per client",
            "1048576 bytes per second published in all",
            "ping every 25000 ms",
            "silent for 20000 ms",
            "same origin only",
            "hosts: localhost, 127.0.0.1, [::1]",
        ] {
            assert!(lines.contains(expected), "{expected:?} in {lines}");
        }
    }

    /// `Config::default()` with one setting changed by `change`.
    fn default_but(change: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        change(&mut config);
        config
    }

    /// Asserts that `check` refuses each case's config with the sentence
    /// "<setting> is out of range: expected <range>".
    fn assert_each_refused(cases: &[(Config, &str, &str)]) {
        for (config, setting, range) in cases {
            // Act
            let refused = config
                .clone()
                .check()
                .map(|_| ())
                .map_err(|e| e.to_string());

            // Assert
            let sentence = format!("{setting} is out of range: expected {range}");
            assert_eq!(refused, Err(sentence));
        }
    }

    /// One step outside either end of every counted setting's range is a
    /// start-up error whose sentence names the variable, the value and the
    /// range — not a server that refuses everyone (a zero limit), nor one
    /// that panics once it is serving (the issue's
    /// `MAX_CONNECTIONS=18446744073709551615`).
    #[test]
    fn a_count_just_outside_its_range_is_refused_with_a_sentence() {
        // Arrange: (the setting, how it reads in the environment, its range).
        let connections = format!("1 to {} connections", Semaphore::MAX_PERMITS);
        let all_of_usize = format!("MAX_CONNECTIONS={}", usize::MAX);
        let per_second = "1 to 1000000 messages per second";
        let messages = "1 to 1000000 messages";

        // Act + Assert
        assert_each_refused(&[
            (
                default_but(|c| c.max_connections = 0),
                "MAX_CONNECTIONS=0",
                &connections,
            ),
            (
                default_but(|c| c.max_connections = usize::MAX),
                &all_of_usize,
                &connections,
            ),
            (
                default_but(|c| c.max_messages_per_second = 0),
                "MAX_MESSAGES_PER_SECOND=0",
                per_second,
            ),
            (
                default_but(|c| c.max_messages_per_second = 1_000_001),
                "MAX_MESSAGES_PER_SECOND=1000001",
                per_second,
            ),
            (
                default_but(|c| c.queue_capacity = 0),
                "QUEUE_CAPACITY=0",
                messages,
            ),
            (
                default_but(|c| c.queue_capacity = 1_000_001),
                "QUEUE_CAPACITY=1000001",
                messages,
            ),
        ]);
    }

    /// One step outside either end of the byte budgets' ranges is refused
    /// the same way: a budget that the largest message (16 KiB, or 32 KiB
    /// with its envelope once published) does not fit in could never let it
    /// through.
    #[test]
    fn a_byte_budget_just_outside_its_range_is_refused_with_a_sentence() {
        // Arrange
        let per_client = "16384 to 1000000000 bytes per second";
        let published = "32768 to 1000000000 bytes per second";

        // Act + Assert
        assert_each_refused(&[
            (
                default_but(|c| c.max_bytes_per_second = 16_383),
                "MAX_BYTES_PER_SECOND=16383",
                per_client,
            ),
            (
                default_but(|c| c.max_bytes_per_second = 1_000_000_001),
                "MAX_BYTES_PER_SECOND=1000000001",
                per_client,
            ),
            (
                default_but(|c| c.max_published_bytes_per_second = 32_767),
                "MAX_PUBLISHED_BYTES_PER_SECOND=32767",
                published,
            ),
            (
                default_but(|c| c.max_published_bytes_per_second = 1_000_000_001),
                "MAX_PUBLISHED_BYTES_PER_SECOND=1000000001",
                published,
            ),
        ]);
    }

    /// One step outside every duration's range is refused the same way:
    /// 0 ms for a heartbeat (the shutdown grace may be 0), and a day and a
    /// millisecond for any of them.
    #[test]
    fn a_duration_just_outside_its_range_is_refused_with_a_sentence() {
        // Arrange
        let heartbeat = "1 to 86400000 milliseconds";
        let day_and_1_ms = Duration::from_millis(allowed::ONE_DAY_MS + 1);

        // Act + Assert
        assert_each_refused(&[
            (
                default_but(|c| c.heartbeat_interval = Duration::ZERO),
                "HEARTBEAT_INTERVAL_MS=0",
                heartbeat,
            ),
            (
                default_but(|c| c.heartbeat_interval = day_and_1_ms),
                "HEARTBEAT_INTERVAL_MS=86400001",
                heartbeat,
            ),
            (
                default_but(|c| c.heartbeat_timeout = Duration::ZERO),
                "HEARTBEAT_TIMEOUT_MS=0",
                heartbeat,
            ),
            (
                default_but(|c| c.heartbeat_timeout = day_and_1_ms),
                "HEARTBEAT_TIMEOUT_MS=86400001",
                heartbeat,
            ),
            (
                default_but(|c| c.shutdown_grace = day_and_1_ms),
                "SHUTDOWN_GRACE_MS=86400001",
                "0 to 86400000 milliseconds",
            ),
        ]);
    }

    /// Both ends of every range are allowed (the ranges are inclusive), and
    /// so are the defaults: `cargo run` with nothing set starts.
    #[test]
    fn both_ends_of_every_range_and_the_defaults_are_allowed() {
        // Arrange
        let a_day = Duration::from_millis(allowed::ONE_DAY_MS);
        let lowest = Config {
            max_connections: 1,
            max_tcp_connections: 1,
            max_messages_per_second: 1,
            max_bytes_per_second: 16_384,
            max_published_bytes_per_second: 32_768,
            queue_capacity: 1,
            heartbeat_interval: Duration::from_millis(1),
            heartbeat_timeout: Duration::from_millis(1),
            shutdown_grace: Duration::ZERO,
            ..Config::default()
        };
        let highest = Config {
            max_connections: Semaphore::MAX_PERMITS,
            max_tcp_connections: Semaphore::MAX_PERMITS,
            max_messages_per_second: 1_000_000,
            max_bytes_per_second: 1_000_000_000,
            max_published_bytes_per_second: 1_000_000_000,
            queue_capacity: 1_000_000,
            heartbeat_interval: a_day,
            heartbeat_timeout: a_day,
            shutdown_grace: a_day,
            ..Config::default()
        };

        // Act + Assert
        for config in [lowest, highest, Config::default()] {
            let summary = config.summary().join("; ");
            assert!(config.check().is_ok(), "refused: {summary}");
        }
    }

    /// The largest allowed values really work where they are used: a
    /// semaphore with that many connection slots, a broadcast ring of that
    /// many messages, and a deadline a day away. One above the first two
    /// panics in Tokio, which is what the upper bounds are for.
    #[test]
    fn the_largest_allowed_values_build_without_panicking() {
        // Act
        let slots = Semaphore::new(*allowed::MAX_CONNECTIONS.end());
        let (ring, _receiver) = broadcast::channel::<Utf8Bytes>(*allowed::QUEUE_CAPACITY.end());
        let a_day = Duration::from_millis(*allowed::HEARTBEAT_MS.end());
        let deadline = Instant::now().checked_add(a_day);

        // Assert
        assert_eq!(slots.available_permits(), Semaphore::MAX_PERMITS);
        assert_eq!(ring.receiver_count(), 1);
        assert!(deadline.is_some(), "now + a day overflows the clock");
    }
}
