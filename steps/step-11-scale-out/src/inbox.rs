//! A connection's inbox for private messages.
//!
//! A room's messages reach its members through the room's broadcast channel;
//! a private message has one recipient, whatever room they are in. So every
//! joined connection has an inbox of its own, and the sender puts the
//! message's frame straight into the recipient's.
//!
//! Why not a `tokio::sync::mpsc` channel: it allocates a block of 32 slots up
//! front, about a kilobyte for every connection, though most never get a
//! private message. This inbox is a queue that allocates when the first
//! message arrives, and a [`Notify`] to wake the connection.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::sync::Notify;

use crate::rooms::RoomFrame;

/// Private messages waiting for one connection, at most `capacity` of them.
#[derive(Debug)]
pub struct Inbox {
    /// A `std::sync::Mutex`: held for a push or a pop, never across an
    /// `.await`.
    frames: Mutex<VecDeque<RoomFrame>>,
    /// Wakes the connection when a frame arrives.
    arrived: Notify,
    /// At most this many frames wait; a sender past it is told the
    /// recipient is not keeping up, rather than growing the queue forever.
    capacity: usize,
}

/// The recipient's inbox is full: it has not taken its messages for a while.
#[derive(Debug, PartialEq, Eq)]
pub struct InboxFull;

impl Inbox {
    /// An empty inbox for at most `capacity` waiting frames.
    pub fn new(capacity: usize) -> Arc<Inbox> {
        Arc::new(Inbox {
            frames: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            capacity,
        })
    }

    /// Puts `frame` in the inbox, or says it is full.
    pub fn push(&self, frame: RoomFrame) -> Result<(), InboxFull> {
        {
            let mut frames = self.frames();
            if frames.len() >= self.capacity {
                return Err(InboxFull);
            }
            frames.push_back(frame);
        }
        self.arrived.notify_one();
        Ok(())
    }

    /// Whether no more frames fit.
    pub fn is_full(&self) -> bool {
        self.frames().len() >= self.capacity
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames().is_empty()
    }

    /// The oldest waiting frame, if any.
    pub fn try_next(&self) -> Option<RoomFrame> {
        self.frames().pop_front()
    }

    /// Waits for the next frame.
    ///
    /// Cancel-safe, so it can be a branch of `select!`: it looks in the
    /// queue before every wait, so a frame whose wake-up was spent on a
    /// future that `select!` dropped is still found on the next call.
    pub async fn next(&self) -> RoomFrame {
        loop {
            if let Some(frame) = self.try_next() {
                return frame;
            }
            self.arrived.notified().await;
        }
    }

    fn frames(&self) -> MutexGuard<'_, VecDeque<RoomFrame>> {
        // A poisoned lock means a thread panicked while pushing or popping;
        // the queue itself is still a valid queue.
        self.frames
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: i64) -> RoomFrame {
        RoomFrame {
            from: 1,
            id,
            frame: format!("message {id}").into(),
        }
    }

    /// Frames come out in the order they went in, and a full inbox says so.
    #[tokio::test]
    async fn frames_come_out_in_order_up_to_the_capacity() {
        let inbox = Inbox::new(2);
        assert_eq!(inbox.push(frame(1)), Ok(()));
        assert_eq!(inbox.push(frame(2)), Ok(()));
        assert!(inbox.is_full());
        assert_eq!(inbox.push(frame(3)), Err(InboxFull));
        assert_eq!(inbox.next().await.id, 1);
        assert_eq!(inbox.try_next().map(|f| f.id), Some(2));
        assert!(inbox.try_next().is_none());
    }

    /// A wait that is abandoned (as `select!` does when another branch wins)
    /// loses nothing: the next wait finds the frame.
    #[tokio::test]
    async fn an_abandoned_wait_loses_nothing() {
        let inbox = Inbox::new(4);
        {
            let waiting = inbox.next();
            tokio::pin!(waiting);
            assert!(futures::poll!(waiting.as_mut()).is_pending());
            inbox.push(frame(7)).expect("room for one");
            // Dropped here, after its wake-up was sent, before it ran.
        }
        assert_eq!(inbox.next().await.id, 7);
    }
}
