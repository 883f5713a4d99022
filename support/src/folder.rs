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

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder this crate lives in: certainly there.
    fn existing_folder() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// An existing folder is accepted and handed back unchanged.
    #[test]
    fn existing_folder_is_accepted() {
        // Act
        let checked = require_folder(existing_folder());

        // Assert
        assert_eq!(
            checked.expect("the crate's folder exists"),
            existing_folder()
        );
    }

    /// A folder that is not there is a `MissingFolder` error whose sentence
    /// names the full path and says it does not exist.
    #[test]
    fn missing_folder_gives_a_sentence_naming_the_path() {
        // Arrange
        let missing = existing_folder().join("no-such-public-folder");

        // Act
        let error = require_folder(&missing).expect_err("the folder is missing");

        // Assert
        assert!(matches!(error, StartupError::MissingFolder { .. }));
        let sentence = error.to_string();
        assert!(
            sentence.starts_with(&format!("the folder {} does not exist", missing.display())),
            "{sentence}"
        );
    }

    /// A file where the folder should be is refused too: `ServeDir` could
    /// not serve pages from it.
    #[test]
    fn file_instead_of_folder_is_refused() {
        // Arrange
        let file = existing_folder().join("Cargo.toml");
        assert!(file.is_file());

        // Act
        let checked = require_folder(&file);

        // Assert
        assert!(matches!(checked, Err(StartupError::MissingFolder { .. })));
    }
}
