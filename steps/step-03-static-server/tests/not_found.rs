//! Step 03's checkpoint, part 2: a path with no file behind it is a 404, and
//! nothing else is served in its place.
//!
//! Run with `cargo test -p step-03-static-server --test not_found`;
//! `notes/03-static-server.md` explains what is being checked.

mod common;

use axum::http::StatusCode;
use common::get;

/// A file that is not in the folder answers 404 Not Found.
#[tokio::test]
async fn missing_file_is_404() {
    // Act
    let response = get("/no-such-file.html").await;

    // Assert
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// A path into a sub-folder that does not exist is a 404 too, not an error.
#[tokio::test]
async fn missing_nested_file_is_404() {
    // Act
    let response = get("/no/such/folder/style.css").await;

    // Assert
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// The 404 does not quietly fall back to `index.html` (as a single-page-app
/// server might): like `express.static`, a missing file is simply missing.
#[tokio::test]
async fn missing_file_does_not_fall_back_to_the_page() {
    // Act
    let response = get("/missing.css").await;

    // Assert
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        !String::from_utf8_lossy(response.body()).contains("Hello from a static file"),
        "a 404 must not carry index.html"
    );
}
