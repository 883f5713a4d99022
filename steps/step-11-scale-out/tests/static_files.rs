//! Step 11 checkpoint: the same router serves the page and the client script.
//!
//! These tests call the router directly (no network), like step 03's.
//!
//! Run with `cargo test -p step-11-scale-out --test static_files`.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use step_11_scale_out::{AppState, app, public_folder};
use tower::ServiceExt;

/// GETs `path` from the app; returns the status, the content type and the body.
async fn get(path: &str) -> (StatusCode, String, String) {
    let request = Request::get(path)
        .body(Body::empty())
        .expect("a valid request");
    let state = AppState::default();
    let response = app(public_folder(), state)
        .oneshot(request)
        .await
        .expect("the router always answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body can be read")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// `/socket.js` is served, as JavaScript, and gives the page `io()` with
/// acknowledgements (`emitWithAck`, which the chat room's page uses).
#[tokio::test]
async fn socket_js_is_served_as_javascript() {
    let (status, content_type, body) = get("/socket.js").await;

    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("javascript"), "{content_type}");
    // `io()` may take options (`io({ ackTimeout, retries })`, step 10);
    // this page calls it bare.
    assert!(body.contains("window.io = function io("));
    assert!(body.contains("emitWithAck(event, data)"));
}

/// `/` is this step's page, the chat room: it has the status line, the join
/// form (nickname, room, Join), the message list, who is online, who is
/// typing, the message input and the Send button, and loads both scripts,
/// `/socket.js` first.
#[tokio::test]
async fn the_root_is_the_steps_page() {
    let (status, content_type, body) = get("/").await;

    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains(r#"<p id="status" data-state="connecting">"#));
    for element in [
        r#"<form id="join-form""#,
        r#"<input id="nickname""#,
        r#"<input id="room""#,
        r#"<button id="join" type="submit">"#,
        r#"<ul id="messages""#,
        r#"<ul id="online">"#,
        r#"<p id="typing""#,
        r#"<form id="chat-form""#,
        r#"<input id="message-input""#,
        r#"<button id="send" type="submit""#,
    ] {
        assert!(body.contains(element), "the page has {element}");
    }
    let socket_js = body.find(r#"<script src="/socket.js">"#);
    let script_js = body.find(r#"<script src="script.js">"#);
    assert!(socket_js.is_some() && script_js.is_some(), "{body}");
    assert!(
        socket_js < script_js,
        "socket.js must load before script.js"
    );
}

/// A plain GET on `/ws` (no upgrade headers) is refused, not a crash.
#[tokio::test]
async fn a_plain_get_on_ws_is_refused() {
    let (status, _content_type, _body) = get("/ws").await;

    assert!(status.is_client_error(), "{status}");
}
