//! Reading numeric settings (`PORT`, `TICK_MS`, ...) from the environment.

use std::str::FromStr;

use crate::StartupError;

/// Returns the environment variable `name` parsed as a `T`, or `default` when
/// it is not set.
///
/// A value that is set but does not parse is an error rather than a silent
/// fallback: `PORT=30000x` should not quietly start on 3000.
pub fn config_from_env<T: FromStr>(
    name: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, StartupError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| StartupError::BadSetting {
                name,
                value,
                expected,
            }),
    }
}
