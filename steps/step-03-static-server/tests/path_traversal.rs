//! Step 03's checkpoint, part 3: no request path, however it is spelled, can
//! reach a file outside the served folder.
//!
//! The served folder is `<repo>/public/step-03-static-server/`, so the
//! repository's own `Cargo.toml` sits two levels above it. Each attack below
//! climbs one, two and three levels, so at least one spelling points exactly at
//! a real file; the test then checks that the answer is a refusal *and* that
//! not a line of that file came back.
//!
//! Run with `cargo test -p step-03-static-server --test path_traversal`;
//! `notes/03-static-server.md` explains why `ServeDir` refuses these.

mod common;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use axum::http::StatusCode;
use common::{TIMEOUT, get};
use step_03_static_server::{app, public_folder};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A real file outside the served folder, and a line of it that must never
/// appear in any response.
struct OutsideFile {
    /// Where the file is, relative to the repository root.
    from_repo_root: &'static str,
    /// A line that is in the file (checked) and in no page of this step.
    marker: &'static str,
}

/// Two files an attacker would love to read: the workspace manifest and this
/// step's own manifest (proof that "the code next door" is out of reach too).
const OUTSIDE_FILES: [OutsideFile; 2] = [
    OutsideFile {
        from_repo_root: "Cargo.toml",
        marker: "[workspace]",
    },
    OutsideFile {
        from_repo_root: "steps/step-03-static-server/Cargo.toml",
        marker: "[package]",
    },
];

/// Ways to write "go up one folder" in a URL path: plain, percent-encoded
/// (`%2e` is `.`, `%2f` is `/`, `%5c` is `\`) in upper and lower case,
/// double-encoded (`%25` is `%`, so `%252e` decodes once to `%2e`), with
/// Windows backslashes, and tricks that fool naive string filters.
const GO_UP_ONE_FOLDER: [&str; 16] = [
    "../",
    "..%2f",
    "..%2F",
    "%2e%2e/",
    "%2E%2E/",
    "%2e%2e%2f",
    "%2E%2E%2F",
    ".%2e/",
    "%2e./",
    "%252e%252e%252f",
    "..%252f",
    "..\\",
    "..%5c",
    "%2e%2e%5c",
    "....//",
    "..;/",
];

/// The repository root: the served folder is `public/step-03-static-server`.
fn repo_root() -> PathBuf {
    public_folder()
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Reads an outside file and checks its marker really is in it, so a test
/// can never pass just because the marker was misspelt.
fn read_outside_file(outside: &OutsideFile) -> String {
    let path = repo_root().join(outside.from_repo_root);
    let content = std::fs::read_to_string(&path).expect("the outside file exists");
    assert!(
        content.contains(outside.marker),
        "{} should contain {:?}",
        path.display(),
        outside.marker
    );
    content
}

/// Every attack path: each spelling of "up", repeated 1 to 3 times, then the
/// outside file's path. Depth 2 reaches the real file.
fn traversal_attacks(outside: &OutsideFile) -> Vec<String> {
    GO_UP_ONE_FOLDER
        .iter()
        .flat_map(|up| {
            (1..=3).map(move |depth| format!("/{}{}", up.repeat(depth), outside.from_repo_root))
        })
        .collect()
}

/// Absolute-looking paths to the outside file: the full file-system path
/// after the slash, with the slashes plain, encoded, or doubled.
fn absolute_attacks(outside: &OutsideFile) -> Vec<String> {
    let absolute = percent_encode_path(&repo_root().join(outside.from_repo_root));
    let without_slash = absolute.trim_start_matches('/');
    vec![
        format!("/{absolute}"),
        format!("/%2f{without_slash}"),
        format!("/{}", absolute.replace('/', "%2f")),
        format!("/{}", absolute.replace('/', "%5c")),
        format!("/%252f{without_slash}"),
    ]
}

/// Writes a file-system path as a URL path: letters, digits, `/` and `-._~`
/// stay, every other byte becomes `%XX`, so a checkout in a folder with
/// spaces still makes a valid request.
fn percent_encode_path(path: &std::path::Path) -> String {
    path.to_string_lossy()
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Sends `path` through the router and checks the answer is a refusal (4xx)
/// whose body holds nothing of the outside file.
async fn assert_refused_via_router(path: &str, outside: &OutsideFile) {
    let response = get(path).await;
    let body = String::from_utf8_lossy(response.body());
    assert!(
        response.status().is_client_error(),
        "{path} answered {}, expected a 4xx refusal",
        response.status()
    );
    assert!(
        !body.contains(outside.marker),
        "{path} leaked {}:\n{body}",
        outside.from_repo_root
    );
}

/// Runs the app on a real socket on `127.0.0.1:0` and returns its address.
async fn spawn_app() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a free port on loopback");
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(async move { axum::serve(listener, app(public_folder())).await });
    address
}

/// Sends `GET <target> HTTP/1.1` exactly as written — no client library to
/// tidy the path first — and returns the whole raw response.
async fn raw_get(address: SocketAddr, target: &str) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        // `Connection: close` makes the server close after its answer, so
        // reading to the end reads exactly one response.
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read the response");
        String::from_utf8_lossy(&response).into_owned()
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("the server answered within the timeout")
}

