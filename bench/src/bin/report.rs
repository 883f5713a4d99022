//! The report writer (work in progress): reads loadgen JSON results.

fn main() {}
