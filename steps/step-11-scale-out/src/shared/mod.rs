//! Step 11: one chat on several server processes ("nodes"), shared through
//! Redis.
//!
//! Each node keeps step 10's directory of its own members ([`Rooms`]) and
//! delivers to them exactly as step 10 does. What must be the same on every
//! node lives in Redis:
//!
//! - **the log**: every room message is an entry of the room's stream, and
//!   every private message an entry of its recipient's stream; the entry's
//!   id is the message id, so `last_id` means the same on every node;
//! - **who is where**: nickname claims, each room's users, the sessions a
//!   tab may take back, and which nodes are alive (see [`scripts`]).
//!
//! The pieces, each a task of its own:
//!
//! - [`link`]: the connection for commands (store, claim, read history),
//!   and whether Redis is reachable (`/health`);
//! - [`reader`]: one blocking `XREAD` per node, for the streams of the
//!   rooms and people on this node, delivering to them in id order;
//! - [`notices`]: `joined`, `left` and `typing` of other nodes' members,
//!   over pub/sub (they need not survive an outage: a list is read again at
//!   every join);
//! - [`liveness`]: "this node is alive", and the sweep that takes a dead
//!   node's users out of every list;
//! - the relay ([`Shared::relay`]): what this node's members do that
//!   others must hear (typing, leaving), sent in order.
//!
//! A message is acknowledged once Redis has stored it; every node,
//! including the writer's, hears of it from its reader. See
//! `notes/11-scale-out.md`.

pub mod link;
pub mod liveness;
pub mod notices;
pub mod reader;
pub mod scripts;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use redis::{Client, Value, aio::MultiplexedConnection, streams::StreamId};
use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::warn;

use crate::{
    config::{DeliveryConfig, SharedSettings},
    names::{Nickname, RoomName},
    rooms::{Relayed, Rooms, Seat},
    sessions::Sessions,
    store::{Found, NewMessage, Query, Saved, StoredMessage},
};

use link::Link;
pub use link::{Health, LinkError};

/// How long Redis remembers a `client_offset`, so that a retry of the same
/// message is recognised: a day, far longer than any client retries.
pub const OFFSET_LIFETIME_SECONDS: u64 = 24 * 60 * 60;

/// A handle to this node's share of the chat; cloning gives another handle
/// to the same one.
#[derive(Clone)]
pub struct Shared {
    inner: Arc<Inner>,
}

struct Inner {
    /// This node's id in Redis: its name and a random part new at every
    /// start, so a node restarted under the same name is a new node, and
    /// the users of the one that died are still swept.
    node: String,
    settings: SharedSettings,
    link: Link,
    rooms: Rooms,
    sessions: Sessions,
    delivery: DeliveryConfig,
    /// The streams the reader follows, each with the id it has delivered
    /// up to. Joins add to it; the reader drops what nobody here needs.
    follows: Mutex<HashMap<String, i64>>,
    /// The node's tasks, so that shutting down can wait until the last of
    /// them has taken this node out of Redis.
    tasks: TaskTracker,
}

/// A claim of a nickname and a room, for [`Shared::claim`].
#[derive(Debug)]
pub struct Claim<'a> {
    pub seat: Seat,
    pub nickname: &'a Nickname,
    pub room: &'a RoomName,
    /// The connection's session, when it joins again.
    pub own_session: Option<&'a str>,
    /// The session the client brought back, if any.
    pub brought_session: Option<&'a str>,
    /// A new secret, used if neither of those applies.
    pub fresh_session: &'a str,
    /// The nickname key the connection held before this join, if any.
    pub previous_key: Option<String>,
}

/// What a successful claim gives.
#[derive(Debug)]
pub struct Claimed {
    /// The brought session was taken back.
    pub recovered: bool,
    pub session: String,
    /// The room's users on every node, in the order they joined.
    pub users: Vec<String>,
}

/// Why a claim was refused.
#[derive(Debug)]
pub enum ClaimRefused {
    /// Someone on a live node holds the nickname.
    Taken,
    Failed(LinkError),
}

