//! Latency bookkeeping: a monotonic clock every client of the process shares,
//! and the HDR histogram every client of a run records into.
//!
//! A sender writes "now" on the clock into its message; a receiver subtracts it
//! from its own "now". Both read the *same* `Instant` base, so the difference is
//! a true one-way latency, free of wall-clock jumps.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Nanoseconds since the run began, on `Instant` (monotonic). Copy it into
/// every task; all copies agree because they share `base`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Where `instant` falls on this clock (0 if it is before the base).
    pub fn ns_at(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
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
}
