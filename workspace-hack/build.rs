//! Empty on purpose: cargo resolves a crate's `[build-dependencies]` only when it has a build
//! script, and this crate's build-dependencies are how it sets the features of `syn`, which
//! the derive macros run on the host. See `src/lib.rs`.

fn main() {}
