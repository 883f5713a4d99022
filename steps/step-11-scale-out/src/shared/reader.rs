//! The node's reader: one blocking `XREAD` over the streams of every room
//! and every person on this node, delivering each new entry to them.
//!
//! Why one reader per node, not one per connection: a room of a thousand
//! members on this node is then read from Redis once, turned into JSON
//! once, and put into the room's channel once, exactly as step 08 fans out
//! a message; Redis sees one client per node, whatever the number of users.
//!
//! Why its own connection, with no response timeout: `XREAD BLOCK` waits
//! on the server until something arrives. On the command connection that
//! wait would hold up every command behind it, and the redis crate's
//! default 500 ms timeout would give up on a read that Redis still keeps
//! blocked. Here a read waits as long as it needs to, and when the set of
//! streams changes (a join into a new room), the node adds an entry to its
//! own "wake" stream, which the read includes, so it returns and starts
//! again with the new set.
//!
//! After any error the reader connects again and goes on from the last id
//! it delivered of each stream, so a Redis hiccup leaves no gap. A stream
//! that nobody here needs any more is dropped from the set.

use std::time::Duration;

use redis::{
    Client, RedisResult,
    aio::MultiplexedConnection,
    streams::{StreamId, StreamReadReply},
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{Shared, link, message_id, stored_message};
use crate::{
    connection::{message_event, private_event},
    rooms::RoomFrame,
};

/// The most entries one read takes from each stream: a batch, delivered
/// together, but small enough that a room's queue (`QUEUE_CAPACITY`, 256
/// by default) is never filled by one read alone.
const BATCH: usize = 100;

/// How long one read blocks when nothing arrives; then it starts again
/// (which is also when streams nobody needs are dropped).
const BLOCK: Duration = Duration::from_secs(5);

/// How long to wait before connecting again after an error.
const RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// The node's wake stream.
fn wake_stream(node: &str) -> String {
    format!("chat:wake:{node}")
}

/// Makes the node's blocked read return, so it reads the new set of
/// streams: one entry in its wake stream (which keeps only the last).
pub async fn wake(node: &str, connection: &mut MultiplexedConnection) -> RedisResult<()> {
    redis::cmd("XADD")
        .arg(wake_stream(node))
        .arg("MAXLEN")
        .arg(1)
        .arg("*")
        .arg("wake")
        .arg(1)
        .query_async::<()>(connection)
        .await
}

/// Follows the streams until `stop`: reads, delivers, and after an error
/// connects again and goes on from where it was.
pub async fn follow_streams(shared: Shared, client: Client, stop: CancellationToken) {
    let name = super::client_name(&shared.inner.settings, "reader");
    // "0-0": the first read returns the wake stream's last entry at once,
    // which is harmless; from then on only new ones wake it.
    let mut woken_at = "0-0".to_owned();
    while !stop.is_cancelled() {
        let mut connection = match link::connect_named(&client, &name, None).await {
            Ok(connection) => connection,
            Err(why) => {
                debug!("the reader cannot connect to Redis yet ({why})");
                pause(&stop).await;
                continue;
            }
        };
        loop {
            let read = tokio::select! {
                read = read_once(&shared, &mut connection, &woken_at) => read,
                () = stop.cancelled() => return,
            };
            match read {
                Ok(reply) => deliver(&shared, reply, &mut woken_at),
                Err(error) => {
                    // Most often the whole Redis is gone: say so at once
                    // (`/health`, refusals) rather than at the next command.
                    shared.inner.link.failed(&error);
                    debug!("the reader's read failed ({error}); reading again from where it was");
                    break;
                }
            }
        }
        pause(&stop).await;
    }
}

async fn pause(stop: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(RECONNECT_DELAY) => {}
        () = stop.cancelled() => {}
    }
}

/// One `XREAD BLOCK` over the wake stream and every followed stream, each
/// after the last id delivered of it.
async fn read_once(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    woken_at: &str,
) -> RedisResult<StreamReadReply> {
    let (keys, ids) = streams_to_read(shared, woken_at);
    let mut command = redis::cmd("XREAD");
    command
        .arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(&keys)
        .arg(&ids);
    // A read that times out answers nil: nothing new.
    let reply: Option<StreamReadReply> = command.query_async(connection).await?;
    Ok(reply.unwrap_or_default())
}

/// The streams to read and where to start each: the wake stream, then
/// every followed stream someone here still needs (the others are dropped).
fn streams_to_read(shared: &Shared, woken_at: &str) -> (Vec<String>, Vec<String>) {
    let rooms = &shared.inner.rooms;
    let mut follows = shared.lock_follows();
    follows.retain(|stream, _| match stream.strip_prefix("chat:room:") {
        Some(room) => rooms.has_room(room),
        None => stream
            .strip_prefix("chat:private:")
            .is_some_and(|key| rooms.has_person(key)),
    });
    let mut keys = vec![wake_stream(&shared.inner.node)];
    let mut ids = vec![woken_at.to_owned()];
    for (stream, delivered) in follows.iter() {
        keys.push(stream.clone());
        ids.push(format!("{delivered}-0"));
    }
    (keys, ids)
}

/// Delivers what one read brought, stream by stream, in id order, and
/// moves each stream's position past it.
fn deliver(shared: &Shared, reply: StreamReadReply, woken_at: &mut String) {
    for stream in reply.keys {
        let Some(last) = stream.ids.last() else {
            continue;
        };
        if stream.key.starts_with("chat:wake:") {
            woken_at.clone_from(&last.id);
            continue;
        }
        let last = message_id(&last.id);
        for entry in &stream.ids {
            deliver_entry(shared, &stream.key, entry);
        }
        if let (Some(last), Some(position)) = (last, shared.lock_follows().get_mut(&stream.key)) {
            *position = (*position).max(last);
        }
    }
}

/// One entry: JSON once, into the room's channel or the recipient's inbox.
fn deliver_entry(shared: &Shared, stream: &str, entry: &StreamId) {
    let Some(stored) = stored_message(entry) else {
        return;
    };
    // The writer's own node marks the writer's seat, so its connection
    // skips its own copy (it had the acknowledgement instead).
    let seat = match (entry.get::<String>("node"), entry.get::<String>("seat")) {
        (Some(node), Some(seat)) if node == shared.inner.node => seat.parse().unwrap_or(0),
        _ => 0,
    };
    let rooms = &shared.inner.rooms;
    if let Some(room) = stream.strip_prefix("chat:room:") {
        let frame = message_event(&stored).to_json().into();
        rooms.deliver_to_room(room, seat, stored.id, frame);
    } else if let Some(key) = stream.strip_prefix("chat:private:") {
        let frame = private_event(&stored).to_json().into();
        let frame = RoomFrame {
            from: seat,
            id: stored.id,
            frame,
        };
        rooms.deliver_private(key, frame);
    }
}
