//! Fitting the connection limits into the process's open-file limit, at
//! start-up.
//!
//! Every TCP connection is a file descriptor, and the operating system caps
//! how many one process may hold (`ulimit -n`, often 1,024). A server that
//! runs out does not refuse new clients politely: `accept` fails, the client
//! waits in the kernel's queue with no answer, and everyone else's page
//! loads hang too. So before it listens, the server makes sure
//! `MAX_TCP_CONNECTIONS` fits, with room to spare: it raises its own limit as
//! far as the system allows, and if that is not far enough it lowers its
//! limits and says so. The 503 for a client over the limit is then always
//! reached before the file descriptors run out.

use rlimit::Resource;
use support::StartupError;

use crate::config::Config;

/// File descriptors needed besides one per TCP connection: standard input,
/// output and error, the listener, the runtime's own (epoll, wake-ups), a
/// file being sent, and the refusals being written to clients over the
/// limit.
pub const RESERVED_FILES: u64 = 64;

/// What fitting the limits did, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub enum Fit {
    /// The limit was already high enough.
    Fits,
    /// The soft limit was raised (to at most the hard limit) to make room.
    Raised { from: u64, to: u64 },
    /// The limit could not be raised far enough, so the connection limits
    /// were lowered to fit it; the sentence says what changed.
    Lowered(String),
}

/// Raises the open-file limit so that `config` fits, or lowers `config`'s
/// connection limits to fit the limit there is. An error when the limit is
/// too low to serve anyone at all.
pub fn fit_to_open_file_limit(config: &mut Config) -> Result<Fit, StartupError> {
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE)?;
    let needed = files_needed(config);
    if soft >= needed {
        return Ok(Fit::Fits);
    }
    let raised = needed.min(hard);
    if rlimit::setrlimit(Resource::NOFILE, raised, hard).is_ok() && raised >= needed {
        return Ok(Fit::Raised {
            from: soft,
            to: raised,
        });
    }
    let limit = rlimit::getrlimit(Resource::NOFILE)?.0;
    lower_to_fit(config, limit).map(Fit::Lowered)
}

/// How many file descriptors `config` can need at once.
fn files_needed(config: &Config) -> u64 {
    u64::try_from(config.max_tcp_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVED_FILES)
}

/// Lowers `MAX_TCP_CONNECTIONS` (and `MAX_CONNECTIONS` under it) to fit in
/// `limit` open files; returns the sentence for the log.
fn lower_to_fit(config: &mut Config, limit: u64) -> Result<String, StartupError> {
    let tcp = usize::try_from(limit.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    // A tenth of the TCP connections (at least one) stays free of
    // WebSockets, for page loads and for the 503 that tells a WebSocket
    // client the chat is full.
    let websockets = tcp.saturating_sub((tcp / 10).max(1));
    if websockets == 0 {
        return Err(std::io::Error::other(format!(
            "the open-file limit is {limit} (ulimit -n), too low to serve anyone: \
             this server needs at least {} open files; raise it, e.g. `ulimit -n 4096`",
            RESERVED_FILES + 2
        ))
        .into());
    }
    let before = (config.max_tcp_connections, config.max_connections);
    config.max_tcp_connections = config.max_tcp_connections.min(tcp);
    config.max_connections = config.max_connections.min(websockets);
    Ok(format!(
        "the open-file limit is {limit} (ulimit -n) and cannot be raised: serving at most \
         {} TCP connections (MAX_TCP_CONNECTIONS was {}) and {} WebSockets (MAX_CONNECTIONS \
         was {}); raise the limit to serve more",
        config.max_tcp_connections, before.0, config.max_connections, before.1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 1,024 open files the limits shrink to fit, with files to spare,
    /// and WebSockets stay under the TCP limit so their 503 can be sent.
    #[test]
    fn limits_shrink_to_fit_a_low_open_file_limit() {
        // Arrange
        let mut config = Config::default();

        // Act
        let sentence = lower_to_fit(&mut config, 1024).expect("1,024 is enough for some");

        // Assert
        assert_eq!(config.max_tcp_connections, 960);
        assert_eq!(config.max_connections, 864);
        assert!(files_needed(&config) <= 1024);
        assert!(sentence.contains("open-file limit is 1024"), "{sentence}");
        assert!(
            sentence.contains("serving at most 960 TCP connections"),
            "{sentence}"
        );
    }

    /// A limit that leaves nothing for clients is a start-up error that says
    /// what to do.
    #[test]
    fn a_limit_too_low_for_anyone_is_refused() {
        let mut config = Config::default();
        let error = lower_to_fit(&mut config, 60).expect_err("no room at all");
        assert!(error.to_string().contains("ulimit -n 4096"), "{error}");
    }

    /// Limits that already fit are kept as they are.
    #[test]
    fn small_limits_are_kept() {
        let mut config = Config {
            max_tcp_connections: 100,
            max_connections: 50,
            ..Config::default()
        };
        lower_to_fit(&mut config, 1024).expect("fits");
        assert_eq!(
            (config.max_tcp_connections, config.max_connections),
            (100, 50)
        );
    }
}
