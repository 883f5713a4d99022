//! A real `redis-server` for a test: started by the test on a free loopback
//! port with a data folder of its own, stopped, restarted and killed by its
//! PID, and talked to over a plain TCP socket in RESP (Redis's wire format).
//!
//! When several processes share one chat through Redis, the failures worth
//! testing (Redis restarting, a node's connections killed, Redis down when a
//! node starts) need a real server the test controls, not a fake. Each test
//! gets its own, so tests running side by side never see each other's keys,
//! and none of them ever touches a system Redis on 6379.
//!
//! - [`RedisServer::start`] (or [`RedisServer::start_with`] and
//!   [`RedisOptions`], for AOF or a port chosen beforehand) finds
//!   `redis-server` on `PATH`. Without it, it prints one `SKIP:` line and
//!   returns `None`, and the test returns early and passes; with
//!   `REDIS_REQUIRED=1` (as in CI) a missing `redis-server` panics instead.
//!   Anything going wrong *after* it is found is a failure, with the end of
//!   Redis's log in the message.
//! - [`RedisServer::stop`], [`RedisServer::kill`] and [`RedisServer::restart`]
//!   (same port, same folder: with AOF the data comes back);
//!   [`RedisServer::kill_clients_named`] and [`RedisServer::client_names`] for
//!   the connections a node named with `CLIENT SETNAME`;
//!   [`RedisServer::command`] for anything else (`XLEN`, `KEYS chat:*`, ...).
//!
//! Every call here is blocking (a `std::net::TcpStream`, a child process)
//! and bounded by [`DEADLINE`]: it works the same from a plain `#[test]`,
//! from a `#[tokio::test]` (Redis is another process, so it needs nothing
//! from the test's runtime while the call blocks), and from `Drop`. No redis
//! crate: the test checks the app's Redis client, so it should not lean on
//! the same one.

use std::{
    ffi::OsString,
    fs::File,
    io::{BufRead, BufReader, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use crate::DEADLINE;

/// How often a wait looks again (for `PING`, for the process to exit). Each
/// look is cheap and the wait has a deadline, so it is a poll, not a sleep
/// standing in for an event.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long one look for `PING` waits for an answer. Short, because
/// whatever holds the port may not be Redis and never answer; the wait
/// around it looks again until [`DEADLINE`].
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// How many ports a start tries before giving up: a free port picked by
/// binding `127.0.0.1:0` can be taken by another test before Redis binds it.
const START_ATTEMPTS: usize = 3;

/// How many lines of Redis's log a start failure quotes.
const LOG_TAIL_LINES: usize = 20;

/// What to install when `redis-server` is missing.
const INSTALL_HINT: &str = "install it with: sudo apt-get install redis-server";

/// How a [`RedisServer`] runs. `RedisOptions::default()` is what
/// [`RedisServer::start`] uses: no persistence, any free port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisOptions {
    /// Append-only file on, fsynced on every write (`--appendonly yes
    /// --appendfsync always`), so [`RedisServer::restart`] and even
    /// [`RedisServer::kill`] keep every write Redis acknowledged.
    pub aof: bool,
    /// The port to listen on, e.g. one from [`free_port`] that a node was
    /// told about before Redis started; `None` picks a free one.
    pub port: Option<u16>,
}

impl RedisOptions {
    /// With the append-only file on (see [`RedisOptions::aof`]).
    pub fn with_aof() -> RedisOptions {
        RedisOptions {
            aof: true,
            port: None,
        }
    }
}

/// A value Redis answered with (RESP2, which is what a connection speaks
/// until it says `HELLO 3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespValue {
    /// `+OK`, `+PONG`.
    Simple(String),
    /// An error inside an array (as `EXEC` can answer). An error as the whole
    /// answer is [`RedisServer::command`]'s `Err` instead.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`: bytes, usually text.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: no such key, no value.
    Nil,
    /// `*2\r\n...`: `KEYS`, `XRANGE` and friends.
    Array(Vec<RespValue>),
}

