//! Step 11 checkpoint: only pages from this server (or from an origin in
//! `ALLOWED_ORIGINS`) may open a WebSocket; another site's page gets 403
//! before any upgrade. Programs that send no `Origin` are accepted.
//!
//! Run with `cargo test -p step-11-scale-out --test origin_check`.

mod common;

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use common::{spawn_app, spawn_app_with};
use step_11_scale_out::{AppState, config::Config};
use testkit::{DEADLINE, log_lines, next_event};
use tokio::time::timeout;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{self, client::IntoClientRequest},
};

/// Opens `/ws` sending `origin` as the `Origin` header, as a browser would
/// for a page from that origin. Returns the greeting's event name, or the
/// HTTP status and body of the refusal.
async fn connect_from(addr: SocketAddr, origin: &str) -> Result<String, (StatusCode, String)> {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("a valid WebSocket URL");
    request.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_str(origin).expect("a valid header value"),
    );
    let attempt = timeout(DEADLINE, connect_async(request))
        .await
        .expect("the server answers in time");
    match attempt {
        Ok((mut client, _response)) => {
            let hello = next_event(&mut client).await;
            Ok(hello["event"].as_str().unwrap_or_default().to_owned())
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            Err((response.status(), body.into_owned()))
        }
        Err(other) => panic!("expected a 101 or an HTTP refusal, got {other}"),
    }
}

/// A page served by this server (its origin is the address the client
/// connects to) is accepted.
#[tokio::test]
async fn same_origin_is_accepted() {
    // Arrange
    let addr = spawn_app().await;

    // Act
    let result = connect_from(addr, &format!("http://{}", addr)).await;

    // Assert
    assert_eq!(result, Ok("connect".to_owned()));
}

/// A page from another site is refused with 403 and a sentence saying why,
/// before the upgrade, and the refusal is logged.
#[tokio::test]
async fn cross_origin_is_refused_with_403() {
    // Arrange
    let addr = spawn_app().await;
    let mut logs = log_lines();

    // Act
    let result = connect_from(addr, "http://evil.example").await;

    // Assert
    let (status, body) = result.expect_err("a cross-origin upgrade is refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("a page from http://evil.example may not open a WebSocket"),
        "{body}"
    );
    logs.wait_for("refusing a WebSocket from origin http://evil.example: not allowed")
        .await;
}

/// The same host on another port is another origin, and is refused too.
#[tokio::test]
async fn another_port_is_another_origin() {
    // Arrange
    let addr = spawn_app().await;
    let other_port = addr.port().wrapping_add(1);

    // Act
    let result = connect_from(addr, &format!("http://127.0.0.1:{other_port}")).await;

    // Assert
    assert_eq!(
        result.map_err(|(status, _)| status),
        Err(StatusCode::FORBIDDEN)
    );
}

/// An origin listed in `ALLOWED_ORIGINS` is accepted; one not listed is not.
#[tokio::test]
async fn an_allowed_origin_is_accepted() {
    // Arrange
    let state = AppState::in_memory(Config {
        allowed_origins: "https://chat.example.com".parse().expect("a valid list"),
        ..Config::default()
    });
    let addr = spawn_app_with(state.clone()).await;

    // Act
    let listed = connect_from(addr, "https://chat.example.com").await;
    let unlisted = connect_from(addr, "https://other.example.com").await;

    // Assert
    assert_eq!(listed, Ok("connect".to_owned()));
    assert_eq!(
        unlisted.map_err(|(status, _)| status),
        Err(StatusCode::FORBIDDEN)
    );
}

/// A client that sends no `Origin` at all (a program, not a browser) is
/// accepted: `connect` in the other tests sends none.
#[tokio::test]
async fn no_origin_is_accepted() {
    // Arrange
    let addr = spawn_app().await;

    // Act
    let (_client, id) = testkit::connect(addr).await;

    // Assert
    assert!(!id.is_empty());
}
