//! The browser harness behind realtime-rs's end-to-end checks.
//!
//! Every step's tests talk to its server from Rust; these checks open the
//! step's *page* in a real, headless Chromium instead, so a broken page, a
//! wrong URL in `socket.js` or an event-name typo fails the build. A check
//! (one file per step in `e2e/tests/`) starts the step's app in-process on
//! `127.0.0.1:0` with [`serve`], opens a [`Browser`] with [`browser`], and
//! waits for what it expects with [`Browser::wait_for_text`] and friends.
//!
//! # Layout
//! - `lib.rs` (this file): starting chromedriver and Chromium, and the
//!   [`Browser`] a check drives.
//! - [`chat`]: typing into and reading the chat page of steps 07 and 08.
//! - [`chat_room`]: joining, and reading the online list and the chat lines
//!   of step 09's chat room page (step 10's page has the same structure).
//! - [`delivery`]: the chat lines of step 10's and step 11's pages with
//!   their server ids and states ("waiting for the server…").
//! - [`relay`]: a TCP relay between one browser and the server, which a
//!   check cuts to take one person's network away (step 10).
//! - [`scratch`]: a folder of the check's own for a server's files (step
//!   10's database), removed when the check ends.
//! - From the `testkit` crate, the plumbing the steps' own tests share, not
//!   about browsers: [`serve`] for an app that runs until the check ends;
//!   [`KillableServer`], an app a check can stop completely and start again
//!   on the same port (step 07's reconnect check); [`GracefulServer`], an app
//!   that shuts itself down through its own graceful-shutdown code when the
//!   check says so (step 08); and [`log_lines`], the server's own log lines,
//!   for checks that compare what the page shows with what the server saw.
//!
//! Run them with `cargo test -p e2e`. They need Debian's `chromium` and
//! `chromium-driver` packages; without them each check prints one `SKIP:` line
//! and passes, unless `E2E_REQUIRED=1` (as in CI) makes that a failure.
//!
//! # How a browser is started, and why
//! - We spawn `chromedriver --port=0` ourselves and read the port it chose
//!   from its stdout, so two test binaries never race for a port.
//! - chromedriver runs in a process group of its own, and Chromium inherits
//!   it. A guard kills the whole group when the [`Browser`] is dropped, so a
//!   check that panics halfway never leaves a Chromium running.
//! - Every browser gets a scratch folder, removed by the same guard: Chromium's
//!   profile (`--user-data-dir`, fresh each time) lives there, and `TMPDIR`,
//!   `XDG_CONFIG_HOME` and `XDG_CACHE_HOME` point there, because Chromium
//!   leaves `/tmp/org.chromium.Chromium.*`, `~/.config/chromium` and
//!   `~/.cache` behind otherwise.
//!
//! # Environment
//! - `E2E_REQUIRED=1` — a missing browser fails the check instead of skipping.
//! - `E2E_CHROMEDRIVER` — the chromedriver to run (default: `chromedriver` on `PATH`).
//! - `E2E_CHROMIUM` — the Chromium binary (default: `/usr/lib/chromium/chromium`;
//!   Debian's `/usr/bin/chromium` is a wrapper script that prints noise).
//!
//! - `UPDATE_SCREENSHOTS=1` — [`Browser::save_screenshot`] writes into
//!   `notes/img/`, refreshing the pictures the notes show; otherwise it
//!   writes into the browser's scratch folder, removed afterwards.
//!
//! Setting `E2E_CHROMEDRIVER=/nonexistent` is the quickest way to see what a
//! machine without a browser does.

pub mod chat;
pub mod chat_room;
pub mod delivery;
pub mod relay;
pub mod scratch;

pub use testkit::{GracefulServer, KillableServer, LogLines, StopSignal, serve};

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, wd::Capabilities};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdout, Command},
    time::{Instant, timeout},
};

/// How long a check may wait for any one thing it expects (a text, an
/// attribute, a page load). Generous, because CI machines are busy; a broken
/// page still fails in seconds, not never.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long chromedriver and Chromium get to start. A cold start on a busy
/// 2-core machine takes a few seconds.
const STARTUP: Duration = Duration::from_secs(30);

