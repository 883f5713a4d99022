//! Connection ids: the `socket.id` of the Node lesson.
//!
//! Every WebSocket connection gets an id such as `7-3f9a0c1d2e4b5a`: a counter
//! (written in hex) so that no id is ever handed out twice while the server
//! runs, a dash, and 56 random bits so that nobody can guess another user's id
//! from their own. See `notes/04-connect-logging.md`.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

/// How many ids this process has handed out so far.
///
/// A `static`, not a field of some app state: "never reused" is a promise
/// about the whole process, even if a test builds several routers in it.
/// `AtomicU64` because many connections are accepted at once on different
/// threads; at a million connections a second it would take half a million
/// years to wrap around.
static CONNECTIONS_SO_FAR: AtomicU64 = AtomicU64::new(0);

/// How many random bytes go into each id. Seven bytes (56 bits) are 14 hex
/// digits; with a counter of at most 16 hex digits and the dash, an id is never
/// longer than 31 characters, inside the protocol's limit of 32.
const RANDOM_BYTES: usize = 7;

/// The id of one connection, e.g. `7-3f9a0c1d2e4b5a`.
///
/// It only ever holds `0-9`, `a-f` and `-`, so it is safe to log, to put in
/// JSON and to show in a page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// Makes a new id, unique for the life of this process.
    ///
    /// The random part comes from the operating system. That can fail (very
    /// rarely, e.g. inside an unusual sandbox); we return the error instead of
    /// panicking so the caller can refuse one connection and keep serving.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut random = [0u8; RANDOM_BYTES];
        getrandom::fill(&mut random)?;

        // `fetch_add` returns the old value, so the first connection is 1.
        let count = CONNECTIONS_SO_FAR.fetch_add(1, Ordering::Relaxed) + 1;

        let mut id = format!("{count:x}-");
        for byte in random {
            id.push_str(&format!("{byte:02x}"));
        }
        Ok(ConnectionId(id))
    }

    /// The id as text, for JSON and for comparisons in tests.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ids made one after the other differ, and both have the documented shape.
    #[test]
    fn ids_are_distinct_and_well_formed() {
        let first = ConnectionId::new().expect("the OS gives random bytes");
        let second = ConnectionId::new().expect("the OS gives random bytes");

        assert_ne!(first, second);
        for id in [first.as_str(), second.as_str()] {
            let (count, random) = id.split_once('-').expect("an id has a dash");
            assert!(
                u64::from_str_radix(count, 16).is_ok(),
                "{id}: counter is hex"
            );
            assert_eq!(random.len(), 2 * RANDOM_BYTES, "{id}: random part length");
            assert!(random.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }
}
