//! The server's settings: every limit a production deployment needs to
//! choose, with a sensible default, read from the environment at start-up.
//!
//! `main` calls [`Config::from_env`] and logs [`Config::summary`], so the
//! terminal shows exactly which limits are in force; tests build a `Config`
//! directly (often with a heartbeat of a few milliseconds). See
//! `notes/08-production.md` for why each limit exists.

use std::{fmt, str::FromStr, time::Duration};

use support::{StartupError, config_from_env};

/// Every setting of step 08. `Config::default()` is what `cargo run` uses
/// when no variable is set.
#[derive(Clone, Debug)]
pub struct Config {
    /// Web pages from these origins may open a WebSocket here, besides the
    /// server's own origin (`ALLOWED_ORIGINS`, comma-separated, e.g.
    /// `https://chat.example.com,http://localhost:8080`). Empty by default:
    /// same origin only.
    pub allowed_origins: AllowedOrigins,
    /// At most this many WebSockets at once (`MAX_CONNECTIONS`). Each one
    /// costs memory and a file descriptor; beyond the limit a new client gets
    /// a 503 instead of making every other client slower.
    pub max_connections: usize,
    /// How many messages one client may send per second, on average
    /// (`MAX_MESSAGES_PER_SECOND`); it may also send that many in one burst.
    /// One client must not be able to flood everyone else's screen.
    pub max_messages_per_second: u32,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allowed_origins: AllowedOrigins::default(),
            max_connections: 10_000,
            max_messages_per_second: 20,
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(20),
            queue_capacity: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Reads every setting from the environment; an unset variable keeps its
    /// default, a set but unreadable one is a [`StartupError`] naming it.
    pub fn from_env() -> Result<Config, StartupError> {
        let default = Config::default();
        let config = Config {
            allowed_origins: config_from_env(
                "ALLOWED_ORIGINS",
                default.allowed_origins,
                "comma-separated origins such as https://chat.example.com,http://localhost:8080",
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
        };
        config.check()
    }

    /// Refuses settings that would make the server useless rather than
    /// letting it start and misbehave.
    fn check(self) -> Result<Config, StartupError> {
        let zero = |name: &'static str, value: String| StartupError::BadSetting {
            name,
            value,
            expected: "a number above zero",
        };
        if self.max_connections == 0 {
            return Err(zero("MAX_CONNECTIONS", "0".into()));
        }
        if self.max_messages_per_second == 0 {
            return Err(zero("MAX_MESSAGES_PER_SECOND", "0".into()));
        }
        if self.queue_capacity == 0 {
            return Err(zero("QUEUE_CAPACITY", "0".into()));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(zero("HEARTBEAT_INTERVAL_MS", "0".into()));
        }
        if self.heartbeat_timeout.is_zero() {
            return Err(zero("HEARTBEAT_TIMEOUT_MS", "0".into()));
        }
        Ok(self)
    }

    /// The settings in a few lines a person can read in the terminal at
    /// start-up, so nobody has to guess which limits are in force.
    pub fn summary(&self) -> [String; 3] {
        [
            format!(
                "limits: {} connections, {} messages per second per client, {} queued messages per client",
                self.max_connections, self.max_messages_per_second, self.queue_capacity
            ),
            format!(
                "heartbeat: ping every {} ms, drop a client silent for {} ms after a ping; shutdown grace {} ms",
                self.heartbeat_interval.as_millis(),
                self.heartbeat_timeout.as_millis(),
                self.shutdown_grace.as_millis()
            ),
            format!("origins: {}", self.allowed_origins),
        ]
    }
}

/// A duration given in milliseconds, such as `HEARTBEAT_INTERVAL_MS=25000`.
fn milliseconds_from_env(name: &'static str, default: Duration) -> Result<Duration, StartupError> {
    let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    config_from_env(name, default_ms, "a whole number of milliseconds").map(Duration::from_millis)
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

#[cfg(test)]
mod tests {
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
            "ping every 25000 ms",
            "silent for 20000 ms",
            "same origin only",
        ] {
            assert!(lines.contains(expected), "{expected:?} in {lines}");
        }
    }

    /// A zero limit is a start-up error, not a server that refuses everyone.
    #[test]
    fn zero_limits_are_refused() {
        let config = Config {
            max_connections: 0,
            ..Config::default()
        };
        let error = config.check().expect_err("zero connections");
        assert!(error.to_string().starts_with("MAX_CONNECTIONS="), "{error}");
    }
}
