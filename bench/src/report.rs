//! Turns loadgen JSON results into `results.md` and `chart.svg` (written next).