impl Shared {
    /// Starts this node's tasks: it connects to Redis in the background
    /// and keeps trying, so it starts even while Redis is down. They stop
    /// when `stop` is cancelled (the server's shutdown), and this node's
    /// users then leave every list at once. Returns the handle, and the
    /// sender that `Rooms::relayed` needs; fails only on a URL the redis
    /// crate cannot read.
    pub fn start(
        settings: &SharedSettings,
        delivery: &DeliveryConfig,
        queue_capacity: usize,
        sessions: &Sessions,
        stop: &CancellationToken,
    ) -> Result<(Shared, Rooms), String> {
        let client = Client::open(settings.redis_url.as_str()).map_err(|error| {
            format!("REDIS_URL={} is not usable ({error})", settings.shown_url())
        })?;
        let incarnation =
            crate::sessions::new_secret().ok_or("no random bytes for this node's id in Redis")?;
        let node = format!("{}.{}", settings.node_name, &incarnation[..8]);
        let link = Link::new(client.clone(), client_name(settings, "commands"));
        let (relay, relayed) = mpsc::unbounded_channel();
        let rooms = Rooms::relayed(queue_capacity, relay);
        let shared = Shared {
            inner: Arc::new(Inner {
                node,
                settings: settings.clone(),
                link: link.clone(),
                rooms: rooms.clone(),
                sessions: sessions.clone(),
                delivery: delivery.clone(),
                follows: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
            }),
        };
        let tasks = &shared.inner.tasks;
        tasks.spawn(link.keep_connected(settings.shown_url(), stop.clone()));
        tasks.spawn(reader::follow_streams(
            shared.clone(),
            client.clone(),
            stop.clone(),
        ));
        tasks.spawn(notices::listen(shared.clone(), client, stop.clone()));
        tasks.spawn(liveness::keep_alive(shared.clone(), stop.clone()));
        tasks.spawn(shared.clone().relay(relayed, stop.clone()));
        tasks.close();
        Ok((shared, rooms))
    }

    /// Waits until every task of this node has stopped (after `stop` was
    /// cancelled): this node's users are then out of every list. A process
    /// that returned from `main` sooner would cut that short.
    pub async fn stopped(&self) {
        self.inner.tasks.wait().await;
    }

