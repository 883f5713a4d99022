//! The heartbeat: noticing a client that is gone without saying so.
//!
//! A laptop that closes its lid, or a phone that walks out of Wi-Fi, sends no
//! close frame and no TCP reset: to the server its connection looks open
//! forever. So the server pings every `interval`; a WebSocket client answers
//! a ping with a pong by itself (browsers do, with no JavaScript). A client
//! from which nothing at all has arrived `timeout` after a ping is gone.
//!
//! This is the schedule only, plain arithmetic on the `Instant`s it is
//! given; the connection task owns one timer and sets it to
//! [`Heartbeat::deadline`]. See `notes/08-production.md`.

use std::time::{Duration, Instant};

/// One connection's heartbeat schedule.
#[derive(Debug)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    /// When the timer should next go off, and what it means then.
    next: Due,
}

/// What the next deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// Time to send a ping.
    Ping(Instant),
    /// A ping went out; the client must say something by then.
    Answer(Instant),
}

/// What the connection should do when the deadline passes.
#[derive(Debug, PartialEq, Eq)]
pub enum Beat {
    /// Send a ping now.
    SendPing,
    /// Nothing arrived within the timeout after the last ping: drop the client.
    PeerIsGone,
}

impl Heartbeat {
    /// A schedule whose first ping is one `interval` after `now`.
    pub fn new(interval: Duration, timeout: Duration, now: Instant) -> Self {
        Heartbeat {
            interval,
            timeout,
            next: Due::Ping(now + interval),
        }
    }

    /// When the connection's timer should go off next.
    pub fn deadline(&self) -> Instant {
        match self.next {
            Due::Ping(at) | Due::Answer(at) => at,
        }
    }

    /// Call when any frame arrives from the client: a pong, a message,
    /// anything proves it is alive. Returns whether the deadline moved (so
    /// the caller resets its timer only when needed, not on every message).
    pub fn heard_from_client(&mut self, now: Instant) -> bool {
        match self.next {
            Due::Answer(_) => {
                self.next = Due::Ping(now + self.interval);
                true
            }
            Due::Ping(_) => false,
        }
    }

    /// Call when the deadline has passed.
    pub fn deadline_passed(&mut self, now: Instant) -> Beat {
        match self.next {
            Due::Ping(_) => {
                self.next = Due::Answer(now + self.timeout);
                Beat::SendPing
            }
            Due::Answer(_) => Beat::PeerIsGone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(25);
    const TIMEOUT: Duration = Duration::from_secs(20);

    /// The first ping is due one interval after connecting, like `setInterval`.
    #[test]
    fn first_ping_is_one_interval_after_connecting() {
        let start = Instant::now();
        let heartbeat = Heartbeat::new(INTERVAL, TIMEOUT, start);
        assert_eq!(heartbeat.deadline(), start + INTERVAL);
    }

    /// A client that answers each ping is pinged again one interval after
    /// its answer, forever.
    #[test]
    fn an_answering_client_keeps_being_pinged() {
        // Arrange
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT, start);

        for round in 1..=3u32 {
            // Act: the ping goes out, the pong comes back a second later.
            let ping_at = heartbeat.deadline();
            assert_eq!(
                heartbeat.deadline_passed(ping_at),
                Beat::SendPing,
                "round {round}"
            );
            assert_eq!(heartbeat.deadline(), ping_at + TIMEOUT);
            let pong_at = ping_at + Duration::from_secs(1);
            assert!(heartbeat.heard_from_client(pong_at));

            // Assert
            assert_eq!(heartbeat.deadline(), pong_at + INTERVAL);
        }
    }

    /// A client silent for the whole timeout after a ping is gone.
    #[test]
    fn a_silent_client_is_gone_after_the_timeout() {
        // Arrange
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT, start);
        let ping_at = heartbeat.deadline();
        heartbeat.deadline_passed(ping_at);

        // Act
        let verdict = heartbeat.deadline_passed(ping_at + TIMEOUT);

        // Assert
        assert_eq!(verdict, Beat::PeerIsGone);
    }

    /// Messages between pings do not move the deadline (no timer reset per
    /// chat message; the next ping is simply on schedule).
    #[test]
    fn messages_between_pings_leave_the_schedule_alone() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT, start);
        assert!(!heartbeat.heard_from_client(start + Duration::from_secs(3)));
        assert_eq!(heartbeat.deadline(), start + INTERVAL);
    }
}
