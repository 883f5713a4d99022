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
  --protocol realtime|socketio|rooms  which chat protocol to speak    [realtime]
                                (rooms: step 09's; every client joins a room first)
  --clients N                   connections to open                   [100]
  --senders K                   how many of them publish              [10]
  --rate R                      total messages per second, all senders [200]
  --flat-out                    publish as fast as the server answers (echoes, or acks
                                with rooms), instead of --rate
  --in-flight F                 with --flat-out: unanswered messages per sender [4]
  --idle                        open the connections, send nothing (memory per connection)
  --client-offsets              every message carries a client offset and asks for an ack, as
                                step 10's page and the socket.io tutorial's step 8 send it
                                (rooms or socketio); acks are then what a flat-out sender waits for
ROOMS (with --protocol rooms):
  --rooms N                     spread the clients, and the senders, over N rooms [1]
  --typing-per-second X         every client also sends typing true/false X times a second [0]
TWO NODES (step 11 and the Node Redis adapter: several processes, one chat):
  --url-far ws://127.0.0.1:PORT[/path]  a second node: half the clients (the last half)
                                connect there, the senders all stay on --url, so every
                                delivery to a far client crosses Redis; near and far
                                latencies and counts are reported apart
  --far-server-pid PID          the far node's process: its CPU and memory are added to
                                --server-pid's in the server figures
REDIS:
  --redis-pid PID               report the Redis server's CPU seconds per million deliveries
  --redis-url redis://127.0.0.1:PORT   the Redis server, for --kill-redis-clients
  --kill-redis-clients PREFIX@F kill every Redis connection whose name starts with PREFIX
                                (CLIENT KILL ID), F of the way into the measured window
                                (0 < F < 1; e.g. realtime-b-@0.33); may be repeated
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
with realtime and rooms it is /ws. Every run stops by itself.";

/// Publish at a steady total rate, or as fast as the server answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Traffic {
    /// Total messages per second over all senders.
    Rate(f64),
    /// Each sender keeps this many messages unanswered at a time (not yet
    /// echoed back to itself, or in the rooms protocol not yet acknowledged):
    /// closed-loop, so the server sets the pace.
    FlatOut { in_flight: u32 },
    /// Connections only: measures memory per connection.
    Idle,
}

/// The second node of a two-node run (`--url-far`): where its clients
/// connect, and its process, whose usage is added to the first node's.
#[derive(Debug, Clone, PartialEq)]
pub struct FarNode {
    pub server: SocketAddr,
    pub path: String,
    pub server_pid: Option<u32>,
}

/// One `--kill-redis-clients PREFIX@F`: which Redis connections to kill
/// (by the name step 11 gives them, `realtime-<node>-...`), and when, as a
/// fraction of the measured window.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisKill {
    pub name_prefix: String,
    pub at_fraction: f64,
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
    /// How many rooms the clients join (`--rooms`); always 1 unless the
    /// protocol is [`Protocol::Rooms`].
    pub rooms: u32,
    /// Typing notices each client sends per second (`--typing-per-second`),
    /// rooms protocol only; 0 for none.
    pub typing_per_second: f64,
    /// Every message carries a client offset and asks for an
    /// acknowledgement (`--client-offsets`; rooms and socket.io only).
    pub client_offsets: bool,
    pub warmup: Duration,
    pub duration: Duration,
    pub drain: Duration,
    pub server_pid: Option<u32>,
    /// A second node (`--url-far`): half the clients connect there.
    pub far: Option<FarNode>,
    /// The Redis server's process (`--redis-pid`), for its CPU.
    pub redis_pid: Option<u32>,
    /// The Redis server's address (`--redis-url`), for the kills.
    pub redis: Option<SocketAddr>,
    /// Redis connections to kill during the measured window.
    pub redis_kills: Vec<RedisKill>,
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

/// Messages per second in total that `--rate` accepts: a sender's period is
/// worked out from it, and it must stay a sensible length of time (not
/// infinite for a rate near zero).
pub const RATE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=10_000_000.0;

/// Typing notices per second per client that `--typing-per-second` accepts
/// (or 0 for none): step 09 thins out anything above a few a second anyway.
pub const TYPING_RANGE: std::ops::RangeInclusive<f64> = 0.001..=100.0;

