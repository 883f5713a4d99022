//! A client's budgets: how many frames and how many bytes it may send per
//! second, and when it has gone so far past them that it is a flood.
//!
//! Each budget is a token bucket. The bucket holds up to `capacity` tokens
//! and refills at `per_second` tokens a second; each frame takes its cost
//! (one token per frame, or one per byte). A client may therefore send a
//! burst of `capacity` at once, and after that `per_second` a second for as
//! long as it likes — but not more. A frame that finds the bucket short is
//! dropped.
//!
//! [`ClientBudget`] puts a client's buckets together: `MAX_MESSAGES_PER_SECOND`
//! counts every frame (text, binary, ping, pong), `MAX_BYTES_PER_SECOND` every
//! byte of them, and a third bucket, the flood tolerance, counts the frames
//! dropped. A client that empties that one too is not typing fast: it is
//! flooding, and is disconnected. [`SharedBudget`] is one bucket for the
//! whole chat, `MAX_PUBLISHED_BYTES_PER_SECOND`, which every connection
//! spends from before its message is stored.
//!
//! The buckets are plain arithmetic on the `Instant` they are given: no
//! clock, no timer, no task. That keeps them a few bytes per connection and
//! lets the tests below drive time by hand instead of sleeping.
//! See `notes/08-production.md`.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

/// However low `MAX_MESSAGES_PER_SECOND` is, a client may have at least this
/// many frames dropped (less what has refilled since) before it counts as a
/// flood.
///
/// At the default 20 a second the tolerance is a whole extra burst of 100
/// frames; at a low limit such as 2 a second, a person pressing Enter in a
/// hurry can be a dozen frames over without being an attack.
pub const FLOOD_TOLERANCE_AT_LEAST: u32 = 100;

/// One token bucket.
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
    /// Whether the last frame was dropped: the client is in a burst of
    /// excess, and has already been told once.
    dropping: bool,
}

/// What to do with one frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: handle it.
    Allow,
    /// Over the limit: drop it. `first_of_burst` is true only for the first
    /// frame dropped since the last allowed one, so the client is told
    /// once per burst — telling it once per dropped frame would let a
    /// flood make the server flood back.
    Drop { first_of_burst: bool },
}

impl TokenBucket {
    /// A full bucket: `per_second` tokens a second, bursts of the same size.
    pub fn new(per_second: u32, now: Instant) -> Self {
        TokenBucket::with_capacity(per_second, per_second, now)
    }

    /// A full bucket of `capacity` tokens that refills at `per_second`.
    pub fn with_capacity(per_second: u32, capacity: u32, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(capacity),
            per_second: f64::from(per_second),
            tokens: f64::from(capacity),
            updated: now,
            dropping: false,
        }
    }

    /// Decides about one frame, costing one token, that arrived at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        self.check_cost(1, now)
    }

    /// Decides about something that costs `cost` tokens (a frame of `cost`
    /// bytes, say) and arrived at `now`.
    pub fn check_cost(&mut self, cost: usize, now: Instant) -> Verdict {
        // An `Instant` older than the last one adds no tokens, and leaves
        // `updated` where it is: the hub's bucket is checked by many
        // connections, each with the time it read before it got the lock,
        // and moving `updated` back would count that time twice.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = self.updated.max(now);

        // Exact for any frame: a `usize` of bytes is far below 2^53.
        let cost = cost as f64;
        if self.tokens >= cost {
            self.tokens -= cost;
            self.dropping = false;
            Verdict::Allow
        } else {
            let first_of_burst = !self.dropping;
            self.dropping = true;
            Verdict::Drop { first_of_burst }
        }
    }
}

/// Which of its budgets a client went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// `MAX_MESSAGES_PER_SECOND`: this many frames a second.
    Frames { per_second: u32 },
    /// `MAX_BYTES_PER_SECOND`: this many bytes a second.
    Bytes { per_second: u32 },
}

