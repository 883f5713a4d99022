//! Helpers shared by step 03's tests: send one request to the app, with a
//! deadline, and get back the whole response.
//!
//! `oneshot` drives the `Router` directly, without a socket, so these tests
//! run in microseconds. Tests that must see exactly the bytes a real client
//! sends (path traversal, start-up) open a real TCP connection instead.

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    http::{Request, Response},
};
use http_body_util::BodyExt;
use step_03_static_server::{app, public_folder};
use tower::ServiceExt;

/// How long any single step of a test may take before it fails. Generous,
/// because the machine running CI may be busy; a bug still fails fast.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` to a fresh copy of step 03's app, serving the real
/// `public/step-03-static-server/` folder, and returns the response with its
/// body read to the end.
pub async fn send(request: Request<Body>) -> Response<Bytes> {
    let exchange = async {
        let response = app(public_folder())
            .oneshot(request)
            .await
            .expect("a Router never fails: its error type is Infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read the body").to_bytes();
        Response::from_parts(parts, body)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("the app answered within the timeout")
}

/// `GET path`, the request a browser makes for a link or a stylesheet.
pub async fn get(path: &str) -> Response<Bytes> {
    let request = Request::get(path)
        .body(Body::empty())
        .expect("a valid request");
    send(request).await
}