/// The flags as given, before they are checked against each other.
struct Flags {
    url: Option<String>,
    protocol: Protocol,
    clients: u32,
    senders: Option<u32>,
    rate: f64,
    flat_out: bool,
    idle: bool,
    in_flight: u32,
    rooms: Option<u32>,
    typing_per_second: Option<f64>,
    client_offsets: bool,
    warmup: f64,
    duration: f64,
    drain: f64,
    server_pid: Option<u32>,
    url_far: Option<String>,
    far_server_pid: Option<u32>,
    redis_pid: Option<u32>,
    redis_url: Option<String>,
    redis_kills: Vec<String>,
    json: Option<PathBuf>,
    scenario: String,
    scenario_title: Option<String>,
    server_name: String,
    connect_concurrency: u32,
    threads: usize,
    fail_on_loss: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            url: None,
            protocol: Protocol::Realtime,
            clients: 100,
            senders: None,
            rate: 200.0,
            flat_out: false,
            idle: false,
            in_flight: 4,
            rooms: None,
            typing_per_second: None,
            client_offsets: false,
            warmup: 2.0,
            duration: 10.0,
            drain: 5.0,
            server_pid: None,
            url_far: None,
            far_server_pid: None,
            redis_pid: None,
            redis_url: None,
            redis_kills: Vec::new(),
            json: None,
            scenario: String::from("adhoc"),
            scenario_title: None,
            server_name: String::from("server"),
            connect_concurrency: 200,
            threads: 1,
            fail_on_loss: false,
        }
    }
}