    /// This node's id in Redis.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether Redis is reachable, and a way to wait for a change.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.inner.link.health()
    }

    /// Stores `message` once, in its room's stream or its recipient's: the
    /// answer comes once Redis has it. A `client_offset` seen before gives
    /// the original's id, and nothing is stored or delivered again.
    pub async fn save(&self, message: &NewMessage, seat: Seat) -> Result<Saved, LinkError> {
        let (stream, mut fields) = match (&message.room, &message.to) {
            (Some(room), _) => (room_stream(room), vec![("room", room.clone())]),
            (None, Some((to, to_key))) => (
                private_stream(to_key),
                vec![("to", to.clone()), ("to_key", to_key.clone())],
            ),
            (None, None) => return Err(LinkError::Refused("a message for nobody".to_owned())),
        };
        fields.extend([
            ("from", message.from.clone()),
            ("from_key", message.from_key.clone()),
            ("text", message.text.clone()),
            ("at", message.at.to_string()),
            ("node", self.inner.node.clone()),
            ("seat", seat.to_string()),
        ]);
        let offset_key = message
            .client_offset
            .as_ref()
            .map(|offset| format!("chat:offset:{}:{offset}", message.from_key))
            .unwrap_or_default();
        let mut invocation = scripts::SAVE.prepare_invoke();
        invocation
            .arg(stream)
            .arg(offset_key)
            .arg(self.inner.delivery.retention_per_room)
            .arg(message.at)
            .arg(OFFSET_LIFETIME_SECONDS);
        for (field, value) in fields {
            invocation.arg(field).arg(value);
        }
        let mut connection = self.connection()?;
        let (saved, duplicate): (String, u8) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.inner.link.failed(&error))?;
        parse_saved(&saved, duplicate == 1)
    }

    /// Reads the messages `query` asks for.
    pub async fn find(&self, query: Query) -> Result<Found, LinkError> {
        let mut connection = self.connection()?;
        let (skipped, entries) = match query {
            Query::Latest { room, limit } => {
                let newest: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
                    .arg(room_stream(&room))
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut connection)
                    .await
                    .map_err(|error| self.inner.link.failed(&error))?;
                (0, newest.ids.into_iter().rev().collect())
            }
            Query::RoomAfter { room, after, cap } => {
                self.after(&mut connection, room_stream(&room), after, cap)
                    .await?
            }
            Query::PrivateAfter { to_key, after, cap } => {
                self.after(&mut connection, private_stream(&to_key), after, cap)
                    .await?
            }
        };
        let messages = entries.iter().filter_map(stored_message).collect();
        Ok(Found { messages, skipped })
    }

    async fn after(
        &self,
        connection: &mut MultiplexedConnection,
        stream: String,
        after: i64,
        cap: usize,
    ) -> Result<(u64, Vec<StreamId>), LinkError> {
        let (skipped, kept): (u64, redis::streams::StreamRangeReply) = scripts::AFTER
            .arg(stream)
            .arg(after.max(0))
            .arg(cap)
            .invoke_async(connection)
            .await
            .map_err(|error| self.inner.link.failed(&error))?;
        Ok((skipped, kept.ids))
    }

    /// Claims `claim.nickname` on every node and a place in `claim.room`,
    /// leaving the connection's previous room in the same step.
    pub async fn claim(&self, claim: Claim<'_>) -> Result<Claimed, ClaimRefused> {
        let mut connection = self.connection().map_err(ClaimRefused::Failed)?;
        let answer: Vec<Value> = scripts::JOIN
            .arg(&self.inner.node)
            .arg(claim.seat)
            .arg(claim.nickname.as_str())
            .arg(claim.nickname.key())
            .arg(claim.room.as_str())
            .arg(claim.own_session.unwrap_or_default())
            .arg(claim.brought_session.unwrap_or_default())
            .arg(claim.fresh_session)
            .arg(claim.previous_key.unwrap_or_default())
            .arg(liveness_ms(&self.inner.settings))
            .arg(u8::from(
                !self.inner.rooms.has_person(&claim.nickname.key()),
            ))
            .arg(recovery_ms(&self.inner.delivery))
            .invoke_async(&mut connection)
            .await
            .map_err(|error| ClaimRefused::Failed(self.inner.link.failed(&error)))?;
        parse_claimed(&answer).ok_or(ClaimRefused::Taken)
    }

    /// Whoever holds the nickname `key` on a live node: their nickname as
    /// they wrote it, or `None`.
    pub async fn who(&self, key: &str) -> Result<Option<String>, LinkError> {
        let mut connection = self.connection()?;
        scripts::WHO
            .arg(key)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.inner.link.failed(&error))
    }

    /// Makes the reader follow `room`'s stream and `key`'s private stream,
    /// from the newest message now on (unless it follows them already).
    /// Called after the member is in the room here and before its history
    /// is read: a message stored in between is both read and delivered
    /// live, and the live copy is skipped, as in step 10.
    pub async fn follow(&self, room: &RoomName, key: &str) -> Result<(), LinkError> {
        let streams = [room_stream(room.as_str()), private_stream(key)];
        let new: Vec<String> = {
            let follows = self.lock_follows();
            streams
                .into_iter()
                .filter(|stream| !follows.contains_key(stream))
                .collect()
        };
        if new.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection()?;
        let newest: Option<i64> = redis::cmd("GET")
            .arg("chat:next_id")
            .query_async(&mut connection)
            .await
            .map_err(|error| self.inner.link.failed(&error))?;
        {
            let mut follows = self.lock_follows();
            for stream in new {
                follows.entry(stream).or_insert(newest.unwrap_or(0));
            }
        }
        reader::wake(&self.inner.node, &mut connection)
            .await
            .map_err(|error| self.inner.link.failed(&error))
    }

    /// Sends what this node's members did to the other nodes, in order:
    /// typing over pub/sub, a connection's end as a [`scripts::LEAVE`]. A
    /// leave that fails while Redis is down is tried again once it is back,
    /// so no nickname stays taken by a connection that is gone.
    async fn relay(self, mut relayed: mpsc::UnboundedReceiver<Relayed>, stop: CancellationToken) {
        let mut health = self.health();
        loop {
            let what = tokio::select! {
                what = relayed.recv() => what,
                () = stop.cancelled() => return,
            };
            let Some(what) = what else { return };
            while let Err(LinkError::Unavailable(_)) = self.send_relayed(&what).await {
                if matches!(what, Relayed::Typing { .. }) {
                    break; // typing is not worth keeping
                }
                tokio::select! {
                    changed = health.wait_for(|h| *h == Health::Up) => if changed.is_err() { return },
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    async fn send_relayed(&self, what: &Relayed) -> Result<(), LinkError> {
        let mut connection = self.connection()?;
        let sent = match what {
            Relayed::Typing {
                room,
                nickname,
                typing,
            } => {
                notices::publish_typing(&self.inner.node, room, nickname, *typing, &mut connection)
                    .await
            }
            Relayed::Left { key, seat } => {
                scripts::LEAVE
                    .arg(&self.inner.node)
                    .arg(*seat)
                    .arg(key)
                    .arg(recovery_ms(&self.inner.delivery))
                    .invoke_async::<()>(&mut connection)
                    .await
            }
        };
        match sent {
            Ok(()) => Ok(()),
            Err(error) => {
                let failed = self.inner.link.failed(&error);
                if let LinkError::Refused(why) = &failed {
                    warn!("Redis refused a notice from this node ({why})");
                }
                Err(failed)
            }
        }
    }

    fn connection(&self) -> Result<MultiplexedConnection, LinkError> {
        self.inner.link.connection()
    }

    fn lock_follows(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.inner
            .follows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The name of one of this node's connections in Redis's `CLIENT LIST`:
/// `realtime-<node name>-<role>`.
fn client_name(settings: &SharedSettings, role: &str) -> String {
    format!("realtime-{}-{role}", settings.node_name)
}

/// The stream of a room's messages.
pub fn room_stream(room: &str) -> String {
    format!("chat:room:{room}")
}

/// The stream of the private messages to the nickname `key`.
pub fn private_stream(key: &str) -> String {
    format!("chat:private:{key}")
}

/// `RECOVERY_SECONDS` in milliseconds, for `PEXPIRE`.
fn recovery_ms(delivery: &DeliveryConfig) -> u64 {
    u64::try_from(delivery.recovery.as_millis()).unwrap_or(u64::MAX)
}

/// `NODE_LIVENESS_MS`, for `PX`.
fn liveness_ms(settings: &SharedSettings) -> u64 {
    u64::try_from(settings.node_liveness.as_millis()).unwrap_or(u64::MAX)
}

/// The message id of a stream entry id (`"<id>-0"`).
pub fn message_id(entry_id: &str) -> Option<i64> {
    entry_id.split('-').next()?.parse().ok()
}

/// A stream entry as a stored message; `None` for one this server did not
/// write (a stream of the same name made by hand).
pub fn stored_message(entry: &StreamId) -> Option<StoredMessage> {
    Some(StoredMessage {
        id: message_id(&entry.id)?,
        room: entry.get("room"),
        from: entry.get("from")?,
        to: entry.get("to"),
        text: entry.get("text")?,
        at: entry.get::<String>("at")?.parse().ok()?,
    })
}

/// `"<id> <at>"` as what saving gave.
fn parse_saved(saved: &str, duplicate: bool) -> Result<Saved, LinkError> {
    let (id, at) = saved
        .split_once(' ')
        .and_then(|(id, at)| Some((id.parse().ok()?, at.parse().ok()?)))
        .ok_or_else(|| {
            LinkError::Refused(format!("an answer this server cannot read: {saved:?}"))
        })?;
    Ok(Saved { id, at, duplicate })
}

/// The JOIN script's answer; `None` for "taken".
fn parse_claimed(answer: &[Value]) -> Option<Claimed> {
    let text = |value: &Value| redis::from_redis_value_ref::<String>(value).ok();
    if answer.first().and_then(text).as_deref() != Some("ok") {
        return None;
    }
    let recovered = answer
        .get(1)
        .and_then(|value| redis::from_redis_value_ref::<i64>(value).ok())
        == Some(1);
    Some(Claimed {
        recovered,
        session: answer.get(2).and_then(text)?,
        users: answer.iter().skip(5).filter_map(text).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream entry id is the message id and a `-0`; anything else is
    /// not one of ours.
    #[test]
    fn message_ids_are_read_from_entry_ids() {
        assert_eq!(message_id("42-0"), Some(42));
        assert_eq!(message_id("1796285914501-3"), Some(1_796_285_914_501));
        assert_eq!(message_id("not-an-id"), None);
    }

    /// What SAVE answers, read back; an answer of another shape is a
    /// refusal with a sentence, never a panic.
    #[test]
    fn saved_answers_are_read_or_refused() {
        let saved = parse_saved("7 1700000000000", true).expect("readable");
        assert_eq!(
            (saved.id, saved.at, saved.duplicate),
            (7, 1_700_000_000_000, true)
        );
        assert!(matches!(
            parse_saved("7", false),
            Err(LinkError::Refused(_))
        ));
        assert!(matches!(
            parse_saved("x y", false),
            Err(LinkError::Refused(_))
        ));
    }

    /// JOIN's answer: "taken", or the session and every user.
    #[test]
    fn claims_are_read_from_the_join_script() {
        let text = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let taken = [text("taken")];
        assert!(parse_claimed(&taken).is_none());
        let ok = [
            text("ok"),
            Value::Int(1),
            text("s3cret"),
            text(""),
            text(""),
            text("alice"),
            text("bob"),
        ];
        let claimed = parse_claimed(&ok).expect("a claim");
        assert!(claimed.recovered);
        assert_eq!(claimed.session, "s3cret");
        assert_eq!(claimed.users, ["alice", "bob"]);
    }

    /// Stream entries this server did not write (missing fields) are
    /// skipped rather than shown half empty.
    #[test]
    fn entries_without_the_fields_are_not_messages() {
        let mut entry = StreamId {
            id: "3-0".to_owned(),
            ..StreamId::default()
        };
        assert!(stored_message(&entry).is_none());
        for (field, value) in [
            ("room", "general"),
            ("from", "alice"),
            ("text", "hi"),
            ("at", "5"),
        ] {
            entry.map.insert(
                field.to_owned(),
                Value::BulkString(value.as_bytes().to_vec()),
            );
        }
        let stored = stored_message(&entry).expect("a message");
        assert_eq!((stored.id, stored.at), (3, 5));
        assert_eq!(stored.room.as_deref(), Some("general"));
    }
}
