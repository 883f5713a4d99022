//! The page's files: tower-http's `ServeDir`, with two things its defaults
//! get wrong for a server on the internet (see "Attacks it survives" in
//! `notes/08-production.md`).
//!
//! - **It follows symbolic links**, wherever they lead: a link in `public/`
//!   to `/etc/passwd` serves `/etc/passwd`. Here ServeDir reads the folder
//!   through [`RegularFilesOnly`], which serves regular files and folders
//!   below the folder, and answers 404 for anything reached through a link.
//! - **Some bad requests become 500s**, each logged as two ERROR lines: a
//!   request target without its leading slash (`GET index.html`), and a file
//!   name longer than any file system allows. A client can send thousands a
//!   second. Here both are 4xx answers, logged at debug level with every
//!   other request (by `TraceLayer`), and only a fault of the server itself
//!   is a 500 with an error line.

use std::{
    future::Future,
    io,
    path::{Component, Path, PathBuf},
    pin::Pin,
    sync::Arc,
};

use axum::{
    body::Body,
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tower_http::services::{
    ServeDir,
    fs::{Backend, DefaultServeDirFallback, TokioBackend, TokioFile},
};
use tracing::error;

use crate::quiet_log::LogThrottle;

/// The longest file name (one path component) this server looks up, in
/// bytes: `NAME_MAX` of Linux and macOS and the limit of their common file
/// systems. A longer name cannot exist, so it is a 404 without asking the
/// file system — which would answer "file name too long", an error ServeDir
/// turns into a 500.
pub const MAX_NAME_BYTES: usize = 255;

/// The files of the page in one folder, answered as `GET` and `HEAD`
/// requests for them: `/` is `index.html`, a missing file is a 404.
///
/// Cheap to clone (an `Arc` inside ServeDir's backend, and the throttle), as
/// axum clones a fallback for every request.
#[derive(Clone)]
pub struct StaticFiles {
    files: ServeDir<DefaultServeDirFallback, RegularFilesOnly>,
    /// The error line for a file the server cannot read: a fault of the
    /// server (out of file descriptors, a broken disk), which can still
    /// happen on every request of a flood.
    read_errors: Arc<LogThrottle>,
}

impl StaticFiles {
    /// Serves the files in `folder`.
    ///
    /// The folder is resolved to its real path once, here, at start-up: the
    /// operator chose it, so links on the way *to* it are fine (a deploy
    /// that points `public` at the current release). Only what is *inside*
    /// it must be real files and folders.
    pub fn new(folder: impl AsRef<Path>) -> Self {
        let folder = folder.as_ref();
        // A folder that does not exist has no real path; then every lookup
        // below fails, and every file is a 404, as ServeDir would answer.
        let real = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
        let backend = RegularFilesOnly {
            folder: Arc::from(real.as_path()),
        };
        StaticFiles {
            files: ServeDir::with_backend(real, backend),
            read_errors: Arc::default(),
        }
    }

    /// Answers one request for a file.
    pub async fn respond(mut self, request: Request) -> Response {
        // `GET index.html HTTP/1.1` is valid HTTP syntax (hyper reads the
        // target as a host name, "authority form", meant for CONNECT), but it
        // names no path. ServeDir would take it for the folder and build a
        // redirect to "/" with a host but no scheme, which cannot be built:
        // a 500. Only origin-form targets (`/index.html`) and absolute ones
        // (`http://host/index.html`) have a path that starts with a slash.
        if !request.uri().path().starts_with('/') {
            let sentence = "400 Bad Request: the request target must be a path starting with /.\n";
            return (StatusCode::BAD_REQUEST, sentence).into_response();
        }
        // `try_call` hands I/O errors back instead of answering them with
        // ServeDir's own 500 and error line (no readiness to wait for: this
        // ServeDir has no fallback service).
        match self.files.try_call(request).await {
            Ok(response) => response.map(Body::new),
            Err(error) if names_no_file(&error) => StatusCode::NOT_FOUND.into_response(),
            Err(error) => {
                if let Some(left_out) = self.read_errors.allow() {
                    let more = LogThrottle::and_more(left_out);
                    error!("cannot read a file of the page: {error}{more}");
                }
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Whether `error`, from looking up a path a client asked for, only means
/// that no file of the page has that name: a 404, not a fault of the server.
fn names_no_file(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            // `/index.html/x`: a file used as a folder.
            | io::ErrorKind::NotADirectory
            // A NUL byte in the name (`/%00`).
            | io::ErrorKind::InvalidInput
    )
}

/// A ServeDir backend that serves only what is really inside the folder:
/// regular files, and folders (for their `index.html`). A path with a
/// symbolic link anywhere below the folder, a name longer than
/// [`MAX_NAME_BYTES`], or a special file (a FIFO, a device, a socket) is
/// "not found".
///
/// Why refuse every link, not only those that lead out of the folder: to
/// know where a link leads, the server must resolve it, and what it points
/// at can be changed after the check; the page has no links, so refusing
/// them all costs nothing and leaves nothing to get right (nginx's
/// `disable_symlinks on` makes the same choice). A link that stays inside is
/// only a second name for a file that already has one.
///
/// Each component is checked with `lstat`, which looks at a link itself
/// rather than where it leads. Someone who can swap a file for a link
/// between that check and the `open` can already write into the folder, and
/// so change what is served anyway.
#[derive(Clone, Debug)]
pub struct RegularFilesOnly {
    /// The folder's real path (no links in it, see [`StaticFiles::new`]).
    folder: Arc<Path>,
}

impl RegularFilesOnly {
    /// The metadata of `path` if it is a regular file or a folder reached
    /// from the folder without a link; "not found" otherwise.
    ///
    /// Blocking calls (one `lstat` per component), so it runs on Tokio's
    /// blocking threads, all components in one go.
    async fn look_up(&self, path: PathBuf) -> io::Result<std::fs::Metadata> {
        let folder = Arc::clone(&self.folder);
        tokio::task::spawn_blocking(move || look_up_below(&folder, &path))
            .await
            .map_err(io::Error::other)?
    }
}

/// [`RegularFilesOnly::look_up`] itself: walks from `folder` down to `path`
/// one component at a time.
fn look_up_below(folder: &Path, path: &Path) -> io::Result<std::fs::Metadata> {
    let not_found = || io::Error::from(io::ErrorKind::NotFound);
    let below = path.strip_prefix(folder).map_err(|_| not_found())?;
    let mut walked = folder.to_path_buf();
    let mut metadata = std::fs::symlink_metadata(&walked)?;
    for component in below.components() {
        // ServeDir has already refused `..` and the like; only names remain.
        let Component::Normal(name) = component else {
            return Err(not_found());
        };
        if name.len() > MAX_NAME_BYTES {
            return Err(not_found());
        }
        walked.push(name);
        metadata = std::fs::symlink_metadata(&walked)?;
        if metadata.file_type().is_symlink() {
            return Err(not_found());
        }
    }
    if metadata.is_file() || metadata.is_dir() {
        Ok(metadata)
    } else {
        Err(not_found())
    }
}

impl Backend for RegularFilesOnly {
    type File = TokioFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = Pin<Box<dyn Future<Output = io::Result<TokioFile>> + Send>>;
    type MetadataFuture = Pin<Box<dyn Future<Output = io::Result<std::fs::Metadata>> + Send>>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let files = self.clone();
        Box::pin(async move {
            // Opening a FIFO would wait for a writer forever: only a regular
            // file is opened.
            if !files.look_up(path.clone()).await?.is_file() {
                return Err(io::ErrorKind::NotFound.into());
            }
            TokioBackend.open(path).await
        })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let files = self.clone();
        Box::pin(async move { files.look_up(path).await })
    }
}
