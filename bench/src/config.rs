//! The load generator's command line, parsed into a [`LoadConfig`].
//!
//! Hand-written rather than a CLI crate: a dozen flags do not justify the
//! dependencies, and every mistake still gets a sentence saying what to fix.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::Protocol;

pub const USAGE: &str = "\
loadgen: open many WebSocket chat clients against a server on 127.0.0.1 and measure it.

USAGE:
  loadgen --url ws://127.0.0.1:PORT[/path] [options]

TRAFFIC:
  --protocol realtime|socketio  which chat protocol to speak          [realtime]
  --clients N                   connections to open                   [100]
  --senders K                   how many of them publish              [10]
  --rate R                      total messages per second, all senders [200]
  --flat-out                    publish as fast as the server echoes, instead of --rate
  --in-flight F                 with --flat-out: unanswered messages per sender [4]
  --idle                        open the connections, send nothing (memory per connection)
TIME (seconds, fractions allowed):
  --warmup S                    traffic before measuring starts       [2]
  --duration D                  measured traffic (or idle hold)       [10]
  --drain S                     longest wait for late deliveries      [5]
MEASURING:
  --server-pid PID              also report the server's CPU seconds and memory
  --json PATH                   write the result as JSON
  --scenario ID                 label stored in the JSON (e.g. 2-fanout-1000)
  --scenario-title TEXT         human title stored in the JSON
  --server-name NAME            which server this is, stored in the JSON
  --fail-on-loss                exit 1 if a delivery was lost or a client was cut off
TUNING:
  --connect-concurrency C       handshakes in progress at once        [200]
  --threads T                   runtime worker threads of the generator [1]

With --protocol socketio the default path is /socket.io/?EIO=4&transport=websocket,
with realtime it is /ws. Every run stops by itself.";

/// Publish at a steady total rate, or as fast as the server answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Traffic {
    /// Total messages per second over all senders.
    Rate(f64),
    /// Each sender keeps this many messages unanswered (not yet echoed back to
    /// itself) at a time: closed-loop, so the server sets the pace.
    FlatOut { in_flight: u32 },
    /// Connections only: measures memory per connection.
    Idle,
}

/// Everything one run needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    pub server: SocketAddr,
    /// Path and query of the WebSocket endpoint.
    pub path: String,
    pub protocol: Protocol,
    pub clients: u32,
    pub senders: u32,
    pub traffic: Traffic,
    pub warmup: Duration,
    pub duration: Duration,
    pub drain: Duration,
    pub server_pid: Option<u32>,
    pub json: Option<PathBuf>,
    pub scenario: String,
    pub scenario_title: String,
    pub server_name: String,
    pub connect_concurrency: u32,
    pub threads: usize,
    /// Exit with a failure when anything was lost (a smoke test in CI wants a
    /// verdict, not only a report).
    pub fail_on_loss: bool,
}

/// A command-line mistake, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` was asked for; not really an error.
    Help,
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Help => f.write_str(USAGE),
            ConfigError::Invalid(why) => {
                write!(f, "{why}\n\nRun `loadgen --help` for the options.")
            }
        }
    }
}

fn invalid(why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(why.into())
}

