//! Sessions: how a reconnecting tab proves it is the one that left.
//!
//! Every join is answered with a `session`, a secret of 128 random bits.
//! A tab keeps it, and a join that brings it back within
//! `RECOVERY_SECONDS` of the connection's end takes back that session's
//! nickname and gets the private messages it missed. A nickname alone
//! proves nothing (anyone can type "alice"); the secret does.
//!
//! The old connection is often not known to be dead yet — a laptop that
//! lost its Wi-Fi sends nothing, and the heartbeat notices only after its
//! timeout. So a join that resumes a session still held by a live
//! connection tells that connection to close (it has been taken over), and
//! takes the nickname from it at once.
//!
//! Sessions live in memory: after a server restart every session is gone,
//! and a join with one is an ordinary join (`last_id` still works: it is
//! about the database, not the session).

use std::{
    collections::HashMap,
    fmt::Write,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::{names::Nickname, rooms::Seat};

/// Every session of the last `RECOVERY_SECONDS`; cloning gives another
/// handle to the same ones.
#[derive(Clone, Debug)]
pub struct Sessions {
    /// A `std::sync::Mutex`, held for a map operation and never across an
    /// `.await`.
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    recovery: Duration,
}

#[derive(Debug)]
struct Session {
    nickname: Nickname,
    /// The connection it belongs to now.
    seat: Seat,
    /// When that connection ended; `None` while it is open.
    ended: Option<Instant>,
    /// Tells that connection it has been taken over.
    take_over: Option<oneshot::Sender<()>>,
}

/// A session taken back by a new connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Resumed {
    /// The connection that held it, whose nickname may now be taken.
    pub from_seat: Seat,
}

impl Sessions {
    /// No sessions yet; each is kept for `recovery` after its connection
    /// ends.
    pub fn new(recovery: Duration) -> Sessions {
        Sessions {
            sessions: Arc::new(Mutex::new(HashMap::new())),
            recovery,
        }
    }

    /// A new session for `seat` as `nickname`; returns its secret, or
    /// `None` if the operating system gave no random bytes (then the join
    /// goes on without one).
    pub fn start(
        &self,
        seat: Seat,
        nickname: &Nickname,
        take_over: oneshot::Sender<()>,
    ) -> Option<String> {
        let secret = new_secret()?;
        self.adopt(&secret, seat, nickname, take_over);
        Some(secret)
    }

    /// Moves the session `secret` to `seat`, if it exists, is `nickname`'s
    /// (in any case), and its connection is open or ended less than
    /// `RECOVERY_SECONDS` ago. The connection that held it is told it has
    /// been taken over.
    pub fn resume(
        &self,
        secret: &str,
        seat: Seat,
        nickname: &Nickname,
        take_over: oneshot::Sender<()>,
    ) -> Option<Resumed> {
        let mut sessions = self.lock();
        forget_expired(&mut sessions, self.recovery);
        let session = sessions.get_mut(secret)?;
        if session.nickname.key() != nickname.key() || session.seat == seat {
            return None;
        }
        if let Some(old) = session.take_over.replace(take_over) {
            // The old connection may be gone already; then nobody listens.
            let _ = old.send(());
        }
        let from_seat = std::mem::replace(&mut session.seat, seat);
        session.ended = None;
        Some(Resumed { from_seat })
    }

    /// Step 11: a session that Redis says this connection may have (new, or
    /// taken back from a connection on another node), kept here so that a
    /// later take-over on this node finds it as step 10's do.
    pub fn adopt(
        &self,
        secret: &str,
        seat: Seat,
        nickname: &Nickname,
        take_over: oneshot::Sender<()>,
    ) {
        let session = Session {
            nickname: nickname.clone(),
            seat,
            ended: None,
            take_over: Some(take_over),
        };
        let mut sessions = self.lock();
        forget_expired(&mut sessions, self.recovery);
        if let Some(old) = sessions.insert(secret.to_owned(), session)
            && let Some(tell) = old.take_over
        {
            let _ = tell.send(());
        }
    }

