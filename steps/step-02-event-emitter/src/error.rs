//! The one error [`EventEmitter::emit`](crate::EventEmitter::emit) can return.

use std::fmt;

/// An `"error"` event was emitted and no listener was there to handle it.
///
/// Node *throws* in this case, which crashes the process unless something
/// catches it: an error nobody handles should not pass silently. Rust has no
/// exceptions, so `emit` returns this value instead and the `Result` makes the
/// caller decide. It carries no payload: the caller passed the payload by
/// reference and still has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnhandledError;

impl fmt::Display for UnhandledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an \"error\" event was emitted but no listener handles \"error\"")
    }
}

impl std::error::Error for UnhandledError {}
