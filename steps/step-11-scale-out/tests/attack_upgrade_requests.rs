//! Step 08 under attack, its upgrade requests (issue 10, points 9 and 14):
//! upgrades a browser would send from a hostile page, and upgrades no
//! browser sends at all, each written byte for byte over TCP.
//!
//! - A DNS-rebinding page (`Host: evil.example:P`, `Origin:
//!   http://evil.example:P`) got a 101, and so did an `https://` origin on
//!   this plain-HTTP server. Now only pages loaded from the host names the
//!   server answers for (`localhost`, `127.0.0.1`, `[::1]`, and
//!   `ALLOWED_HOSTS`), over `http://`, count as its own.
//! - An empty or non-base64 `Sec-WebSocket-Key` got a 101, and a wrong
//!   `Sec-WebSocket-Version` a 400 that did not say which version to use.
//!   Now a bad key is a 400, and a wrong version a 426 with
//!   `Sec-WebSocket-Version: 13`.
//!
//! Run with `cargo test -p step-11-scale-out --test attack_upgrade_requests`.

mod common;
mod raw_http;

use common::{spawn_app, spawn_app_with};
use raw_http::{exchange, get, upgrade};
use step_11_scale_out::{AppState, config::Config};
use testkit::log_lines;

/// A page at `http://evil.example:P` whose DNS name now points at this
/// server (DNS rebinding): its browser sends `Host` and `Origin` that agree
/// with each other, but `evil.example` is not a name this server answers
/// for, so the upgrade is refused with 403, and logged.
#[tokio::test]
async fn a_dns_rebinding_page_is_refused() {
    // Arrange
    let addr = spawn_app().await;
    let evil = format!("evil.example:{}", addr.port());
    let origin = format!("http://{evil}");
    let mut logs = log_lines();

    // Act
    let response = exchange(addr, &upgrade(&evil, &[("Origin", &origin)])).await;

    // Assert
    assert_eq!(response.status, 403, "{response:?}");
    logs.wait_for(&format!(
        "refusing a WebSocket from origin {origin}: not allowed"
    ))
    .await;
}

/// An `https://` page with this server's own host and port was not served
/// by it (this server speaks plain HTTP), so it is another origin: 403.
#[tokio::test]
async fn an_https_origin_is_refused_on_plain_http() {
    // Arrange
    let addr = spawn_app().await;
    let origin = format!("https://{addr}");

    // Act
    let response = exchange(addr, &upgrade(&addr.to_string(), &[("Origin", &origin)])).await;

    // Assert
    assert_eq!(response.status, 403, "{response:?}");
}

/// The loopback names the server listens on are its own, with the port it
/// was reached on: a page from `http://localhost:P`, `http://127.0.0.1:P`
/// or `http://[::1]:P` gets its 101 (the browser checks open the page at
/// the first two).
#[tokio::test]
async fn pages_from_the_loopback_names_are_accepted() {
    // Arrange
    let addr = spawn_app().await;
    let port = addr.port();

    for name in ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"] {
        let host = format!("{name}:{port}");
        let origin = format!("http://{host}");

        // Act
        let response = exchange(addr, &upgrade(&host, &[("Origin", &origin)])).await;

        // Assert
        assert_eq!(response.status, 101, "{name}: {response:?}");
    }
}

/// A name in `ALLOWED_HOSTS` is one of the server's own (its pages behind
/// a proxy at `chat.example.com`, say): their upgrades get a 101, while
/// other names are still refused.
#[tokio::test]
async fn a_host_in_allowed_hosts_is_accepted() {
    // Arrange
    let state = AppState::in_memory(Config {
        allowed_hosts: "chat.example.com".parse().expect("a valid list"),
        ..Config::default()
    });
    let addr = spawn_app_with(state).await;
    let port = addr.port();
    let page_of = |name: &str| {
        let host = format!("{name}:{port}");
        let origin = format!("http://{host}");
        upgrade(&host, &[("Origin", &origin)])
    };

    // Act
    let allowed = exchange(addr, &page_of("chat.example.com")).await;
    let other = exchange(addr, &page_of("evil.example")).await;

    // Assert
    assert_eq!(allowed.status, 101, "{allowed:?}");
    assert_eq!(other.status, 403, "{other:?}");
}

/// A `Sec-WebSocket-Key` that is not 16 bytes of base64 — empty, one
/// letter, not base64, 18 bytes, or sent twice — is refused with 400
/// before any upgrade; the key of RFC 6455's example gets its 101.
#[tokio::test]
async fn an_empty_or_non_base64_key_is_refused_with_400() {
    // Arrange
    let addr = spawn_app().await;
    let host = addr.to_string();
    let twice = get(
        "/ws",
        &[
            ("Host", &host),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", raw_http::VALID_KEY),
            ("Sec-WebSocket-Key", raw_http::VALID_KEY),
        ],
    );
    let mut bad = vec![("sent twice", twice)];
    for (name, key) in [
        ("empty", ""),
        ("one letter", "x"),
        ("not base64", "this is not base64 at all!=="),
        ("18 bytes", "AAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        bad.push((name, upgrade(&host, &[("Sec-WebSocket-Key", key)])));
    }

    for (name, request) in bad {
        // Act
        let response = exchange(addr, &request).await;

        // Assert
        assert_eq!(response.status, 400, "{name}: {response:?}");
        assert!(
            response.body.contains("Sec-WebSocket-Key"),
            "{name}: {response:?}"
        );
    }
    let good = exchange(addr, &upgrade(&host, &[])).await;
    assert_eq!(good.status, 101, "{good:?}");
}

/// A `Sec-WebSocket-Version` other than 13 (an old draft's 8, a future
/// 14, none at all) gets `426 Upgrade Required` with
/// `Sec-WebSocket-Version: 13` and `Upgrade: websocket`, as RFC 6455 §4.4
/// and RFC 9110 ask, so the client can tell which version to speak.
#[tokio::test]
async fn a_wrong_version_gets_426_naming_version_13() {
    // Arrange
    let addr = spawn_app().await;
    let host = addr.to_string();

    for version in ["8", "14", ""] {
        // Act
        let request = upgrade(&host, &[("Sec-WebSocket-Version", version)]);
        let response = exchange(addr, &request).await;

        // Assert
        assert_eq!(response.status, 426, "version {version:?}: {response:?}");
        assert_eq!(response.header("sec-websocket-version"), Some("13"));
        assert_eq!(response.header("upgrade"), Some("websocket"));
    }
}
