//! Log lines a client can cause, written at most once a second.
//!
//! A refused request costs the server microseconds; writing a log line about
//! it costs more, and a flood of refusals would turn into a flood of log —
//! filling a disk, or drowning the one line that matters. So a line that a
//! client can trigger over and over goes through a [`LogThrottle`]: the first
//! is written, the next ones within the second are counted, and the next line
//! written says how many were left out.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// At most one line per [`LogThrottle::INTERVAL`] for one kind of event.
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// When the last line was written (`None`: never), and how many were
    /// left out since. A `std::sync::Mutex`: it is held for a comparison and
    /// an addition, never across an `.await`.
    state: Mutex<Option<(Instant, u64)>>,
}

impl LogThrottle {
    /// How long after one line the next one may be written.
    pub const INTERVAL: Duration = Duration::from_secs(1);

    /// Whether a line may be written now: `Some(left_out)`, the number of
    /// lines left out since the last one written, or `None` (then this one is
    /// counted and left out).
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        // A poisoned lock only means another thread panicked while counting;
        // the count is still a number, so carry on with it.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match *state {
            Some((written, ref mut left_out)) if now < written + Self::INTERVAL => {
                *left_out += 1;
                None
            }
            Some((_, left_out)) => {
                *state = Some((now, 0));
                Some(left_out)
            }
            None => {
                *state = Some((now, 0));
                Some(0)
            }
        }
    }

    /// The end of a line that says how many like it were left out: nothing
    /// for 0, else " (and N more like it)".
    pub fn and_more(left_out: u64) -> String {
        if left_out == 0 {
            String::new()
        } else {
            format!(" (and {left_out} more like it)")
        }
    }
}

/// `text` cut to at most `max` characters, with an ellipsis and the length
/// it had when it was longer: for writing anything a client sent (a header,
/// a path) into the log without letting the client decide the log's size.
pub fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line a second: the rest of the second's lines are counted, and
    /// the next line written carries the count.
    #[test]
    fn one_line_a_second_and_the_count_of_the_rest() {
        // Arrange
        let throttle = LogThrottle::default();
        let start = Instant::now();

        // Act
        let first = throttle.allow_at(start);
        let within: Vec<_> = (1..=5)
            .map(|ms| throttle.allow_at(start + Duration::from_millis(ms * 100)))
            .collect();
        let next = throttle.allow_at(start + LogThrottle::INTERVAL);

        // Assert
        assert_eq!(first, Some(0));
        assert!(within.iter().all(Option::is_none), "{within:?}");
        assert_eq!(next, Some(5));
        assert_eq!(LogThrottle::and_more(5), " (and 5 more like it)");
        assert_eq!(LogThrottle::and_more(0), "");
    }

    /// Long client text is cut, short text is kept; a cut never splits a
    /// character.
    #[test]
    fn client_text_is_cut_to_size() {
        assert_eq!(truncated("http://a.example", 64), "http://a.example");
        let long = "é".repeat(100_000);
        let cut = truncated(&long, 10);
        assert!(cut.starts_with(&"é".repeat(10)), "{cut}");
        assert!(cut.ends_with("… (200000 bytes)"), "{cut}");
        assert!(cut.len() < 64, "{cut}");
    }
}
