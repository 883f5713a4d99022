//! Step 08 under attack, its files (issue 10, points 7 and 8): requests
//! crafted to make the file server fail, or to read files outside the page.
//!
//! - `GET index.html` (no leading slash) and a 10 KB file name were each a
//!   500 with two ERROR lines; now a 400 and a 404, logged only at debug.
//! - A symbolic link in the page's folder served whatever it pointed at
//!   (`/etc/passwd`); now every link below the folder is a 404.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_static_files`;
//! "Attacks it survives" in `notes/08-production.md` has the figures.

#![cfg(unix)]

mod common;
mod raw_http;

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use common::spawn_app;
use raw_http::{exchange, get};
use step_11_scale_out::{AppState, app};
use testkit::log_lines;

/// How many times the flood sends each bad request. Before the fix that was
/// a thousand 500s and two thousand ERROR lines; the 20,000 took
/// 0.38 s, so this is a fraction of a second too.
const EACH: usize = 500;

/// A request target without its leading slash, and a file name of 10 KB
/// (no file system has names over 255 bytes), each sent [`EACH`] times on
/// one connection: every answer is a 400 or a 404, never a 5xx, and the
/// server logs nothing at info level or above — no `Failed to read file`,
/// no `redirect uri failed to build`, no `response failed`.
#[tokio::test]
async fn bad_file_requests_are_a_4xx_and_log_no_error() {
    // Arrange
    let addr = spawn_app().await;
    let no_slash = get("index.html", &[("Host", "127.0.0.1")]);
    let long_name = get(
        &format!("/{}", "a".repeat(10_000)),
        &[("Host", "127.0.0.1")],
    );
    let mut connection = raw_http::connect(addr).await;
    let mut logs = log_lines();
    let started = Instant::now();

    // Act
    let mut statuses = BTreeMap::<u16, usize>::new();
    for request in [&no_slash, &long_name].into_iter().cycle().take(2 * EACH) {
        let response = connection.exchange(request).await;
        *statuses.entry(response.status).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let end = format!("the bad file requests to {addr} are over");
    tracing::info!("{end}");
    let mut logged = logs.lines_until(&end).await;
    // Step 10: the other tests of this binary end their servers meanwhile,
    // and each one's database thread says so at debug level; that line is
    // theirs, not an answer to these requests.
    logged.retain(|line| !line.starts_with("the database thread stops"));

    // Assert
    assert_eq!(statuses, BTreeMap::from([(400, EACH), (404, EACH)]));
    assert!(logged.is_empty(), "logged: {logged:?}");
    println!(
        "measured: {} bad file requests in {elapsed:?}, 0 log lines",
        2 * EACH
    );
}

/// A page's folder made for one test, in a temporary folder of its own that
/// is removed when this is dropped: `public/index.html`, and beside
/// `public/` the files it must never serve.
struct PageWithLinks {
    root: PathBuf,
}

/// What the files outside the page contain; no response may carry it.
const SECRET: &str = "the secret outside the page";

impl PageWithLinks {
    /// Builds the folder for the test named `test`: the page, a secret file
    /// and a secret folder beside it, and inside the page a link to each
    /// (absolute and relative) and a link to the page's own `index.html`.
    fn new(test: &str) -> PageWithLinks {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let root =
            std::env::temp_dir().join(format!("step-08-{test}-{}-{nanos}", std::process::id()));
        let page = PageWithLinks { root };
        let public = page.public();
        fs::create_dir_all(&public).expect("make the page's folder");
        fs::create_dir(page.root.join("outside")).expect("make a folder outside");
        fs::write(public.join("index.html"), "<p>the page</p>").expect("write the page");
        fs::write(page.root.join("secret.txt"), SECRET).expect("write the secret");
        fs::write(page.root.join("outside/secret.txt"), SECRET).expect("write the secret");
        let links: [(&Path, &str); 4] = [
            (&page.root.join("secret.txt"), "absolute.txt"),
            (Path::new("../secret.txt"), "relative.txt"),
            (&page.root.join("outside"), "outside"),
            (Path::new("index.html"), "alias.html"),
        ];
        for (target, name) in links {
            symlink(target, public.join(name)).expect("make a link");
        }
        page
    }

    /// The folder the app serves.
    fn public(&self) -> PathBuf {
        self.root.join("public")
    }
}

impl Drop for PageWithLinks {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temporary folder is harmless.
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// GETs `path` from the app serving `folder`, over TCP; returns the status
/// and the body.
async fn get_file(folder: &Path, path: &str) -> (u16, String) {
    let addr = testkit::serve(app(folder, AppState::default())).await;
    let response = exchange(addr, &get(path, &[("Host", "127.0.0.1")])).await;
    (response.status, response.body)
}

/// A symbolic link in the page's folder to a file outside it — absolute or
/// relative, or to a folder outside — is a 404, and the file's content is
/// never sent. A link that stays inside (`alias.html`) is a 404 too: every
/// link below the folder is refused (see `RegularFilesOnly`). The real
/// file beside them is served.
#[tokio::test]
async fn a_symlink_out_of_the_page_folder_is_a_404() {
    // Arrange
    let page = PageWithLinks::new("symlinks");

    // Act
    let mut answers = Vec::new();
    for path in [
        "/absolute.txt",
        "/relative.txt",
        "/outside/secret.txt",
        "/outside/",
        "/alias.html",
    ] {
        answers.push((path, get_file(&page.public(), path).await));
    }
    let real = get_file(&page.public(), "/index.html").await;

    // Assert
    for (path, (status, body)) in answers {
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains(SECRET), "{path} leaked the secret");
    }
    assert_eq!(real, (200, "<p>the page</p>".to_owned()));
}

/// The folder itself may be reached through a link (a deploy that points
/// `public` at the current release): the operator chose it, so it is
/// resolved once, and only what is inside it must be real files.
#[tokio::test]
async fn the_folder_itself_may_be_reached_through_a_link() {
    // Arrange
    let page = PageWithLinks::new("linked-folder");
    let link = page.root.join("current");
    symlink(page.public(), &link).expect("make a link to the folder");

    // Act
    let (status, body) = get_file(&link, "/").await;

    // Assert
    assert_eq!((status, body.as_str()), (200, "<p>the page</p>"));
}