impl RespValue {
    /// The text of a simple string or of a bulk string that is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            RespValue::Simple(text) => Some(text),
            RespValue::Bulk(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The number of an integer reply (`XLEN`, `DEL`, `CLIENT KILL ID`).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            RespValue::Integer(number) => Some(*number),
            _ => None,
        }
    }

    /// The items of an array reply.
    pub fn as_array(&self) -> Option<&[RespValue]> {
        match self {
            RespValue::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// One connection Redis lists in `CLIENT LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisClient {
    /// What `CLIENT KILL ID <id>` takes.
    pub id: u64,
    /// What the connection set with `CLIENT SETNAME`; empty if it did not.
    pub name: String,
}

/// A `redis-server` process this test started, on `127.0.0.1:<port>`, with
/// a data folder of its own under the system temp folder.
///
/// Dropping it kills the process (by its PID) and removes the folder, so a
/// test that panics halfway leaves nothing behind.
#[derive(Debug)]
pub struct RedisServer {
    program: PathBuf,
    aof: bool,
    port: u16,
    /// Redis's `--dir`: its AOF files, and its log (`redis.log`).
    dir: PathBuf,
    /// The running process; `None` while stopped.
    process: Option<Child>,
}

impl RedisServer {
    /// Starts a Redis without persistence on a free port, or returns `None`
    /// after printing one `SKIP:` line if `redis-server` is not installed
    /// (panics instead with `REDIS_REQUIRED=1`). The test then returns:
    ///
    /// ```no_run
    /// let Some(redis) = testkit::redis::RedisServer::start() else { return };
    /// ```
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(RedisOptions::default())
    }

    /// [`RedisServer::start`] with `options`, e.g.
    /// `RedisServer::start_with(RedisOptions::with_aof())`.
    pub fn start_with(options: RedisOptions) -> Option<RedisServer> {
        let mut redis = RedisServer::stopped(options)?;
        // A port we picked may be taken before Redis binds it: pick another.
        // A port the caller chose stays, whatever happens.
        redis.launch(options.port.is_none());
        Some(redis)
    }

    /// A Redis that is set up but not running yet: `redis-server` found, its
    /// port and folder chosen, so [`RedisServer::url`] can go to a node that
    /// must start while Redis is down; [`RedisServer::restart`] starts it.
    /// `None` (after the `SKIP:` line) as for [`RedisServer::start`].
    pub fn stopped(options: RedisOptions) -> Option<RedisServer> {
        let required = std::env::var("REDIS_REQUIRED").is_ok_and(|value| value == "1");
        // Straight to stderr, not `eprintln!`, which the test harness
        // captures and hides for a test that passes.
        let mut stderr = std::io::stderr();
        RedisServer::stopped_found_on(std::env::var_os("PATH"), required, &mut stderr, options)
    }

    /// [`RedisServer::stopped`] with the `PATH` and `REDIS_REQUIRED` values
    /// given and the `SKIP:` line written to `skip_output`, so a test can
    /// check the missing case without changing the process's environment
    /// under the other tests.
    fn stopped_found_on(
        search_path: Option<OsString>,
        required: bool,
        skip_output: &mut dyn Write,
        options: RedisOptions,
    ) -> Option<RedisServer> {
        let Some(program) = find_redis_server(search_path) else {
            report_missing(&caller_name(), required, skip_output);
            return None;
        };
        Some(RedisServer {
            program,
            aof: options.aof,
            port: options.port.unwrap_or_else(free_port),
            dir: new_data_folder(),
            process: None,
        })
    }

    /// `redis://127.0.0.1:<port>`, for `REDIS_URL` or `SharedSettings`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port Redis listens on (or will, while stopped).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Redis's data folder (`--dir`), with its log in `redis.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process's id while it runs, e.g. to read its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Whether the process is running (it may have exited by itself).
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|process| matches!(process.try_wait(), Ok(None)))
    }

    /// Stops Redis as an operator would (SIGTERM to its PID: it closes every
    /// connection and, with AOF, syncs the file) and waits until the process
    /// is gone, so the port is closed when this returns. If it is not gone
    /// within [`DEADLINE`], SIGKILL. Stopping a stopped Redis does nothing.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        // std can only SIGKILL; SIGTERM without `unsafe` (which the
        // workspace forbids) goes through the `kill` program, by PID. The
        // PID is still this process's: a child not yet waited for keeps it.
        let terminated = Command::new("kill")
            .args(["-TERM", &process.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !terminated || !wait_for_exit(&mut process, DEADLINE) {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Kills Redis with SIGKILL, as a crash would: no shutdown of its own.
    /// With AOF (fsync on every write) nothing it acknowledged is lost.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            // `Child::kill` signals this child's PID, nobody else.
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Stops Redis (if it runs) and starts it again on the same port with
    /// the same folder, so with AOF its data comes back; returns once it
    /// answers `PING`. Also starts a [`RedisServer::stopped`] one.
    pub fn restart(&mut self) {
        self.stop();
        self.launch(false);
    }

    /// Sends one command (`&["XLEN", "chat:messages"]`) on a new connection
    /// and returns the answer; an error answer (`-ERR ...`) is an `Err` with
    /// Redis's sentence in it, as is a connection that fails.
    pub fn command(&self, args: &[&str]) -> Result<RespValue, String> {
        let shown = args.join(" ");
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&address, DEADLINE)
            .map_err(|error| format!("`{shown}`: cannot connect to Redis at {address}: {error}"))?;
        let bounded = stream
            .set_read_timeout(Some(DEADLINE))
            .and_then(|()| stream.set_write_timeout(Some(DEADLINE)));
        bounded.map_err(|error| format!("`{shown}`: cannot set timeouts: {error}"))?;
        stream
            .write_all(&encode_command(args))
            .map_err(|error| format!("`{shown}`: cannot send it to Redis: {error}"))?;
        match read_value(&mut BufReader::new(stream)) {
            Ok(RespValue::Error(sentence)) => Err(format!("`{shown}`: Redis answered {sentence}")),
            Ok(value) => Ok(value),
            Err(error) => Err(format!("`{shown}`: no answer from Redis: {error}")),
        }
    }

    /// Every connection Redis has now (`CLIENT LIST`), with its id and name.
    /// The connection asking is in the list too, without a name.
    pub fn clients(&self) -> Vec<RedisClient> {
        let listed = self
            .command(&["CLIENT", "LIST"])
            .unwrap_or_else(|error| panic!("list Redis's clients: {error}"));
        let text = listed
            .as_text()
            .unwrap_or_else(|| panic!("CLIENT LIST answered with text, not {listed:?}"));
        text.lines().filter_map(parse_client_line).collect()
    }

    /// The names of the connections that have one (`CLIENT SETNAME`), e.g.
    /// `realtime-a-commands`: a name back after a kill means a reconnect.
    pub fn client_names(&self) -> Vec<String> {
        self.clients()
            .into_iter()
            .map(|client| client.name)
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// Kills (`CLIENT KILL ID <id>`) every connection whose name starts with
    /// `prefix`, e.g. `realtime-a-` for all of node `a`'s, and returns how
    /// many Redis killed. By id, because `CLIENT KILL USER` would kill
    /// every node's connections at once.
    pub fn kill_clients_named(&self, prefix: &str) -> usize {
        let mut killed = 0;
        for client in self.clients() {
            if client.name.is_empty() || !client.name.starts_with(prefix) {
                continue;
            }
            let id = client.id.to_string();
            let answer = self
                .command(&["CLIENT", "KILL", "ID", &id])
                .unwrap_or_else(|error| panic!("kill Redis client {}: {error}", client.name));
            // 0 if it went away on its own meanwhile.
            killed += usize::try_from(answer.as_integer().unwrap_or(0)).unwrap_or(0);
        }
        killed
    }

    /// Runs `redis-server` until it answers `PING`, retrying on a taken port
    /// (with a newly picked one when `may_move_port`); panics, quoting the
    /// end of Redis's log, if it cannot.
    fn launch(&mut self, may_move_port: bool) {
        for attempt in 1..=START_ATTEMPTS {
            let mut process = self.spawn();
            match wait_until_ready(&mut process, self.port) {
                Ok(()) => {
                    self.process = Some(process);
                    return;
                }
                Err(failure) => {
                    let _ = process.kill();
                    let _ = process.wait();
                    let log = self.log_tail();
                    let port_taken = log.contains("Address already in use");
                    if !port_taken || attempt == START_ATTEMPTS {
                        panic!(
                            "redis-server on port {} did not start: {failure}; its log ends:\n{log}",
                            self.port
                        );
                    }
                    if may_move_port {
                        self.port = free_port();
                    }
                }
            }
        }
    }

    /// Starts the process, its output and its log in the data folder.
    fn spawn(&self) -> Child {
        let output = File::create(self.dir.join("redis.out"))
            .unwrap_or_else(|error| panic!("create redis.out in {}: {error}", self.dir.display()));
        let errors = output
            .try_clone()
            .unwrap_or_else(|error| panic!("share redis.out for stderr: {error}"));
        Command::new(&self.program)
            .args(self.arguments())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .unwrap_or_else(|error| panic!("run {}: {error}", self.program.display()))
    }

    /// The command line: everything on it, no config file, so the system's
    /// `/etc/redis/redis.conf` plays no part.
    fn arguments(&self) -> Vec<OsString> {
        let mut arguments: Vec<OsString> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        arguments.extend(["--dir".into(), self.dir.clone().into_os_string()]);
        arguments.extend([
            "--logfile".into(),
            self.dir.join("redis.log").into_os_string(),
        ]);
        if self.aof {
            for argument in ["--appendonly", "yes", "--appendfsync", "always"] {
                arguments.push(argument.into());
            }
        }
        arguments
    }

    /// The last lines of Redis's log and of what it printed before the log
    /// was open (a bad argument is reported there).
    fn log_tail(&self) -> String {
        let mut tail = String::new();
        for name in ["redis.out", "redis.log"] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            for line in &lines[start..] {
                tail.push_str(&format!("  {name}: {line}\n"));
            }
        }
        if tail.is_empty() {
            tail.push_str("  (nothing)\n");
        }
        tail
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            let _ = writeln!(
                std::io::stderr(),
                "testkit: could not remove {}: {error}",
                self.dir.display()
            );
        }
    }
}