impl LoadConfig {
    /// Parses the arguments after the program name.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<LoadConfig, ConfigError> {
        let mut url = None;
        let mut protocol = Protocol::Realtime;
        let mut clients = 100u32;
        let mut senders = None;
        let mut rate = 200.0f64;
        let mut flat_out = false;
        let mut idle = false;
        let mut in_flight = 4u32;
        let mut warmup = 2.0f64;
        let mut duration = 10.0f64;
        let mut drain = 5.0f64;
        let mut server_pid = None;
        let mut json = None;
        let mut scenario = String::from("adhoc");
        let mut scenario_title = None;
        let mut server_name = String::from("server");
        let mut connect_concurrency = 200u32;
        let mut threads = 1usize;
        let mut fail_on_loss = false;

        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            // Flags without a value first; every other flag takes the next argument.
            match flag.as_str() {
                "-h" | "--help" => return Err(ConfigError::Help),
                "--flat-out" => {
                    flat_out = true;
                    continue;
                }
                "--idle" => {
                    idle = true;
                    continue;
                }
                "--fail-on-loss" => {
                    fail_on_loss = true;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .ok_or_else(|| invalid(format!("{flag} needs a value")))?;
            match flag.as_str() {
                "--url" => url = Some(value),
                "--protocol" => {
                    protocol = Protocol::parse(&value).ok_or_else(|| {
                        invalid(format!(
                            "--protocol must be realtime or socketio, not {value:?}"
                        ))
                    })?
                }
                "--clients" => clients = number(&flag, &value)?,
                "--senders" => senders = Some(number(&flag, &value)?),
                "--rate" => rate = number(&flag, &value)?,
                "--in-flight" => in_flight = number(&flag, &value)?,
                "--warmup" => warmup = number(&flag, &value)?,
                "--duration" => duration = number(&flag, &value)?,
                "--drain" => drain = number(&flag, &value)?,
                "--server-pid" => server_pid = Some(number(&flag, &value)?),
                "--json" => json = Some(PathBuf::from(value)),
                "--scenario" => scenario = value,
                "--scenario-title" => scenario_title = Some(value),
                "--server-name" => server_name = value,
                "--connect-concurrency" => connect_concurrency = number(&flag, &value)?,
                "--threads" => threads = number(&flag, &value)?,
                _ => return Err(invalid(format!("unknown option {flag}"))),
            }
        }

        let url =
            url.ok_or_else(|| invalid("--url is required, e.g. --url ws://127.0.0.1:3000/ws"))?;
        let (server, path) = parse_loopback_ws_url(&url, protocol)?;
        if clients == 0 {
            return Err(invalid("--clients must be at least 1"));
        }
        if flat_out && idle {
            return Err(invalid("choose one of --flat-out and --idle"));
        }
        let senders = if idle {
            0
        } else {
            senders.unwrap_or(10.min(clients))
        };
        if senders > clients {
            return Err(invalid(format!(
                "--senders ({senders}) cannot exceed --clients ({clients})"
            )));
        }
        if !idle && senders == 0 {
            return Err(invalid("--senders must be at least 1 (or use --idle)"));
        }
        let traffic = if idle {
            Traffic::Idle
        } else if flat_out {
            if in_flight == 0 {
                return Err(invalid("--in-flight must be at least 1"));
            }
            Traffic::FlatOut { in_flight }
        } else {
            if rate.is_nan() || rate <= 0.0 || rate.is_infinite() {
                return Err(invalid(
                    "--rate must be a positive number of messages per second",
                ));
            }
            Traffic::Rate(rate)
        };
        if connect_concurrency == 0 || threads == 0 {
            return Err(invalid(
                "--connect-concurrency and --threads must be at least 1",
            ));
        }
        let scenario_title = scenario_title.unwrap_or_else(|| scenario.clone());
        Ok(LoadConfig {
            server,
            path,
            protocol,
            clients,
            senders,
            traffic,
            warmup: seconds("--warmup", warmup)?,
            duration: seconds("--duration", duration)?,
            drain: seconds("--drain", drain)?,
            server_pid,
            json,
            scenario,
            scenario_title,
            server_name,
            connect_concurrency,
            threads,
            fail_on_loss,
        })
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| invalid(format!("{flag} expects a number, got {value:?}")))
}