impl Flags {
    fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Flags, ConfigError> {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            // Flags without a value first; every other flag takes the next argument.
            match flag.as_str() {
                "-h" | "--help" => return Err(ConfigError::Help),
                "--flat-out" => flags.flat_out = true,
                "--idle" => flags.idle = true,
                "--fail-on-loss" => flags.fail_on_loss = true,
                "--client-offsets" => flags.client_offsets = true,
                _ => {
                    let value = args
                        .next()
                        .ok_or_else(|| invalid(format!("{flag} needs a value")))?;
                    flags.set(&flag, value)?;
                }
            }
        }
        Ok(flags)
    }

    /// Sets the flag that takes a value.
    fn set(&mut self, flag: &str, value: String) -> Result<(), ConfigError> {
        match flag {
            "--url" => self.url = Some(value),
            "--protocol" => {
                self.protocol = Protocol::parse(&value).ok_or_else(|| {
                    invalid(format!(
                        "--protocol must be realtime, socketio or rooms, not {value:?}"
                    ))
                })?
            }
            "--clients" => self.clients = number(flag, &value)?,
            "--senders" => self.senders = Some(number(flag, &value)?),
            "--rate" => self.rate = number(flag, &value)?,
            "--in-flight" => self.in_flight = number(flag, &value)?,
            "--rooms" => self.rooms = Some(number(flag, &value)?),
            "--typing-per-second" => self.typing_per_second = Some(number(flag, &value)?),
            "--warmup" => self.warmup = number(flag, &value)?,
            "--duration" => self.duration = number(flag, &value)?,
            "--drain" => self.drain = number(flag, &value)?,
            "--server-pid" => self.server_pid = Some(number(flag, &value)?),
            "--url-far" => self.url_far = Some(value),
            "--far-server-pid" => self.far_server_pid = Some(number(flag, &value)?),
            "--redis-pid" => self.redis_pid = Some(number(flag, &value)?),
            "--redis-url" => self.redis_url = Some(value),
            "--kill-redis-clients" => self.redis_kills.push(value),
            "--json" => self.json = Some(PathBuf::from(value)),
            "--scenario" => self.scenario = value,
            "--scenario-title" => self.scenario_title = Some(value),
            "--server-name" => self.server_name = value,
            "--connect-concurrency" => self.connect_concurrency = number(flag, &value)?,
            "--threads" => self.threads = number(flag, &value)?,
            _ => return Err(invalid(format!("unknown option {flag}"))),
        }
        Ok(())
    }

    /// The traffic shape: `--idle`, `--flat-out` or `--rate`.
    fn traffic(&self) -> Result<Traffic, ConfigError> {
        if self.flat_out && self.idle {
            return Err(invalid("choose one of --flat-out and --idle"));
        }
        if self.idle {
            Ok(Traffic::Idle)
        } else if self.flat_out {
            if self.in_flight == 0 {
                return Err(invalid("--in-flight must be at least 1"));
            }
            Ok(Traffic::FlatOut {
                in_flight: self.in_flight,
            })
        } else if !RATE_RANGE.contains(&self.rate) {
            Err(invalid(format!(
                "--rate must be from {} to {} messages per second, got {}",
                RATE_RANGE.start(),
                RATE_RANGE.end(),
                self.rate
            )))
        } else {
            Ok(Traffic::Rate(self.rate))
        }
    }

    /// How many clients publish: none when idle, 10 (or all) by default.
    fn senders(&self, traffic: Traffic) -> Result<u32, ConfigError> {
        if traffic == Traffic::Idle {
            return Ok(0);
        }
        let senders = self.senders.unwrap_or(10.min(self.clients));
        if senders > self.clients {
            return Err(invalid(format!(
                "--senders ({senders}) cannot exceed --clients ({})",
                self.clients
            )));
        }
        if senders == 0 {
            return Err(invalid("--senders must be at least 1 (or use --idle)"));
        }
        Ok(senders)
    }

    /// `--rooms` and `--typing-per-second`, which only step 09's protocol has.
    fn rooms_and_typing(&self, traffic: Traffic) -> Result<(u32, f64), ConfigError> {
        if self.protocol != Protocol::Rooms
            && (self.rooms.is_some() || self.typing_per_second.is_some())
        {
            return Err(invalid(
                "--rooms and --typing-per-second need --protocol rooms (step 09's chat rooms)",
            ));
        }
        let rooms = self.rooms.unwrap_or(1);
        if rooms == 0 || rooms > self.clients {
            return Err(invalid(format!(
                "--rooms must be from 1 to --clients ({}), got {rooms}",
                self.clients
            )));
        }
        let typing = self.typing_per_second.unwrap_or(0.0);
        if typing != 0.0 && !TYPING_RANGE.contains(&typing) {
            return Err(invalid(format!(
                "--typing-per-second must be 0 or from {} to {}, got {typing}",
                TYPING_RANGE.start(),
                TYPING_RANGE.end()
            )));
        }
        if typing > 0.0 && traffic == Traffic::Idle {
            return Err(invalid(
                "--typing-per-second needs traffic: --idle clients send nothing",
            ));
        }
        Ok((rooms, typing))
    }

    /// `--url-far` and `--far-server-pid`: the second node, if there is one.
    /// The senders must all fit on the near node (the first half).
    fn far_node(&self, senders: u32) -> Result<Option<FarNode>, ConfigError> {
        let Some(url) = &self.url_far else {
            if self.far_server_pid.is_some() {
                return Err(invalid("--far-server-pid needs --url-far"));
            }
            return Ok(None);
        };
        if self.clients < 2 {
            return Err(invalid(
                "--url-far needs at least 2 --clients, one per node",
            ));
        }
        let (server, path) = parse_loopback_ws_url(url, self.protocol)?;
        let near = crate::two_nodes::Split::halves(self.clients).near;
        if senders > near {
            return Err(invalid(format!(
                "with --url-far the senders stay on the near node, which has {near} of the {} clients; \
                 --senders ({senders}) cannot exceed that",
                self.clients
            )));
        }
        Ok(Some(FarNode {
            server,
            path,
            server_pid: self.far_server_pid,
        }))
    }

    /// `--redis-url` and `--kill-redis-clients`.
    fn redis(&self, traffic: Traffic) -> Result<(Option<SocketAddr>, Vec<RedisKill>), ConfigError> {
        let address = self
            .redis_url
            .as_deref()
            .map(parse_loopback_redis_url)
            .transpose()?;
        let kills = self
            .redis_kills
            .iter()
            .map(|spec| parse_redis_kill(spec))
            .collect::<Result<Vec<_>, _>>()?;
        if !kills.is_empty() && address.is_none() {
            return Err(invalid("--kill-redis-clients needs --redis-url"));
        }
        if !kills.is_empty() && traffic == Traffic::Idle {
            return Err(invalid(
                "--kill-redis-clients needs traffic: killing connections of an idle run shows nothing",
            ));
        }
        Ok((address, kills))
    }
}

/// `PREFIX@F`: a connection-name prefix (letters, digits, `-`, `_`) and a
/// fraction of the window strictly between 0 and 1.
fn parse_redis_kill(spec: &str) -> Result<RedisKill, ConfigError> {
    let wrong = || {
        invalid(format!(
            "--kill-redis-clients takes PREFIX@F, e.g. realtime-b-@0.5 (a name prefix of letters, digits, \
             - and _, then a fraction of the window between 0 and 1), not {spec:?}"
        ))
    };
    let (prefix, fraction) = spec.rsplit_once('@').ok_or_else(wrong)?;
    let at_fraction: f64 = fraction.parse().map_err(|_| wrong())?;
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if prefix.is_empty() || !prefix.chars().all(plain) || !(at_fraction > 0.0 && at_fraction < 1.0)
    {
        return Err(wrong());
    }
    Ok(RedisKill {
        name_prefix: prefix.to_owned(),
        at_fraction,
    })
}

