//! Reading numeric settings (`PORT`, `TICK_MS`, ...) from the environment:
//! [`config_from_env`] for a value any number of its type may take, and
//! [`bounded_from_env`] for one that must also lie in a range, which
//! [`check_range`] checks.

use std::{fmt::Display, ops::RangeInclusive, str::FromStr};

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

/// Like [`config_from_env`], and the value (set or default) must also lie
/// in `allowed`; `unit` names what it counts, for the sentence when it does
/// not.
///
/// Why a range: a setting usually becomes a resource — semaphore permits, a
/// buffer, a deadline `Instant::now() + d` — and each of those has a largest
/// value the library or the clock accepts. Past it, something panics later,
/// in the middle of serving, after "listening on ..." has been printed.
/// Checking here turns that into one sentence at start-up, naming the
/// variable, the value and the range, before the port is bound.
///
/// `expected` is the sentence for a value that is not a number of type `T`
/// at all (as in [`config_from_env`]); a number outside `allowed` is a
/// [`StartupError::OutOfRange`].
pub fn bounded_from_env<T: FromStr + PartialOrd + Display>(
    name: &'static str,
    default: T,
    allowed: RangeInclusive<T>,
    expected: &'static str,
    unit: &'static str,
) -> Result<T, StartupError> {
    let value = config_from_env(name, default, expected)?;
    check_range(name, value, &allowed, unit)
}

/// `value` if `allowed` contains it, otherwise the [`StartupError::OutOfRange`]
/// sentence for the variable `name`, counted in `unit`.
///
/// The checking half of [`bounded_from_env`], apart from the environment: for
/// settings read first and checked together (step 08's `Config`), and for
/// tests, which cannot set environment variables in-process.
pub fn check_range<T: PartialOrd + Display>(
    name: &'static str,
    value: T,
    allowed: &RangeInclusive<T>,
    unit: &'static str,
) -> Result<T, StartupError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(StartupError::OutOfRange {
            name,
            value: value.to_string(),
            min: allowed.start().to_string(),
            max: allowed.end().to_string(),
            unit,
        })
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
    /// The ends of the range are allowed: the range is inclusive.
    #[test]
    fn both_ends_of_the_range_are_within_it() {
        // Act
        let lowest = check_range("QUEUE_CAPACITY", 1usize, &(1..=1_000_000), "messages");
        let highest = check_range(
            "QUEUE_CAPACITY",
            1_000_000usize,
            &(1..=1_000_000),
            "messages",
        );

        // Assert
        assert_eq!(lowest.expect("the lower bound is allowed"), 1);
        assert_eq!(highest.expect("the upper bound is allowed"), 1_000_000);
    }

    /// One below the lower bound is out of range, and the sentence names
    /// the variable, the value, the range and its unit.
    #[test]
    fn below_the_lower_bound_is_out_of_range() {
        // Act
        let error = check_range("QUEUE_CAPACITY", 0usize, &(1..=1_000_000), "messages")
            .expect_err("0 is below the range");

        // Assert
        assert_eq!(
            error.to_string(),
            "QUEUE_CAPACITY=0 is out of range: expected 1 to 1000000 messages"
        );
    }

    /// One above the upper bound is out of range, with the same sentence:
    /// `usize::MAX` here is the value that made `Semaphore::new` panic.
    #[test]
    fn above_the_upper_bound_is_out_of_range() {
        // Act
        let error = check_range("MAX_CONNECTIONS", usize::MAX, &(1..=1_000), "connections")
            .expect_err("usize::MAX is above the range");

        // Assert
        assert!(matches!(
            error,
            StartupError::OutOfRange {
                name: "MAX_CONNECTIONS",
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            format!(
                "MAX_CONNECTIONS={} is out of range: expected 1 to 1000 connections",
                usize::MAX
            )
        );
    }

    /// An unset variable's default goes through the same check, so a
    /// default inside the range comes back unchanged.
    #[test]
    fn unset_bounded_variable_gives_the_default() {
        // Arrange
        let name = "SUPPORT_TEST_VARIABLE_THAT_NOBODY_SETS";
        assert!(std::env::var_os(name).is_none());

        // Act
        let value = bounded_from_env(name, 25u64, 1..=86_400_000, "a number", "milliseconds");

        // Assert
        assert_eq!(value.expect("the default is in range"), 25);
    }

    /// A set value that is not a number stays a `BadSetting` with the
    /// `expected` sentence; the range only judges numbers.
    #[test]
    fn bounded_value_that_does_not_parse_is_a_bad_setting() {
        // Act
        let error = bounded_from_env("PATH", 1u64, 1..=10, "a number", "milliseconds")
            .expect_err("PATH is not a number");

        // Assert
        assert!(matches!(
            error,
            StartupError::BadSetting { name: "PATH", .. }
        ));
    }
}