/// A port nothing listens on right now: bind `127.0.0.1:0`, read the port
/// the OS chose, let it go. For a Redis started later on a known port.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("bind 127.0.0.1:0 to find a free port: {error}"))
}

/// The first executable `redis-server` in the folders of `search_path` (a
/// `PATH` value), as a shell would find it. The path is kept as found, not
/// resolved: Debian's `redis-server` is a link to `redis-check-rdb`, and the
/// program picks what it is from the name it was run by.
fn find_redis_server(search_path: Option<OsString>) -> Option<PathBuf> {
    let search_path = search_path?;
    std::env::split_paths(&search_path)
        .map(|folder| folder.join("redis-server"))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|found| found.is_file() && found.permissions().mode() & 0o111 != 0)
        })
}

/// The one `SKIP:` line for a missing `redis-server`, or a panic if the
/// run requires Redis.
fn report_missing(caller: &str, required: bool, skip_output: &mut dyn Write) {
    if required {
        panic!(
            "{caller}: REDIS_REQUIRED=1 but redis-server is not installed (not on PATH); \
             {INSTALL_HINT}"
        );
    }
    let _ = writeln!(skip_output, "{}", skip_line(caller));
}

fn skip_line(caller: &str) -> String {
    format!(
        "SKIP: {caller}: redis-server is not installed (not on PATH); {INSTALL_HINT} \
         (or set REDIS_REQUIRED=1 to make this a failure)"
    )
}

