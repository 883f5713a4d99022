//! Step 03 — serve a folder of static files.
//!
//! The Node lesson's `app.use(express.static("public"))` becomes tower-http's
//! [`ServeDir`]: every request path is looked up as a file inside one folder,
//! and `/` gives that folder's `index.html`. Run it with
//! `cargo run -p step-03-static-server`, open <http://localhost:3000>, and read
//! `notes/03-static-server.md` beside this file.

use std::path::{Path, PathBuf};

use axum::Router;
use tower_http::{services::ServeDir, trace::TraceLayer};

/// The folder this step serves: `public/step-03-static-server/` at the root of
/// the repository.
///
/// It is found from the crate's own directory (`CARGO_MANIFEST_DIR`), not from
/// the current directory, so `cargo run -p step-03-static-server` works from
/// wherever you type it.
pub fn public_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../public/step-03-static-server")
}

/// The whole application: every path is a file in `folder`.
///
/// `ServeDir` answers `GET` and `HEAD`, sets `Content-Type` from the file's
/// extension, gives 404 for anything it cannot find, and refuses paths that
/// try to climb out of `folder` (`/../Cargo.toml`).
pub fn app(folder: impl AsRef<Path>) -> Router {
    Router::new()
        .fallback_service(ServeDir::new(folder))
        .layer(TraceLayer::new_for_http())
}