/// What to do with one frame, all of a client's budgets considered.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Within every budget: handle it.
    Handle,
    /// Over a budget: drop it, and tell the client (`Some`) if this is the
    /// first frame dropped in this burst.
    Drop { tell: Option<Over> },
    /// So far past its frame budget that it emptied the flood tolerance
    /// too: disconnect it.
    Flood,
}

/// One client's budgets: frames per second, bytes per second, and the flood
/// tolerance.
#[derive(Debug)]
pub struct ClientBudget {
    /// Every frame takes one token.
    frames: TokenBucket,
    /// Every frame takes one token per byte of its payload.
    bytes: TokenBucket,
    /// Every dropped frame takes one token; it refills at the frame budget.
    /// A client sending at more than twice its budget drains it, however
    /// slowly, and one sending at a thousand times its budget drains it in
    /// a blink — which is what bounds a flood of pings: tokio-tungstenite
    /// answers each ping with a pong before we even see the ping, so
    /// dropping pings cannot stop the pongs, but disconnecting the client
    /// does.
    flood_tolerance: TokenBucket,
    /// The limits, to say which one was exceeded.
    frames_per_second: u32,
    bytes_per_second: u32,
}

impl ClientBudget {
    /// Full budgets: `frames_per_second` frames and `bytes_per_second`
    /// bytes a second, each also the largest burst.
    pub fn new(frames_per_second: u32, bytes_per_second: u32, now: Instant) -> Self {
        let tolerance = frames_per_second.max(FLOOD_TOLERANCE_AT_LEAST);
        ClientBudget {
            frames: TokenBucket::new(frames_per_second, now),
            bytes: TokenBucket::new(bytes_per_second, now),
            flood_tolerance: TokenBucket::with_capacity(frames_per_second, tolerance, now),
            frames_per_second,
            bytes_per_second,
        }
    }

    /// Decides about one frame with `bytes` bytes of payload that arrived at
    /// `now`. Its bytes are only counted once the frame is within the frame
    /// budget, so a dropped frame costs nothing else.
    pub fn check(&mut self, bytes: usize, now: Instant) -> Decision {
        if let Verdict::Drop { first_of_burst } = self.frames.check(now) {
            // Every dropped frame also takes a token of the flood tolerance.
            if self.flood_tolerance.check(now) != Verdict::Allow {
                return Decision::Flood;
            }
            let over = Over::Frames {
                per_second: self.frames_per_second,
            };
            return Decision::Drop {
                tell: first_of_burst.then_some(over),
            };
        }
        match self.bytes.check_cost(bytes, now) {
            Verdict::Allow => Decision::Handle,
            Verdict::Drop { first_of_burst } => {
                let over = Over::Bytes {
                    per_second: self.bytes_per_second,
                };
                Decision::Drop {
                    tell: first_of_burst.then_some(over),
                }
            }
        }
    }
}

/// One token bucket shared by every connection: the chat's budget of
/// published bytes (`MAX_PUBLISHED_BYTES_PER_SECOND`). Cloning gives another
/// handle to the same bucket.
///
/// A `std::sync::Mutex`: it is held for a subtraction, never across an
/// `.await`. Each connection reads the time before it takes the lock, so
/// the bucket may see times out of order; [`TokenBucket::check_cost`] never
/// counts the same time twice.
#[derive(Clone, Debug)]
pub struct SharedBudget(Arc<Mutex<TokenBucket>>);

impl SharedBudget {
    /// A full budget of `per_second` tokens a second, bursts of the same
    /// size.
    pub fn new(per_second: u32, now: Instant) -> Self {
        SharedBudget(Arc::new(Mutex::new(TokenBucket::new(per_second, now))))
    }