/// The running test's name: libtest runs each test on a thread named after
/// it.
fn caller_name() -> String {
    thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("a test needing Redis")
        .to_owned()
}

/// A new, empty folder under the system temp folder, unique to this process,
/// this call and this moment, so no two tests (or two runs) share one.
fn new_data_folder() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let folder = std::env::temp_dir().join(format!(
        "testkit-redis-{}-{number}-{nanos}",
        std::process::id()
    ));
    // `create_dir`, not `create_dir_all`: a folder already there is not ours.
    std::fs::create_dir(&folder)
        .unwrap_or_else(|error| panic!("create {}: {error}", folder.display()));
    folder
}

/// Waits until the Redis in `process` answers `PING` on `port`, or says why
/// not: it exited, or the deadline passed.
fn wait_until_ready(process: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(Some(status)) = process.try_wait() {
            return Err(format!("it exited ({status})"));
        }
        let problem = match probe(port, process.id()) {
            Ok(()) => return Ok(()),
            Err(problem) => problem,
        };
        if Instant::now() >= deadline {
            return Err(format!("no PONG within {DEADLINE:?} (last: {problem})"));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// One look: does the Redis on `port` answer `PING`, and is it ours (the
/// process `pid`, not something else that had the port)? `-LOADING` while
/// it reads its AOF back counts as not yet.
fn probe(port: u16, pid: u32) -> Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream =
        TcpStream::connect_timeout(&address, PROBE_TIMEOUT).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(|error| error.to_string())?;
    let mut writer = stream.try_clone().map_err(|error| error.to_string())?;
    let mut reader = BufReader::new(stream);
    writer
        .write_all(&encode_command(&["PING"]))
        .map_err(|error| error.to_string())?;
    match read_value(&mut reader).map_err(|error| error.to_string())? {
        RespValue::Simple(pong) if pong == "PONG" => {}
        other => return Err(format!("PING answered {other:?}")),
    }
    writer
        .write_all(&encode_command(&["INFO", "server"]))
        .map_err(|error| error.to_string())?;
    let info = read_value(&mut reader).map_err(|error| error.to_string())?;
    let ours = info
        .as_text()
        .is_some_and(|text| text.lines().any(|line| line == format!("process_id:{pid}")));
    if ours {
        Ok(())
    } else {
        Err(format!("the Redis on port {port} is not process {pid}"))
    }
}

/// Waits up to `limit` for `process` to exit; true if it did.
fn wait_for_exit(process: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match process.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
            _ => return false,
        }
    }
}

