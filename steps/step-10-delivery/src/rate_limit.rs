//! A per-client message rate limit: a token bucket.
//!
//! The bucket holds up to `capacity` tokens and refills at `per_second`
//! tokens a second; each message takes one. A client may therefore send a
//! burst of `capacity` messages at once, and after that `per_second` messages
//! a second for as long as it likes — but not more. A message that finds the
//! bucket empty is dropped.
//!
//! The bucket is plain arithmetic on the `Instant` it is given: no clock, no
//! timer, no task. That keeps it a few bytes per connection and lets the
//! tests below drive time by hand instead of sleeping.
//! See `notes/08-production.md`.

use std::time::Instant;

/// One client's token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    /// The most tokens the bucket can hold: the largest allowed burst.
    capacity: f64,
    /// Tokens added per second of elapsed time.
    per_second: f64,
    /// Tokens now (fractional: half a second at 3/s is 1.5 tokens).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
    /// Whether the last message was dropped: the client is in a burst of
    /// excess, and has already been told once.
    dropping: bool,
}

/// What to do with one message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: handle it.
    Allow,
    /// Over the limit: drop it. `first_of_burst` is true only for the first
    /// message dropped since the last allowed one, so the client is told
    /// once per burst — telling it once per dropped message would let a
    /// flood make the server flood back.
    Drop { first_of_burst: bool },
}

impl TokenBucket {
    /// A full bucket: `per_second` messages a second, bursts of the same size.
    pub fn new(per_second: u32, now: Instant) -> Self {
        let per_second = f64::from(per_second);
        TokenBucket {
            capacity: per_second,
            per_second,
            tokens: per_second,
            updated: now,
            dropping: false,
        }
    }

    /// Decides about one message that arrived at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        // `saturating_duration_since`: an `Instant` older than the last one
        // (it cannot happen with a monotonic clock, but costs nothing to
        // tolerate) adds no tokens instead of panicking.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;

        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropping = false;
            Verdict::Allow
        } else {
            let first_of_burst = !self.dropping;
            self.dropping = true;
            Verdict::Drop { first_of_burst }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A full bucket allows a burst of `capacity` messages, then drops, and
    /// says "first of burst" only for the first dropped one.
    #[test]
    fn a_burst_beyond_capacity_is_dropped_and_reported_once() {
        // Arrange
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, start);

        // Act
        let verdicts: Vec<Verdict> = (0..6).map(|_| bucket.check(start)).collect();

        // Assert
        assert_eq!(
            verdicts,
            [
                Verdict::Allow,
                Verdict::Allow,
                Verdict::Allow,
                Verdict::Drop {
                    first_of_burst: true
                },
                Verdict::Drop {
                    first_of_burst: false
                },
                Verdict::Drop {
                    first_of_burst: false
                },
            ]
        );
    }

    /// Tokens come back at `per_second`: one third of a second gives one
    /// token at 3 per second, and a new burst of excess is reported again.
    #[test]
    fn tokens_refill_with_time() {
        // Arrange: empty the bucket and enter a burst of excess.
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, start);
        for _ in 0..4 {
            bucket.check(start);
        }

        // Act + Assert
        let later = start + Duration::from_millis(334);
        assert_eq!(bucket.check(later), Verdict::Allow);
        assert_eq!(
            bucket.check(later),
            Verdict::Drop {
                first_of_burst: true
            }
        );
    }

    /// However long the client was quiet, the bucket holds at most
    /// `capacity` tokens: silence does not buy a bigger burst.
    #[test]
    fn an_idle_bucket_never_holds_more_than_its_capacity() {
        // Arrange
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2, start);

        // Act
        let much_later = start + Duration::from_secs(3600);
        let allowed = (0..10)
            .filter(|_| bucket.check(much_later) == Verdict::Allow)
            .count();

        // Assert
        assert_eq!(allowed, 2);
    }

    /// A steady client at exactly the limit is never dropped.
    #[test]
    fn a_client_at_the_limit_is_never_dropped() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, start);
        for tick in 1..=1000 {
            let now = start + Duration::from_millis(100 * tick);
            assert_eq!(bucket.check(now), Verdict::Allow, "message {tick}");
        }
    }
}
