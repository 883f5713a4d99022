//! Where the chat's messages are kept: step 10's SQLite file on one node,
//! or (step 11) Redis streams shared by every node.
//!
//! A connection stores and reads messages through this one type, so the
//! rest of its code is the same either way. The one difference it sees is
//! delivery: SQLite's thread delivers a message on this node once it is
//! committed (the `Delivery` closure), while with Redis every node's reader
//! delivers it once it is in the stream, the writer's node included, and
//! the closure is not needed.

use crate::{
    protocol::Refusal,
    rooms::Seat,
    shared::{LinkError, Shared},
    store::{Delivery, Found, NewMessage, Query, Saved, Store},
};

/// The chat's memory; cloning gives another handle to the same one.
#[derive(Clone)]
pub enum History {
    /// One node: SQLite (step 10).
    Local(Store),
    /// Several nodes: Redis (step 11).
    Shared(Shared),
}

impl History {
    /// Stores `message` (from the connection in `seat`), then delivers it;
    /// the answer comes once it is stored.
    pub async fn save(
        &self,
        message: NewMessage,
        seat: Seat,
        deliver: Delivery,
    ) -> Result<Saved, Refusal> {
        match self {
            History::Local(store) => store.save(message, deliver).await.map_err(|error| {
                Refusal::from(format!(
                    "the message was not stored ({error}), so nobody got it; try again"
                ))
            }),
            History::Shared(shared) => shared.save(&message, seat).await.map_err(not_stored),
        }
    }

    /// Reads the messages `query` asks for; the error is a sentence for
    /// the log.
    pub async fn find(&self, query: Query) -> Result<Found, String> {
        match self {
            History::Local(store) => store.find(query).await.map_err(|error| error.to_string()),
            History::Shared(shared) => shared.find(query).await.map_err(|error| error.to_string()),
        }
    }

    /// The Redis side, when there is one.
    pub fn shared(&self) -> Option<&Shared> {
        match self {
            History::Local(_) => None,
            History::Shared(shared) => Some(shared),
        }
    }
}

/// The refusal of a message Redis did not store: nothing was, so nobody got
/// it; while Redis is unreachable the very same message may be sent again.
pub fn not_stored(error: LinkError) -> Refusal {
    match error {
        LinkError::Unavailable(_) => Refusal::try_again(format!(
            "the message was not stored: {error}; it will be sent again in a moment"
        )),
        LinkError::Refused(_) => Refusal::from(format!(
            "the message was not stored: {error}; nobody got it"
        )),
    }
}