/// How often the `wait_for_*` helpers look at the page again. Short enough
/// that a check finishes soon after the page is ready, long enough not to
/// keep the browser busy answering us.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Chromium's flags for running headless as root, with no network beyond
/// loopback: no sandbox (it refuses to run as root with one), no GPU, no
/// `/dev/shm` (small in containers), and none of the background services
/// that would try to reach Google and stall or log errors.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--window-size=1024,768",
];

/// Starts listening to the server's log (see [`LogLines`]), waiting up to
/// [`WAIT`] for each line, as for anything on the page: a line the server
/// logs after a click or a closed window waits behind the browser, and CI
/// machines are busy.
pub fn log_lines() -> LogLines {
    testkit::log_lines().within(WAIT)
}

/// Starts chromedriver and one headless Chromium session for the calling test.
///
/// Returns `None`, after printing one `SKIP:` line, when chromedriver or
/// Chromium is not installed; the test should then return early and pass.
/// With `E2E_REQUIRED=1` a missing browser panics instead. Anything that
/// goes wrong *after* both are found (chromedriver crashes, Chromium refuses
/// to start) is always a failure: that is a real bug, not a missing package.
pub async fn browser() -> Option<Browser> {
    // libtest runs each test on a thread named after it.
    let test = std::thread::current()
        .name()
        .unwrap_or("browser check")
        .to_owned();
    let binaries = match Binaries::find() {
        Ok(binaries) => binaries,
        Err(missing) => {
            let install = "install with: sudo apt-get install chromium chromium-driver";
            if std::env::var("E2E_REQUIRED").is_ok_and(|value| value == "1") {
                panic!(
                    "{test}: E2E_REQUIRED=1 but chromium/chromedriver not found ({missing}) — {install}"
                );
            }
            // Written to the real stderr, not through `eprintln!`, which the
            // test harness captures and hides for a test that passes.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP: {test}: chromium/chromedriver not found ({missing}) — {install} \
                 (or set E2E_REQUIRED=1 to make this a failure)"
            );
            return None;
        }
    };
    let driver = Arc::new(Driver::start(&binaries).await);
    Some(Browser::open(driver).await)
}

/// One headless Chromium window, driven through WebDriver.
///
/// The `wait_for_*` methods poll the page until it shows what the check
/// expects or their timeout (usually [`WAIT`]) runs out, then panic with what
/// they saw last — so a check never sleeps blindly and never hangs.
/// [`Browser::click`] and [`Browser::type_into`] act as a person would; for
/// anything else, [`Browser::client`] gives the fantoccini client.
pub struct Browser {
    client: Client,
    /// The chromedriver this window belongs to. Shared with any second
    /// session, and killed, with every Chromium it started, when the last
    /// window is dropped.
    driver: Arc<Driver>,
}

