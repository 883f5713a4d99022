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
        Ok(value) => value.trim().parse().map_err(|_| StartupError::BadSetting {
            name,
            value,
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    //! The environment is shared by every test in this process, and changing
    //! it is `unsafe` in edition 2024 (forbidden here), so these tests only
    //! *read* it: one variable nobody sets, and `PATH`, which is always set
    //! and never a number. A set, valid value is tested by the steps, which
    //! start their binary with `PORT=0`.
    use super::*;

    /// A variable that is not set gives the default.
    #[test]
    fn unset_variable_gives_the_default() {
        // Arrange
        let name = "SUPPORT_TEST_VARIABLE_THAT_NOBODY_SETS";
        assert!(std::env::var_os(name).is_none());

        // Act
        let value = config_from_env(name, 3000u16, "a port number");

        // Assert
        assert_eq!(value.expect("the default"), 3000);
    }

    /// A variable that is set but is not a number is an error naming the
    /// variable, its value and what was expected — never a silent default.
    #[test]
    fn value_that_does_not_parse_is_a_bad_setting() {
        // Arrange
        let path = std::env::var("PATH").expect("PATH is set");

        // Act
        let error = config_from_env("PATH", 3000u16, "a port number").expect_err("not a number");

        // Assert
        assert!(matches!(
            error,
            StartupError::BadSetting { name: "PATH", .. }
        ));
        assert_eq!(
            error.to_string(),
            format!("PATH={path:?} is not valid: expected a port number")
        );
    }
}