    /// Takes `cost` tokens if the budget has them (`true`); otherwise takes
    /// nothing (`false`).
    pub fn spend(&self, cost: usize, now: Instant) -> bool {
        // A poisoned lock only means another thread panicked while
        // counting; the count is still a number, so carry on with it.
        let mut bucket = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket.check_cost(cost, now) == Verdict::Allow
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

    /// Checks that arrive out of order (the hub's bucket is shared: each
    /// connection reads the time before it waits for the lock) never count
    /// the same time twice: a late check with an earlier time adds nothing,
    /// and the next check refills only from the latest time seen.
    #[test]
    fn an_earlier_time_after_a_later_one_is_not_counted_twice() {
        // Arrange: an empty bucket of 10 a second.
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, start);
        assert_eq!(bucket.check_cost(10, start), Verdict::Allow);
        let later = start + Duration::from_millis(500);
        let earlier = start + Duration::from_millis(100);

        // Act: 5 tokens have come back by `later`; spend them, then a check
        // that read its time at `earlier`, then one at `later` again.
        assert_eq!(bucket.check_cost(5, later), Verdict::Allow);
        let late_check = bucket.check(earlier);
        let again = bucket.check(later);

        // Assert
        assert_eq!(
            late_check,
            Verdict::Drop {
                first_of_burst: true
            }
        );
        assert_eq!(
            again,
            Verdict::Drop {
                first_of_burst: false
            }
        );
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

    /// A flood: after its budget of 2, a client may have 100 frames dropped
    /// (the tolerance's floor), told once; the next one is a flood.
    #[test]
    fn a_client_that_empties_its_flood_tolerance_is_a_flood() {
        // Arrange
        let start = Instant::now();
        let mut budget = ClientBudget::new(2, 65_536, start);

        // Act
        let decisions: Vec<Decision> = (0..103).map(|_| budget.check(10, start)).collect();

        // Assert
        assert_eq!(decisions[..2], [Decision::Handle, Decision::Handle]);
        let told = Decision::Drop {
            tell: Some(Over::Frames { per_second: 2 }),
        };
        assert_eq!(decisions[2], told);
        assert!(
            decisions[3..102]
                .iter()
                .all(|d| *d == Decision::Drop { tell: None }),
            "{decisions:?}"
        );
        assert_eq!(decisions[102], Decision::Flood);
    }

    /// A client sending at twice its frame budget, for a long time, loses
    /// half its frames but is never a flood: the tolerance refills as fast
    /// as it drains.
    #[test]
    fn twice_the_budget_is_dropped_but_never_a_flood() {
        let start = Instant::now();
        let mut budget = ClientBudget::new(10, 65_536, start);
        let mut handled = 0;
        for tick in 1..=2000 {
            let now = start + Duration::from_millis(50 * tick);
            match budget.check(10, now) {
                Decision::Handle => handled += 1,
                Decision::Drop { .. } => {}
                Decision::Flood => panic!("a flood at frame {tick}"),
            }
        }
        // 10 a second for 100 s, and the first burst of 10.
        assert!((1000..=1010).contains(&handled), "{handled}");
    }

    /// Bytes count too: within the frame budget, a frame that would take the
    /// client past its bytes per second is dropped, and it is told once, with
    /// the byte limit.
    #[test]
    fn bytes_beyond_the_byte_budget_are_dropped_and_reported_once() {
        // Arrange
        let start = Instant::now();
        let mut budget = ClientBudget::new(100, 1000, start);

        // Act
        let decisions: Vec<Decision> = (0..3).map(|_| budget.check(600, start)).collect();

        // Assert
        assert_eq!(
            decisions,
            [
                Decision::Handle,
                Decision::Drop {
                    tell: Some(Over::Bytes { per_second: 1000 })
                },
                Decision::Drop { tell: None },
            ]
        );
    }

    /// The chat's budget is shared: once two handles have spent it, a third
    /// is refused too, and time refills it for everyone.
    #[test]
    fn the_shared_budget_is_spent_by_every_handle() {
        // Arrange: a budget of about two messages of 400 bytes.
        let start = Instant::now();
        let budget = SharedBudget::new(1000, start);
        let (first, second, third) = (budget.clone(), budget.clone(), budget.clone());

        // Act
        let spent = [first.spend(400, start), second.spend(400, start)];
        let refused = third.spend(400, start);
        let after_a_second = third.spend(400, start + Duration::from_secs(1));

        // Assert
        assert_eq!(spent, [true, true]);
        assert!(!refused);
        assert!(after_a_second);
    }
}