impl Browser {
    /// Opens a new session on `driver`, with a fresh profile of its own.
    async fn open(driver: Arc<Driver>) -> Browser {
        let profile = driver.new_profile_folder();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": driver.chromium, "args": args }),
        );
        let client = timeout(STARTUP, connect(&driver.url, capabilities))
            .await
            .expect("Chromium started within the start-up timeout");
        Browser { client, driver }
    }

    /// A second, independent browser (its own profile, cookies and storage),
    /// as a second person opening the page would have. Driven by the same
    /// chromedriver, so it costs a Chromium start but not a chromedriver one.
    pub async fn new_session(&self) -> Browser {
        Browser::open(Arc::clone(&self.driver)).await
    }

    /// The fantoccini client, for what the helpers below do not cover:
    /// `client().find(Locator::Css("#btn")).await?.click()`, typing, windows.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until the page has loaded (its `load` event,
    /// so stylesheets and scripts in `<head>` are in).
    pub async fn goto(&self, url: &str) {
        timeout(WAIT, self.client.goto(url))
            .await
            .unwrap_or_else(|_| panic!("{url} loaded within {WAIT:?}"))
            .unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        timeout(WAIT, self.client.title())
            .await
            .expect("the browser answered within the timeout")
            .expect("read the page title")
    }

    /// Runs `script` in the page (as the body of a function: `return` gives
    /// the value back) and returns its result as JSON.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        timeout(WAIT, self.client.execute(script, args))
            .await
            .expect("the browser answered within the timeout")
            .unwrap_or_else(|error| panic!("run `{script}` in the page: {error}"))
    }

    /// Runs `script` in the page as an asynchronous function and returns what
    /// it hands to its callback, the last of `arguments` (`arguments[0]` and
    /// on are `args`), as JSON. For what only finishes later, such as a
    /// WebSocket's `open` or `close` event. Bounded by [`WAIT`].
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        timeout(WAIT, self.client.execute_async(script, args))
            .await
            .unwrap_or_else(|_| panic!("`{script}` called back within {WAIT:?}"))
            .unwrap_or_else(|error| panic!("run `{script}` in the page: {error}"))
    }

    /// Waits until the first element matching the CSS `selector` shows text
    /// for which `expected` is true, and returns that text. The text is what
    /// a reader sees (`innerText`): markup in it would be gone, which is what
    /// a check for "shown literally" wants.
    pub async fn wait_for_text(
        &self,
        selector: &str,
        expected: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let what = format!("the text of `{selector}`");
        self.poll(
            &what,
            timeout,
            async |client: &Client| {
                let element = client.find(Locator::Css(selector)).await.ok()?;
                element.text().await.ok()
            },
            |text| expected(text),
        )
        .await
    }

    /// Waits until the first element matching `selector` has an `attribute`
    /// for which `expected` is true (e.g. `data-state` is `"connected"`), and
    /// returns its value.
    pub async fn wait_for_attribute(
        &self,
        selector: &str,
        attribute: &str,
        expected: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let what = format!("the `{attribute}` attribute of `{selector}`");
        self.poll(
            &what,
            timeout,
            async |client: &Client| {
                let element = client.find(Locator::Css(selector)).await.ok()?;
                element.attr(attribute).await.ok().flatten()
            },
            |value| expected(value),
        )
        .await
    }

    /// Waits until the number of elements matching `selector` satisfies
    /// `expected` (e.g. `|n| n >= 3`), and returns that number.
    pub async fn wait_for_count(
        &self,
        selector: &str,
        expected: impl Fn(usize) -> bool,
        timeout: Duration,
    ) -> usize {
        let what = format!("the number of `{selector}` elements");
        self.poll(
            &what,
            timeout,
            async |client: &Client| {
                let elements = client.find_all(Locator::Css(selector)).await.ok()?;
                Some(elements.len())
            },
            |count| expected(*count),
        )
        .await
    }

    /// Clicks the first element matching the CSS `selector`, as a person
    /// would (WebDriver scrolls it into view and fires the mouse events).
    pub async fn click(&self, selector: &str) {
        timeout(WAIT, async {
            let element = self.client.find(Locator::Css(selector)).await?;
            element.click().await
        })
        .await
        .unwrap_or_else(|_| panic!("clicked `{selector}` within {WAIT:?}"))
        .unwrap_or_else(|error| panic!("click `{selector}`: {error}"));
    }

    /// Types `keys` into the first element matching the CSS `selector`, key
    /// by key as a person would; end with `Key::Enter` (as a `char`) to press
    /// Enter.
    pub async fn type_into(&self, selector: &str, keys: &str) {
        timeout(WAIT, async {
            let element = self.client.find(Locator::Css(selector)).await?;
            element.send_keys(keys).await
        })
        .await
        .unwrap_or_else(|_| panic!("typed into `{selector}` within {WAIT:?}"))
        .unwrap_or_else(|error| panic!("type {keys:?} into `{selector}`: {error}"));
    }

    /// Waits until the page says it is connected, and returns the id the
    /// server gave it.
    ///
    /// Every page of steps 04 to 08 shares this contract: `<p id="status">`
    /// has `data-state="connected"` and the text `connected as <id>` once
    /// `socket.js` has been greeted by the server.
    pub async fn wait_until_connected(&self) -> String {
        let status = self
            .wait_for_text("#status", |text| text.starts_with("connected as "), WAIT)
            .await;
        // Both are set by the same line of the page's script.
        self.wait_for_attribute("#status", "data-state", |state| state == "connected", WAIT)
            .await;
        status["connected as ".len()..].to_owned()
    }

    /// Waits until the page says it has lost its connection
    /// (`data-state="disconnected"` on `#status`, the same contract).
    pub async fn wait_until_disconnected(&self) {
        self.wait_for_attribute(
            "#status",
            "data-state",
            |state| state == "disconnected",
            WAIT,
        )
        .await;
    }

    /// Waits until `script` (run in the page as the body of a function, like
    /// [`Browser::execute`]) returns a value for which `expected` is true, and
    /// returns that value. For what one selector cannot say, such as "every
    /// chat line with its sender".
    pub async fn wait_for_script(
        &self,
        script: &str,
        expected: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let what = format!("the result of `{script}`");
        self.poll(
            &what,
            timeout,
            async |client: &Client| client.execute(script, vec![]).await.ok(),
            |value| expected(value),
        )
        .await
    }

    /// Saves what the window shows now as `name` (a `.png` file name) for the
    /// notes: into `notes/img/` with `UPDATE_SCREENSHOTS=1`, otherwise into
    /// this browser's scratch folder, which is removed with it — so an
    /// ordinary test run still takes the picture, but never changes the
    /// repository. Returns where the file went.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
        let folder = if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../notes/img")
        } else {
            self.driver.guard.scratch.join("screenshots")
        };
        let path = folder.join(name);
        self.screenshot(&path).await;
        path
    }

    /// Saves what the window shows now as a PNG at `path`, creating the
    /// folder if needed.
    pub async fn screenshot(&self, path: &Path) {
        let png = timeout(WAIT, self.client.screenshot())
            .await
            .expect("the browser answered within the timeout")
            .expect("take a screenshot");
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .unwrap_or_else(|error| panic!("create {}: {error}", folder.display()));
        }
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    }

    /// Ends the session politely, so Chromium exits on its own. A check that
    /// panics before reaching this is still cleaned up by the guard.
    pub async fn close(self) {
        let _ = timeout(WAIT, self.client.close()).await;
    }

    /// Reads a value with `probe` every [`POLL_INTERVAL`] until `done`
    /// accepts it, or panics after `limit` naming `what` and the last value
    /// seen. `probe` gives `None` while there is nothing to read yet (the
    /// element does not exist, the page is still loading).
    async fn poll<T: std::fmt::Debug>(
        &self,
        what: &str,
        limit: Duration,
        mut probe: impl AsyncFnMut(&Client) -> Option<T>,
        done: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + limit;
        let mut last_seen = None;
        loop {
            // Each probe is bounded too: a browser that stops answering must
            // fail the check, not hang it.
            if let Ok(Some(value)) = tokio::time::timeout_at(deadline, probe(&self.client)).await {
                if done(&value) {
                    return value;
                }
                last_seen = Some(value);
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what} never became what the check expects within {limit:?}; last seen: {last_seen:?}"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// Creates a WebDriver session on the chromedriver at `url`.
async fn connect(url: &str, capabilities: Capabilities) -> Client {
    ClientBuilder::rustls()
        .expect("set up the WebDriver client")
        .capabilities(capabilities)
        .connect(url)
        .await
        .unwrap_or_else(|error| panic!("start Chromium through chromedriver at {url}: {error}"))
}

/// Where chromedriver and Chromium are on this machine.
struct Binaries {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

impl Binaries {
    /// Finds both programs, or says which is missing and where we looked.
    fn find() -> Result<Binaries, String> {
        let mut missing = Vec::new();
        let chromedriver = match std::env::var_os("E2E_CHROMEDRIVER") {
            Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
            None => find_on_path("chromedriver"),
        };
        if chromedriver.is_none() {
            missing.push(match std::env::var("E2E_CHROMEDRIVER") {
                Ok(path) => format!("no chromedriver at E2E_CHROMEDRIVER={path}"),
                Err(_) => "no chromedriver on PATH".to_owned(),
            });
        }
        let chromium = std::env::var_os("E2E_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/chromium/chromium"));
        if !chromium.is_file() {
            missing.push(format!("no chromium at {}", chromium.display()));
        }
        match chromedriver {
            Some(chromedriver) if missing.is_empty() => Ok(Binaries {
                chromedriver,
                chromium,
            }),
            _ => Err(missing.join(", ")),
        }
    }
}

/// The first file called `name` in a folder of `PATH`, as a shell finds it.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
}

/// A running chromedriver: its URL, and the guard that stops it.
struct Driver {
    /// `http://127.0.0.1:<port>`, the port chromedriver chose itself.
    url: String,
    /// Handed to chromedriver in every session's capabilities.
    chromium: PathBuf,
    /// Numbers the profile folders, one per session.
    sessions: AtomicUsize,
    /// Declared last so it is dropped last: kills the process group, then
    /// removes the scratch folder.
    guard: ProcessGroupGuard,
}

impl Driver {
    /// Spawns chromedriver in its own process group and waits for the line
    /// that says which port it listens on.
    async fn start(binaries: &Binaries) -> Driver {
        let scratch = new_scratch_folder();
        let tmp = scratch.join("tmp");
        std::fs::create_dir_all(&tmp)
            .unwrap_or_else(|error| panic!("create {}: {error}", tmp.display()));

        let spawned = Command::new(&binaries.chromedriver)
            .arg("--port=0")
            // Inherited by Chromium: its temp files, crash-report folder and
            // caches land in our scratch folder, not in /tmp or $HOME.
            .env("TMPDIR", &tmp)
            .env("XDG_CONFIG_HOME", scratch.join("config"))
            .env("XDG_CACHE_HOME", scratch.join("cache"))
            // A group of its own, so the guard can kill chromedriver and every
            // Chromium process it starts with one signal.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&scratch);
                panic!("run {}: {error}", binaries.chromedriver.display());
            }
        };
        let stdout = child.stdout.take().expect("stdout was piped");
        // From here on the guard owns the cleanup, even if we panic below.
        let guard = ProcessGroupGuard { child, scratch };

        let port = timeout(STARTUP, read_port(stdout))
            .await
            .expect("chromedriver printed its port within the start-up timeout");
        Driver {
            url: format!("http://127.0.0.1:{port}"),
            chromium: binaries.chromium.clone(),
            sessions: AtomicUsize::new(0),
            guard,
        }
    }

    /// A new, empty folder for one session's Chromium profile.
    fn new_profile_folder(&self) -> PathBuf {
        let number = self.sessions.fetch_add(1, Ordering::Relaxed);
        let folder = self.guard.scratch.join(format!("profile-{number}"));
        std::fs::create_dir_all(&folder)
            .unwrap_or_else(|error| panic!("create {}: {error}", folder.display()));
        folder
    }
}

