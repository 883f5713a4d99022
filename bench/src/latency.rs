//! Latency bookkeeping: a monotonic clock every client of the process shares,
//! and the HDR histogram every client of a run records into.
//!
//! A sender writes "now" on the clock into its message; a receiver subtracts it
//! from its own "now". Both read the *same* `Instant` base, so the difference is
//! a true one-way latency, free of wall-clock jumps.
//!
//! The clock counts from the wall-clock time at which the run began, not from
//! zero, so a stamp written by an *earlier* run is always older than this
//! run's start ([`Clock::origin_ns`]). Step 10 and the Node SQLite server keep
//! messages and send a joining client the old ones first; those are history,
//! never deliveries of this run, whatever their stamps say.

use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Nanoseconds on `Instant` (monotonic) since the run began, counted from
/// the wall-clock time of that beginning. Copy it into every task; all copies
/// agree because they share `base` and `origin_ns`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    /// Nanoseconds since the Unix epoch when the run began (0 on a machine
    /// whose clock is set before 1970: then history is not told apart).
    origin_ns: u64,
}

impl Clock {
    pub fn start() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            base: Instant::now(),
            origin_ns: u64::try_from(since_epoch.as_nanos()).unwrap_or(0),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Where `instant` falls on this clock (the origin if it is before the base).
    pub fn ns_at(&self, instant: Instant) -> u64 {
        let elapsed = u64::try_from(instant.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX);
        self.origin_ns.saturating_add(elapsed)
    }

    /// The run's start on this clock: every stamp this run writes is at or
    /// after it, every stamp of an earlier run before it.
    pub fn origin_ns(&self) -> u64 {
        self.origin_ns
    }
}

/// Latencies in microseconds with three significant digits: 0.1 % precision,
/// and the histogram grows only as far as the largest value seen, so a run
/// whose latencies stay under 10 ms needs a few tens of KiB.
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        // 3 significant digits is always a valid setting; auto-resizing
        // histograms accept any value.
        LatencyHistogram(Histogram::new(3).expect("3 significant digits is a valid precision"))
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // Sub-microsecond latencies are recorded as 1 µs: the histogram's
        // smallest value, and below what loopback can really do anyway.
        // `record` grows the histogram as needed (`saturating_record` would
        // clamp to its current, small, range); it fails only past u64 range.
        if self.0.record(micros.max(1)).is_err() {
            self.0.saturating_record(micros);
        }
    }

    pub fn record_ns(&mut self, latency_ns: u64) {
        self.record(Duration::from_nanos(latency_ns));
    }

    /// Adds every sample of `other` (a two-node run's far side into its
    /// near side, for the total).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both grow as needed, so adding cannot run out of range short of u64.
        if self.0.add(&other.0).is_err() {
            for value in other.0.iter_recorded() {
                self.0
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
    }

    /// p50/p90/p99/max in milliseconds, or `None` with no samples.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(LatencySummary {
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p90_ms: ms(self.0.value_at_quantile(0.90)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
        })
    }
}

/// The latency figures a run reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentiles of 1..=1000 µs land where they should, within the 0.1 % precision.
    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut histogram = LatencyHistogram::default();
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        let summary = histogram.summary().unwrap();
        assert!((summary.p50_ms - 0.500).abs() < 0.001, "{summary:?}");
        assert!((summary.p90_ms - 0.900).abs() < 0.001, "{summary:?}");
        assert!((summary.p99_ms - 0.990).abs() < 0.001, "{summary:?}");
        assert!((summary.max_ms - 1.000).abs() < 0.001, "{summary:?}");
    }

    /// A few slow outliers move p99 and max but not the median.
    #[test]
    fn outliers_show_in_the_tail_only() {
        let mut histogram = LatencyHistogram::default();
        for _ in 0..980 {
            histogram.record(Duration::from_micros(200));
        }
        for _ in 0..20 {
            histogram.record(Duration::from_millis(50));
        }
        let summary = histogram.summary().unwrap();
        assert!((summary.p50_ms - 0.2).abs() < 0.001);
        assert!((summary.p99_ms - 50.0).abs() < 0.1);
        assert!((summary.max_ms - 50.0).abs() < 0.1);
    }

    /// Merging two histograms gives the percentiles of all their samples.
    #[test]
    fn merged_histograms_hold_both() {
        let (mut near, mut far) = (LatencyHistogram::default(), LatencyHistogram::default());
        for _ in 0..50 {
            near.record(Duration::from_micros(100));
            far.record(Duration::from_micros(300));
        }

        near.merge(&far);

        let summary = near.summary().unwrap();
        assert!((summary.p50_ms - 0.1).abs() < 0.001, "{summary:?}");
        assert!((summary.p99_ms - 0.3).abs() < 0.001, "{summary:?}");
    }

    /// No samples, no made-up numbers.
    #[test]
    fn empty_histogram_has_no_summary() {
        assert!(LatencyHistogram::default().summary().is_none());
    }

    /// The shared clock never goes backwards and places instants after its base.
    #[test]
    fn clock_is_monotonic() {
        let clock = Clock::start();
        let first = clock.now_ns();
        let later = clock.ns_at(Instant::now() + Duration::from_millis(5));
        assert!(later >= first + 5_000_000);
    }

    /// A later run's clock starts after every instant of an earlier one, so
    /// an earlier run's stamps read as history.
    #[test]
    fn an_earlier_runs_stamps_are_older_than_a_later_runs_start() {
        let earlier = Clock::start();
        let stamp = earlier.now_ns();

        let later = Clock::start();

        assert!(
            stamp <= later.origin_ns(),
            "{stamp} > {}",
            later.origin_ns()
        );
        assert!(later.now_ns() >= later.origin_ns());
    }
}
