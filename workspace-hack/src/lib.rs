//! No code: this crate exists so that building one step never recompiles a dependency.
//!
//! Cargo compiles each dependency once per *set of features*, and the set depends on what is
//! being built. `cargo test --workspace` builds every crate at once, so tokio, hyper,
//! serde_json and the rest get the union of every crate's features (the browser checks' HTTP
//! client adds hyper's `client`, the property tests add regex-syntax's `unicode`, …).
//! `cargo run -p step-02-event-emitter` alone asks for fewer, and without this crate cargo
//! would compile those dependencies again (about 12 s on two cores) and, the next time the
//! workspace is built, back again.
//!
//! Every step depends on this crate, and its `Cargo.toml` names each dependency whose features
//! would otherwise differ, with the whole workspace's features. So every step, built alone or
//! tested alone, asks for the same features as the workspace, and cargo finds them built.
//! This is the "workspace-hack" pattern (cargo-hakari generates such crates); cargo's own
//! `resolver.feature-unification = "workspace"` would do the same, but it is unstable in cargo
//! 1.95 (it says "ignoring `resolver.feature-unification` without `-Zfeature-unification`").
//!
//! `tests/same_features.rs` keeps the list complete: it compares `cargo tree` for the
//! workspace with `cargo tree` for each step, as `cargo run` and as `cargo test` build it, and
//! names any package whose features differ.