/// `CLIENT LIST`'s line for one connection (`id=7 addr=... name=x ...`),
/// as its id and name; `None` for a line without an id.
fn parse_client_line(line: &str) -> Option<RedisClient> {
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
    };
    Some(RedisClient {
        id: field("id")?.parse().ok()?,
        name: field("name").unwrap_or_default().to_owned(),
    })
}

/// A command as Redis reads one: an array of bulk strings.
fn encode_command(args: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        bytes.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        bytes.extend_from_slice(arg.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// Reads one RESP2 value. A malformed one is an `InvalidData` error, never
/// a panic.
fn read_value(reader: &mut impl BufRead) -> std::io::Result<RespValue> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    match kind {
        "+" => Ok(RespValue::Simple(rest.to_owned())),
        "-" => Ok(RespValue::Error(rest.to_owned())),
        ":" => Ok(RespValue::Integer(parse_number(rest)?)),
        "$" => match usize::try_from(parse_number(rest)?) {
            Ok(length) => read_bulk(reader, length),
            Err(_) => Ok(RespValue::Nil),
        },
        "*" => match usize::try_from(parse_number(rest)?) {
            Ok(count) => (0..count)
                .map(|_| read_value(reader))
                .collect::<Result<_, _>>()
                .map(RespValue::Array),
            Err(_) => Ok(RespValue::Nil),
        },
        _ => Err(malformed(format!("a reply starting {line:?}"))),
    }
}

/// A bulk string's `length` bytes and the `\r\n` after them.
fn read_bulk(reader: &mut impl BufRead, length: usize) -> std::io::Result<RespValue> {
    let mut bytes = vec![0; length + 2];
    reader.read_exact(&mut bytes)?;
    if !bytes.ends_with(b"\r\n") {
        return Err(malformed("a bulk string not ending in \\r\\n".to_owned()));
    }
    bytes.truncate(length);
    Ok(RespValue::Bulk(bytes))
}

/// One line up to `\r\n`, without it. End of stream first is an error.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection ended in the middle of a reply",
        ));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| malformed("a reply line that is not UTF-8".to_owned()))
}

fn parse_number(text: &str) -> std::io::Result<i64> {
    text.parse()
        .map_err(|_| malformed(format!("{text:?} where a number belongs")))
}

fn malformed(what: String) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("Redis sent {what}"),
    )
}

