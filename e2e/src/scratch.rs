//! A folder of a check's own, for files its server keeps (step 10's
//! database), removed when the check ends, however it ends.
//!
//! Every check gets a new one, named after the process and a counter, so
//! checks running side by side never share a file.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

/// An empty folder under the system temp folder; dropping it removes it
/// with everything in it.
pub struct ScratchFolder {
    path: PathBuf,
}

impl ScratchFolder {
    /// Creates a new, empty folder, unique to this process and this call.
    pub fn new() -> ScratchFolder {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("e2e-files-{}-{number}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
        ScratchFolder { path }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file name inside the folder, e.g. `join("chat.db")`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Default for ScratchFolder {
    fn default() -> Self {
        ScratchFolder::new()
    }
}

impl Drop for ScratchFolder {
    fn drop(&mut self) {
        // A server thread may still hold the file open a moment longer; on
        // Linux removing it is fine all the same.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
