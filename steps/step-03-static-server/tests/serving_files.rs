//! Step 03's checkpoint, part 1: the files in the folder are served, each with
//! the content type a browser needs to use it.
//!
//! Run with `cargo test -p step-03-static-server --test serving_files`;
//! `notes/03-static-server.md` explains what is being checked.

mod common;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{get, send};
use step_03_static_server::public_folder;

/// The bytes of a file in the served folder, to compare responses with.
fn file_in_public_folder(name: &str) -> Vec<u8> {
    std::fs::read(public_folder().join(name)).expect("the step's page files exist")
}

/// `GET /` answers 200 with `index.html`, byte for byte, labelled `text/html`
/// so the browser renders it as a page rather than showing its source.
#[tokio::test]
async fn get_root_serves_index_html_as_text_html() {
    // Arrange
    let index_html = file_in_public_folder("index.html");

    // Act
    let response = get("/").await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
    assert_eq!(response.body().as_ref(), index_html.as_slice());
    assert!(
        String::from_utf8_lossy(response.body()).contains("Hello from a static file"),
        "the page says hello"
    );
}

/// `/index.html` is the same file as `/`: the index is an ordinary file that
/// `ServeDir` also picks for the folder itself.
#[tokio::test]
async fn get_index_html_by_name_serves_the_same_page() {
    // Arrange
    let index_html = file_in_public_folder("index.html");

    // Act
    let response = get("/index.html").await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
    assert_eq!(response.body().as_ref(), index_html.as_slice());
}

/// `GET /style.css` — the second request a browser makes after reading the
/// page's `<link>` — answers the stylesheet labelled `text/css`. Browsers
/// refuse to apply a stylesheet served with any other type.
#[tokio::test]
async fn stylesheet_is_served_as_text_css() {
    // Arrange
    let style_css = file_in_public_folder("style.css");

    // Act
    let response = get("/style.css").await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/css");
    assert_eq!(response.body().as_ref(), style_css.as_slice());
}

/// The page really links the stylesheet the previous test fetches, so the two
/// requests of the lesson's diagram are the ones a browser makes.
#[tokio::test]
async fn page_links_the_stylesheet() {
    // Act
    let response = get("/").await;

    // Assert
    let page = String::from_utf8_lossy(response.body());
    assert!(
        page.contains(r#"<link rel="stylesheet" href="style.css">"#),
        "index.html links style.css:\n{page}"
    );
}

/// `HEAD /` answers like `GET /` — 200, `text/html`, and a `Content-Length`
/// equal to the size of `index.html` — but with an empty body. Clients use it
/// to check a file without downloading it.
#[tokio::test]
async fn head_root_sends_headers_without_a_body() {
    // Arrange
    let index_html = file_in_public_folder("index.html");
    let request = Request::head("/")
        .body(Body::empty())
        .expect("a valid request");

    // Act
    let response = send(request).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        index_html.len().to_string().as_str()
    );
    assert!(response.body().is_empty(), "HEAD has no body");
}

/// The query string is not part of the file name: `/style.css?v=2` (a common
/// way to defeat the browser's cache) is still `style.css`.
#[tokio::test]
async fn query_string_is_ignored() {
    // Arrange
    let style_css = file_in_public_folder("style.css");

    // Act
    let response = get("/style.css?v=2").await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().as_ref(), style_css.as_slice());
}

/// Static files are only read: `POST /` is `405 Method Not Allowed`, with an
/// `Allow` header naming the methods that do work.
#[tokio::test]
async fn post_is_method_not_allowed() {
    // Arrange
    let request = Request::post("/")
        .body(Body::empty())
        .expect("a valid request");

    // Act
    let response = send(request).await;

    // Assert
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
}
