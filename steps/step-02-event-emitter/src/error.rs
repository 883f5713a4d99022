//! The one error [`EventEmitter::emit`](crate::EventEmitter::emit) can return.

use std::fmt;

/// An `"error"` event was emitted and no listener was there to handle it.
///
/// Node *throws* in this case, which crashes the process unless something
/// catches it: an error nobody handles should not pass silently. Rust has no
/// exceptions, so `emit` returns this value instead and the `Result` makes the
/// caller decide. It carries no payload: the caller passed the payload by
/// reference and still has it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UnhandledError;

/// The same sentence as `Display`: `main` returning `Result<(), UnhandledError>`
/// prints an error with `Debug`, and a learner should read the sentence there.
impl fmt::Debug for UnhandledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for UnhandledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an \"error\" event was emitted but no listener handles \"error\"")
    }
}

impl std::error::Error for UnhandledError {}
