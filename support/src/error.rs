//! The one error type of start-up, worded for someone running a step for the
//! first time.

use std::{fmt, io, path::PathBuf};

/// What can stop a step from starting (or from serving).
///
/// `main` returns `Result<(), StartupError>`. Rust prints a failed `main`'s
/// error with `{:?}`, so `Debug` below prints the same friendly sentence as
/// `Display` instead of a struct dump: the learner sees
/// `Error: port 3000 is already in use ...` and the process exits with code 1.
pub enum StartupError {
    /// An environment variable is set but is not a number we can use.
    BadSetting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    /// Another program (often another step) is already listening on the port.
    PortInUse { port: u16 },
    /// The static files this step serves are not where we expected them.
    MissingFolder { path: PathBuf },
    /// Anything else the operating system refused.
    Io(io::Error),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::BadSetting {
                name,
                value,
                expected,
            } => write!(f, "{name}={value:?} is not valid: expected {expected}"),
            StartupError::PortInUse { port } => write!(
                f,
                "port {port} is already in use (is another step still running?); \
                 stop it, or choose another port, for example PORT={} cargo run -p <step>",
                port.wrapping_add(1)
            ),
            StartupError::MissingFolder { path } => write!(
                f,
                "the folder {} does not exist; the pages this step serves live there \
                 (did you move the step out of the repository?)",
                path.display()
            ),
            StartupError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl fmt::Debug for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StartupError {}

impl From<io::Error> for StartupError {
    fn from(error: io::Error) -> Self {
        StartupError::Io(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy port's sentence names the port and shows `PORT=` with the next
    /// port as an example of how to choose another.
    #[test]
    fn port_in_use_names_the_port_and_how_to_choose_another() {
        // Arrange
        let error = StartupError::PortInUse { port: 3000 };

        // Act
        let sentence = error.to_string();

        // Assert
        assert!(
            sentence.starts_with("port 3000 is already in use"),
            "{sentence}"
        );
        assert!(
            sentence.contains("PORT=3001 cargo run -p <step>"),
            "{sentence}"
        );
    }

    /// `Debug` prints the same sentence as `Display`, so a failed `main`
    /// shows `Error: <sentence>` rather than a struct dump.
    #[test]
    fn debug_is_the_friendly_sentence() {
        // Arrange
        let error = StartupError::PortInUse { port: 8080 };

        // Act + Assert
        assert_eq!(format!("{error:?}"), error.to_string());
    }
}