/// Reads chromedriver's stdout up to `ChromeDriver was started successfully
/// on port N.` and returns N. Keeps reading (and discarding) afterwards in a
/// task of its own, so chromedriver never blocks on a full pipe.
async fn read_port(stdout: ChildStdout) -> u16 {
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let port = line
            .strip_prefix("ChromeDriver was started successfully on port ")
            .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
        if let Some(port) = port {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return port;
        }
        seen.push(line);
    }
    panic!("chromedriver exited without saying its port; it printed: {seen:?}");
}

/// Owns chromedriver's process group and the scratch folder. Dropping it
/// kills every process in the group (chromedriver and all its Chromiums)
/// and removes the folder.
struct ProcessGroupGuard {
    child: Child,
    scratch: PathBuf,
}

impl Drop for ProcessGroupGuard {
    fn drop(&mut self) {
        // With `process_group(0)` the group's id is chromedriver's pid.
        // `kill -KILL -<pgid>` signals the whole group; std has no call for
        // that without `unsafe`, and this crate forbids `unsafe`.
        if let Some(pgid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // Wait (briefly) until chromedriver is gone, so nothing is still
        // writing into the scratch folder while we remove it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Err(error) = std::fs::remove_dir_all(&self.scratch) {
            let _ = writeln!(
                std::io::stderr(),
                "e2e: could not remove {}: {error}",
                self.scratch.display()
            );
        }
    }
}

/// A new folder under the system temp folder, unique to this process and
/// this call, for one chromedriver's profiles and temp files.
fn new_scratch_folder() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let folder = std::env::temp_dir().join(format!("e2e-{}-{number}", std::process::id()));
    std::fs::create_dir_all(&folder)
        .unwrap_or_else(|error| panic!("create {}: {error}", folder.display()));
    folder
}