/// Seconds to a Duration, refusing negative, NaN and absurd values; an hour is
/// the cap because every run must stop by itself.
fn seconds(flag: &str, value: f64) -> Result<Duration, ConfigError> {
    if !(0.0..=3600.0).contains(&value) {
        return Err(invalid(format!(
            "{flag} must be between 0 and 3600 seconds, got {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Splits `ws://host:port/path` and insists on a loopback address: this tool
/// generates real load and must never point at a machine that is not ours.
fn parse_loopback_ws_url(
    url: &str,
    protocol: Protocol,
) -> Result<(SocketAddr, String), ConfigError> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| {
        invalid(format!(
            "--url must start with ws:// (got {url:?}); wss is not supported"
        ))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let path = if path.is_empty() || path == "/" {
        protocol.default_path().to_owned()
    } else {
        path.to_owned()
    };
    let (host, port) = authority.rsplit_once(':').ok_or_else(|| {
        invalid(format!(
            "--url needs an explicit port, e.g. ws://127.0.0.1:3000 (got {url:?})"
        ))
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(format!("--url has an invalid port {port:?}")))?;
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        literal => literal.parse::<IpAddr>().map_err(|_| {
            invalid(format!(
                "--url host must be an IP address or localhost, got {host:?}"
            ))
        })?,
    };
    if !ip.is_loopback() {
        return Err(invalid(format!(
            "--url must point at this machine (127.0.0.1, ::1 or localhost), not {ip}: load tests stay on loopback"
        )));
    }
    Ok((SocketAddr::new(ip, port), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<LoadConfig, ConfigError> {
        LoadConfig::from_args(args.split_whitespace().map(String::from))
    }

    /// Defaults fill everything but the URL; the realtime path defaults to /ws.
    #[test]
    fn defaults() {
        let config = parse("--url ws://127.0.0.1:3000").unwrap();
        assert_eq!(config.server, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.path, "/ws");
        assert_eq!((config.clients, config.senders), (100, 10));
        assert_eq!(config.traffic, Traffic::Rate(200.0));
        assert_eq!(config.duration, Duration::from_secs(10));
    }

    /// socket.io gets the Engine.IO endpoint unless a path is given.
    #[test]
    fn socket_io_default_path() {
        let config = parse("--url ws://localhost:4000/ --protocol socketio").unwrap();
        assert_eq!(config.path, "/socket.io/?EIO=4&transport=websocket");
        let config = parse("--url ws://localhost:4000/custom?x=1 --protocol socketio").unwrap();
        assert_eq!(config.path, "/custom?x=1");
    }

    /// Flat out and idle select their traffic shapes; idle has no senders.
    #[test]
    fn traffic_shapes() {
        let flat =
            parse("--url ws://127.0.0.1:1/ws --clients 1000 --flat-out --in-flight 8").unwrap();
        assert_eq!(flat.traffic, Traffic::FlatOut { in_flight: 8 });
        let idle =
            parse("--url ws://127.0.0.1:1/ws --clients 10000 --idle --duration 0.5").unwrap();
        assert_eq!((idle.traffic, idle.senders), (Traffic::Idle, 0));
        assert_eq!(idle.duration, Duration::from_millis(500));
    }

    /// Anything but loopback is refused, whatever the spelling.
    #[test]
    fn refuses_non_loopback_targets() {
        for url in [
            "ws://10.0.0.1:80/ws",
            "ws://example.com:80/ws",
            "ws://[2001:db8::1]:80/ws",
        ] {
            assert!(
                matches!(parse(&format!("--url {url}")), Err(ConfigError::Invalid(_))),
                "{url}"
            );
        }
        assert!(parse("--url ws://[::1]:80/ws").is_ok());
        assert!(parse("--url wss://127.0.0.1:80/ws").is_err());
        assert!(
            parse("--url ws://127.0.0.1/ws").is_err(),
            "port is required"
        );
    }

    /// Mistakes name the flag at fault.
    #[test]
    fn explains_mistakes() {
        let message = |args: &str| parse(args).unwrap_err().to_string();
        assert!(
            message("--url ws://127.0.0.1:1 --clients lots").contains("--clients expects a number")
        );
        assert!(
            message("--url ws://127.0.0.1:1 --clients 5 --senders 6").contains("cannot exceed")
        );
        assert!(message("--url ws://127.0.0.1:1 --bogus 1").contains("unknown option --bogus"));
        assert!(message("--clients 5").contains("--url is required"));
        assert!(message("--url ws://127.0.0.1:1 --duration -1").contains("--duration"));
        assert_eq!(parse("--help"), Err(ConfigError::Help));
    }
}
