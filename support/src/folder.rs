//! Checking, before serving, that a folder of static files is really there.

use std::path::{Path, PathBuf};

use crate::StartupError;

/// Returns `path` if it is a folder, or a [`StartupError::MissingFolder`].
///
/// Without this check a missing `public/` folder would only show up as a 404
/// in the browser, which sends a learner looking in the wrong place.
pub fn require_folder(path: impl AsRef<Path>) -> Result<PathBuf, StartupError> {
    let path = path.as_ref();
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else {
        Err(StartupError::MissingFolder {
            path: path.to_path_buf(),
        })
    }
}
