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
    /// An environment variable is a number, but outside the range the
    /// server can work with (see [`bounded_from_env`](crate::bounded_from_env)).
    /// `min` and `max` are already written out, so this type need not be
    /// generic over the setting's number type.
    OutOfRange {
        name: &'static str,
        value: String,
        min: String,
        max: String,
        /// What the number counts, e.g. `"connections"` or `"milliseconds"`.
        unit: &'static str,
    },
    /// Another program (often another step) is already listening on the port.
    /// `package` is the step's package name, so the sentence can show a
    /// command that works when pasted as it is.
    PortInUse { port: u16, package: &'static str },
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
            StartupError::OutOfRange {
                name,
                value,
                min,
                max,
                unit,
            } => write!(
                f,
                "{name}={value} is out of range: expected {min} to {max} {unit}"
            ),
            StartupError::PortInUse { port, package } => write!(
                f,
                "port {port} is already in use (is another step still running?); \
                 stop it, or choose another port, for example PORT={} cargo run -p {package}",
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

    /// A busy port's sentence names the port and ends with a command that
    /// works when pasted as it is: `PORT=` with the next port, and the
    /// step's real package name (a placeholder such as `<step>` would be
    /// read by the shell as a redirection from a file named `step`).
    #[test]
    fn port_in_use_names_the_port_and_a_command_that_works_as_it_is() {
        // Arrange
        let error = StartupError::PortInUse {
            port: 3000,
            package: "step-03-static-server",
        };

        // Act
        let sentence = error.to_string();

        // Assert
        assert!(
            sentence.starts_with("port 3000 is already in use"),
            "{sentence}"
        );
        assert!(
            sentence.ends_with("for example PORT=3001 cargo run -p step-03-static-server"),
            "{sentence}"
        );
        assert!(!sentence.contains(['<', '>']), "{sentence}");
    }

    /// An out-of-range setting's sentence names the variable, the value,
    /// and the allowed range with its unit.
    #[test]
    fn out_of_range_names_the_variable_the_value_and_the_range() {
        // Arrange
        let error = StartupError::OutOfRange {
            name: "QUEUE_CAPACITY",
            value: "4611686018427387904".into(),
            min: "1".into(),
            max: "1000000".into(),
            unit: "messages",
        };

        // Act
        let sentence = error.to_string();

        // Assert
        assert_eq!(
            sentence,
            "QUEUE_CAPACITY=4611686018427387904 is out of range: expected 1 to 1000000 messages"
        );
    }

    /// `Debug` prints the same sentence as `Display`, so a failed `main`
    /// shows `Error: <sentence>` rather than a struct dump.
    #[test]
    fn debug_is_the_friendly_sentence() {
        // Arrange
        let error = StartupError::PortInUse {
            port: 8080,
            package: "step-08-production",
        };

        // Act + Assert
        assert_eq!(format!("{error:?}"), error.to_string());
    }
}