    /// The secret of the session the connection in `seat` holds, if any.
    pub fn secret_of(&self, seat: Seat) -> Option<String> {
        self.lock()
            .iter()
            .find(|(_, session)| session.seat == seat && session.ended.is_none())
            .map(|(secret, _)| secret.clone())
    }

    /// The seat of the connection that holds `secret`'s session now.
    pub fn seat_of(&self, secret: &str) -> Option<Seat> {
        self.lock().get(secret).map(|session| session.seat)
    }

    /// Step 11: a connection on another node took `secret`'s session back;
    /// tells the connection here that held it (if it still does), and
    /// returns its seat.
    pub fn taken_over_elsewhere(&self, secret: &str) -> Option<Seat> {
        let mut sessions = self.lock();
        let session = sessions.remove(secret)?;
        if let Some(tell) = session.take_over {
            let _ = tell.send(());
        }
        Some(session.seat)
    }

    /// The nickname of `secret`'s session is now `nickname` (a join again,
    /// on the same connection, with another name).
    pub fn rename(&self, secret: &str, nickname: &Nickname) {
        if let Some(session) = self.lock().get_mut(secret) {
            session.nickname = nickname.clone();
        }
    }

    /// The connection `seat` has ended: its session can be resumed for
    /// `RECOVERY_SECONDS` from now.
    pub fn ended(&self, secret: &str, seat: Seat) {
        if let Some(session) = self.lock().get_mut(secret)
            && session.seat == seat
        {
            session.ended = Some(Instant::now());
            session.take_over = None;
        }
    }

    /// How many sessions are kept right now (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Drops the sessions whose connection ended more than `recovery` ago, so
/// the map holds only what can still be resumed.
fn forget_expired(sessions: &mut HashMap<String, Session>, recovery: Duration) {
    sessions.retain(|_, session| session.ended.is_none_or(|ended| ended.elapsed() < recovery));
}

/// 128 random bits as 32 hex digits.
pub fn new_secret() -> Option<String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).ok()?;
    let mut secret = String::with_capacity(32);
    for byte in random {
        let _ = write!(secret, "{byte:02x}");
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nickname(name: &str) -> Nickname {
        Nickname::parse(name).expect("a valid nickname")
    }

    /// A session is resumed by its secret and nickname, and the connection
    /// that held it is told.
    #[test]
    fn a_session_is_taken_back_and_its_old_connection_told() {
        // Arrange
        let sessions = Sessions::new(Duration::from_secs(60));
        let (old_take_over, mut told) = oneshot::channel();
        let secret = sessions
            .start(1, &nickname("alice"), old_take_over)
            .expect("a secret");

        // Act
        let (new_take_over, _) = oneshot::channel();
        let resumed = sessions.resume(&secret, 2, &nickname("Alice"), new_take_over);

        // Assert
        assert_eq!(resumed, Some(Resumed { from_seat: 1 }));
        assert_eq!(told.try_recv(), Ok(()));
        assert_eq!(secret.len(), 32);
    }

    /// A wrong secret, another nickname, or a session that ended too long
    /// ago resumes nothing.
    #[test]
    fn a_wrong_or_expired_session_resumes_nothing() {
        let sessions = Sessions::new(Duration::ZERO);
        let (take_over, _) = oneshot::channel();
        let secret = sessions
            .start(1, &nickname("alice"), take_over)
            .expect("a secret");
        let other = || oneshot::channel().0;
        assert_eq!(
            sessions.resume("not-a-secret", 2, &nickname("alice"), other()),
            None
        );
        assert_eq!(sessions.resume(&secret, 2, &nickname("bob"), other()), None);
        sessions.ended(&secret, 1);
        assert_eq!(
            sessions.resume(&secret, 2, &nickname("alice"), other()),
            None
        );
        assert!(sessions.is_empty(), "expired sessions are forgotten");
    }
}