#[cfg(test)]
mod tests {
    //! The parts a test cannot reach through a running Redis: finding the
    //! program on a `PATH` of the test's choosing, and the RESP reader on
    //! bytes written by hand.

    use super::*;

    #[test]
    fn a_path_without_redis_server_finds_nothing_and_start_skips_in_one_line() {
        let empty = new_data_folder();
        let search_path = std::env::join_paths([&empty, Path::new("/nonexistent/testkit")])
            .expect("two folders make a PATH");
        assert_eq!(find_redis_server(Some(search_path.clone())), None);
        for search_path in [Some(search_path), None] {
            let mut skipped = Vec::new();
            let found = RedisServer::stopped_found_on(
                search_path.clone(),
                false,
                &mut skipped,
                RedisOptions::default(),
            );
            assert!(found.is_none(), "no redis-server on {search_path:?}");
            let skipped = String::from_utf8(skipped).expect("the SKIP line is text");
            assert_eq!(skipped.lines().count(), 1, "one line: {skipped}");
            assert!(
                skipped.starts_with("SKIP: redis::tests::a_path_without_redis_server"),
                "names the test: {skipped}"
            );
        }
        std::fs::remove_dir_all(&empty).expect("remove the empty folder");
    }

    #[test]
    #[should_panic(expected = "REDIS_REQUIRED=1 but redis-server is not installed")]
    fn a_missing_redis_server_fails_when_required() {
        let nowhere = OsString::from("/nonexistent/testkit");
        let mut skipped = Vec::new();
        RedisServer::stopped_found_on(Some(nowhere), true, &mut skipped, RedisOptions::default());
    }

    #[test]
    fn the_skip_line_names_the_test_and_the_package() {
        let line = skip_line("some_test");
        assert!(line.starts_with("SKIP: some_test: redis-server is not installed"));
        assert!(line.contains("apt-get install redis-server"));
        assert!(!line.contains('\n'), "one line: {line}");
    }

    #[test]
    fn an_executable_redis_server_on_path_is_found_but_not_a_plain_file() {
        let folder = new_data_folder();
        let program = folder.join("redis-server");
        std::fs::write(&program, "#!/bin/sh\n").expect("write a stand-in program");
        let search_path = Some(folder.clone().into_os_string());
        assert_eq!(
            find_redis_server(search_path.clone()),
            None,
            "not executable"
        );
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        assert_eq!(find_redis_server(search_path), Some(program));
        std::fs::remove_dir_all(&folder).expect("remove the stand-in's folder");
    }

    #[test]
    fn resp_values_are_read_as_redis_writes_them() {
        let bytes: &[u8] =
            b"+PONG\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*-1\r\n";
        let mut reader = bytes;
        let mut next = || read_value(&mut reader).expect("a well-formed value");
        assert_eq!(next(), RespValue::Simple("PONG".into()));
        assert_eq!(next(), RespValue::Error("ERR no".into()));
        assert_eq!(next(), RespValue::Integer(42));
        assert_eq!(next(), RespValue::Bulk(b"abc".to_vec()));
        assert_eq!(next(), RespValue::Nil);
        assert_eq!(
            next(),
            RespValue::Array(vec![RespValue::Bulk(b"a".to_vec()), RespValue::Integer(1)])
        );
        assert_eq!(next(), RespValue::Nil);
    }

    #[test]
    fn malformed_or_cut_replies_are_errors_not_panics() {
        for bytes in [
            &b"?x\r\n"[..],
            b":nope\r\n",
            b"$5\r\nab\r\n",
            b"+PONG",
            b"",
            b"\r\n",
        ] {
            let mut reader = bytes;
            assert!(read_value(&mut reader).is_err(), "{bytes:?} is not a reply");
        }
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode_command(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn client_list_lines_give_ids_and_names() {
        let line =
            "id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=realtime-a-reader age=0";
        assert_eq!(
            parse_client_line(line),
            Some(RedisClient {
                id: 7,
                name: "realtime-a-reader".into()
            })
        );
        let unnamed = parse_client_line("id=8 addr=127.0.0.1:5001 name= age=0");
        assert_eq!(unnamed.map(|client| client.name), Some(String::new()));
        assert_eq!(parse_client_line("garbage"), None);
    }
}