/// The status code from a raw response's first line, `HTTP/1.1 404 Not Found`.
fn status_of(raw_response: &str) -> StatusCode {
    raw_response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw_response:?}"))
}

/// Sends `target` over TCP and checks the answer is a refusal (4xx) holding
/// nothing of the outside file.
async fn assert_refused_over_tcp(address: SocketAddr, target: &str, outside: &OutsideFile) {
    let response = raw_get(address, target).await;
    let status = status_of(&response);
    assert!(
        status.is_client_error(),
        "{target} answered {status} over TCP, expected a 4xx refusal:\n{response}"
    );
    assert!(
        !response.contains(outside.marker),
        "{target} leaked {} over TCP:\n{response}",
        outside.from_repo_root
    );
}

/// Control: the marker check really detects a leak. Serving the repository
/// root itself (never do this) hands out `Cargo.toml`, marker included —
/// so when the tests below find no marker, it is because nothing leaked.
#[tokio::test]
async fn leak_detector_sees_a_served_cargo_toml() {
    // Arrange
    let outside = &OUTSIDE_FILES[0];
    let content = read_outside_file(outside);
    let address = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind a free port on loopback");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        tokio::spawn(async move { axum::serve(listener, app(repo_root())).await });
        address
    };

    // Act
    let response = raw_get(address, "/Cargo.toml").await;

    // Assert
    assert_eq!(status_of(&response), StatusCode::OK);
    assert!(response.contains(outside.marker));
    assert!(response.ends_with(&content), "the whole file came back");
}

/// The request line from the issue, byte for byte over a real connection:
/// `GET /../Cargo.toml HTTP/1.1` (and its two-level twin, which points at the
/// real workspace manifest) is refused. A real server sees the `..` exactly as
/// sent, which `oneshot` with a parsed `Uri` might not.
#[tokio::test]
async fn raw_dot_dot_request_line_is_refused() {
    // Arrange
    let outside = &OUTSIDE_FILES[0];
    read_outside_file(outside);
    let address = spawn_app().await;

    // Act + Assert
    assert_refused_over_tcp(address, "/../Cargo.toml", outside).await;
    assert_refused_over_tcp(address, "/../../Cargo.toml", outside).await;
}

/// Every spelling of `..` (plain, percent-encoded, double-encoded, backslash,
/// filter tricks), at every depth, sent through the router, is a 4xx that
/// carries nothing of the file it aims at.
#[tokio::test]
async fn traversal_through_the_router_is_refused() {
    for outside in &OUTSIDE_FILES {
        // Arrange
        read_outside_file(outside);

        for path in traversal_attacks(outside) {
            // Act + Assert
            assert_refused_via_router(&path, outside).await;
        }
    }
}

/// The same spellings sent as raw request lines over TCP — what `curl
/// --path-as-is` or a hostile client really sends — are refused too.
#[tokio::test]
async fn traversal_over_tcp_is_refused() {
    // Arrange
    let address = spawn_app().await;

    for outside in &OUTSIDE_FILES {
        read_outside_file(outside);

        for target in traversal_attacks(outside) {
            // Act + Assert
            assert_refused_over_tcp(address, &target, outside).await;
        }
    }
}

/// Absolute-looking paths (`//home/.../Cargo.toml`, `/%2fhome%2f...`) never
/// escape: `ServeDir` treats every path as relative to its folder and refuses
/// one that decodes to a root.
#[tokio::test]
async fn absolute_paths_are_refused() {
    // Arrange
    let address = spawn_app().await;

    for outside in &OUTSIDE_FILES {
        read_outside_file(outside);

        for path in absolute_attacks(outside) {
            // Act + Assert
            assert_refused_via_router(&path, outside).await;
            assert_refused_over_tcp(address, &path, outside).await;
        }
    }
}