/// `redis://127.0.0.1:PORT` (a trailing `/` or `/0` allowed), loopback only,
/// as for `--url`.
fn parse_loopback_redis_url(url: &str) -> Result<SocketAddr, ConfigError> {
    let rest = url.strip_prefix("redis://").ok_or_else(|| {
        invalid(format!(
            "--redis-url must start with redis:// (got {url:?})"
        ))
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (address, _) = parse_loopback_ws_url(&format!("ws://{authority}"), Protocol::Realtime)
        .map_err(|_| {
            invalid(format!(
                "--redis-url must be redis://127.0.0.1:PORT (loopback, with a port), not {url:?}"
            ))
        })?;
    Ok(address)
}

impl LoadConfig {
    /// Parses the arguments after the program name.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<LoadConfig, ConfigError> {
        let flags = Flags::parse(args)?;
        let url = flags
            .url
            .clone()
            .ok_or_else(|| invalid("--url is required, e.g. --url ws://127.0.0.1:3000/ws"))?;
        let (server, path) = parse_loopback_ws_url(&url, flags.protocol)?;
        if flags.clients == 0 {
            return Err(invalid("--clients must be at least 1"));
        }
        let traffic = flags.traffic()?;
        let senders = flags.senders(traffic)?;
        let (rooms, typing_per_second) = flags.rooms_and_typing(traffic)?;
        let far = flags.far_node(senders)?;
        let (redis, redis_kills) = flags.redis(traffic)?;
        if flags.client_offsets && !flags.protocol.has_client_offsets() {
            return Err(invalid(
                "--client-offsets needs --protocol rooms or socketio: the realtime protocol has no acknowledgements",
            ));
        }
        if flags.connect_concurrency == 0 || flags.threads == 0 {
            return Err(invalid(
                "--connect-concurrency and --threads must be at least 1",
            ));
        }
        Ok(LoadConfig {
            server,
            path,
            protocol: flags.protocol,
            clients: flags.clients,
            senders,
            traffic,
            rooms,
            typing_per_second,
            client_offsets: flags.client_offsets,
            warmup: seconds("--warmup", flags.warmup)?,
            duration: seconds("--duration", flags.duration)?,
            drain: seconds("--drain", flags.drain)?,
            server_pid: flags.server_pid,
            far,
            redis_pid: flags.redis_pid,
            redis,
            redis_kills,
            json: flags.json,
            scenario_title: flags
                .scenario_title
                .unwrap_or_else(|| flags.scenario.clone()),
            scenario: flags.scenario,
            server_name: flags.server_name,
            connect_concurrency: flags.connect_concurrency,
            threads: flags.threads,
            fail_on_loss: flags.fail_on_loss,
        })
    }
}

impl LoadConfig {
    /// How the clients are split over the nodes: half and half with
    /// `--url-far`, all on `--url` without.
    pub fn split(&self) -> crate::two_nodes::Split {
        match self.far {
            Some(_) => crate::two_nodes::Split::halves(self.clients),
            None => crate::two_nodes::Split::single(self.clients),
        }
    }

    /// The server processes to measure: `--server-pid` and
    /// `--far-server-pid`, those given.
    pub fn server_pids(&self) -> Vec<u32> {
        self.server_pid
            .into_iter()
            .chain(self.far.as_ref().and_then(|far| far.server_pid))
            .collect()
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
        assert!(message("--url ws://127.0.0.1:1 --rate 1e-300").contains("--rate must be from"));
        assert_eq!(parse("--help"), Err(ConfigError::Help));
    }

    /// The rooms protocol takes --rooms and --typing-per-second, with /ws by default.
    #[test]
    fn rooms_options() {
        let config = parse(
            "--url ws://127.0.0.1:1 --protocol rooms --clients 1000 --senders 1000 --rooms 100 --typing-per-second 2",
        )
        .unwrap();

        assert_eq!(config.path, "/ws");
        assert_eq!((config.rooms, config.typing_per_second), (100, 2.0));
        assert_eq!(parse("--url ws://127.0.0.1:1").unwrap().rooms, 1);
    }

    /// Client offsets go with the two protocols that have acknowledgements.
    #[test]
    fn client_offsets_need_acknowledgements() {
        let rooms = parse("--url ws://127.0.0.1:1 --protocol rooms --client-offsets").unwrap();
        let socket_io =
            parse("--url ws://127.0.0.1:1 --protocol socketio --client-offsets").unwrap();

        let refused = parse("--url ws://127.0.0.1:1 --client-offsets").unwrap_err();

        assert!(rooms.client_offsets && socket_io.client_offsets);
        assert!(!parse("--url ws://127.0.0.1:1").unwrap().client_offsets);
        assert!(
            refused.to_string().contains("--client-offsets needs"),
            "{refused}"
        );
    }

    /// `--url-far` splits the clients half and half, and the senders must
    /// fit on the near half; the far node's pid joins the server pids.
    #[test]
    fn two_nodes_split_the_clients_and_keep_the_senders_near() {
        let config = parse(
            "--url ws://127.0.0.1:1/ws --url-far ws://127.0.0.1:2 --clients 101 --senders 51 \
             --server-pid 10 --far-server-pid 11",
        )
        .unwrap();
        let message = |args: &str| parse(args).unwrap_err().to_string();

        let far = config.far.clone().expect("a far node");
        assert_eq!(
            (far.server, far.path.as_str()),
            ("127.0.0.1:2".parse().unwrap(), "/ws")
        );
        assert_eq!((config.split().near, config.split().far), (51, 50));
        assert_eq!(config.server_pids(), [10, 11]);
        assert_eq!(parse("--url ws://127.0.0.1:1").unwrap().split().far, 0);
        assert!(
            message("--url ws://127.0.0.1:1 --url-far ws://127.0.0.1:2 --clients 10 --senders 6")
                .contains("cannot exceed that")
        );
        assert!(message("--url ws://127.0.0.1:1 --url-far ws://10.0.0.1:2").contains("loopback"));
        assert!(message("--url ws://127.0.0.1:1 --far-server-pid 3").contains("needs --url-far"));
    }

    /// Redis kills name a prefix and a moment of the window, and need the
    /// Redis server's loopback address.
    #[test]
    fn redis_kills() {
        let config = parse(
            "--url ws://127.0.0.1:1 --redis-url redis://127.0.0.1:6379 --redis-pid 7 \
             --kill-redis-clients realtime-b-@0.33 --kill-redis-clients realtime-a-@0.66",
        )
        .unwrap();
        let message = |args: &str| parse(args).unwrap_err().to_string();

        assert_eq!(config.redis, Some("127.0.0.1:6379".parse().unwrap()));
        assert_eq!(config.redis_pid, Some(7));
        assert_eq!(
            config.redis_kills,
            [
                RedisKill {
                    name_prefix: "realtime-b-".into(),
                    at_fraction: 0.33
                },
                RedisKill {
                    name_prefix: "realtime-a-".into(),
                    at_fraction: 0.66
                }
            ]
        );
        assert!(
            message("--url ws://127.0.0.1:1 --kill-redis-clients x@0.5")
                .contains("needs --redis-url")
        );
        for spec in ["x@1", "x@0", "@0.5", "x!@0.5", "x"] {
            assert!(
                message(&format!(
                    "--url ws://127.0.0.1:1 --redis-url redis://127.0.0.1:1 --kill-redis-clients {spec}"
                ))
                .contains("PREFIX@F"),
                "{spec}"
            );
        }
        assert!(
            message("--url ws://127.0.0.1:1 --redis-url redis://10.1.1.1:6379")
                .contains("loopback")
        );
    }

    /// Rooms options are refused where they cannot mean anything.
    #[test]
    fn refuses_rooms_options_that_cannot_apply() {
        let message = |args: &str| parse(args).unwrap_err().to_string();

        assert!(message("--url ws://127.0.0.1:1 --rooms 2").contains("need --protocol rooms"));
        assert!(
            message("--url ws://127.0.0.1:1 --typing-per-second 1")
                .contains("need --protocol rooms")
        );
        assert!(
            message("--url ws://127.0.0.1:1 --protocol rooms --clients 5 --rooms 6")
                .contains("--rooms must be from 1 to --clients (5)")
        );
        assert!(
            message("--url ws://127.0.0.1:1 --protocol rooms --typing-per-second NaN")
                .contains("--typing-per-second must be")
        );
        assert!(
            message("--url ws://127.0.0.1:1 --protocol rooms --idle --typing-per-second 2")
                .contains("needs traffic")
        );
    }
}
