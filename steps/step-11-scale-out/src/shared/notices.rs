//! Notices between nodes over Redis pub/sub: `joined`, `left`, `typing`,
//! and "your session was taken over".
//!
//! Pub/sub is fire-and-forget: a node that is not subscribed at the moment
//! a notice is published never gets it. That is right for a notice and
//! wrong for a message, which is why messages go through streams (see
//! `reader.rs`) and only these go here. A node that lost its subscription
//! for a moment may miss a `joined` or `left`; every join reads the room's
//! list again from Redis, so a page is right again at its next join.
//!
//! The subscription uses RESP3, in which one connection can both be
//! subscribed and answer other commands (here `CLIENT SETNAME`, so the
//! connection is named like the node's others). The redis crate does not
//! subscribe again by itself after a reconnect; [`listen`] does.

use std::time::Duration;

use redis::{
    AsyncConnectionConfig, Client, ProtocolVersion, PushInfo, PushKind, RedisResult,
    aio::MultiplexedConnection,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::Shared;
use crate::protocol::ServerEvent;

/// The channel every node publishes on and listens to.
pub const CHANNEL: &str = "chat:notices";

/// How long to wait before subscribing again after losing the connection.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(100);

/// A notice as the scripts (and [`publish_typing`]) write it.
#[derive(Debug, Deserialize)]
struct Notice {
    kind: String,
    /// The node whose members were told already (`""`: none).
    #[serde(default)]
    skip: String,
    #[serde(default)]
    room: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    typing: bool,
    /// For `taken_over`: the node and session that lost it.
    #[serde(default)]
    node: String,
    #[serde(default)]
    session: String,
}

/// Tells the other nodes that `nickname` started or stopped typing.
pub async fn publish_typing(
    node: &str,
    room: &str,
    nickname: &str,
    typing: bool,
    connection: &mut MultiplexedConnection,
) -> RedisResult<()> {
    let notice = json!({
        "kind": "typing",
        "skip": node,
        "room": room,
        "nickname": nickname,
        "typing": typing,
    });
    redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(notice.to_string())
        .query_async(connection)
        .await
}

/// Listens for notices until `stop`, subscribing again after any loss.
pub async fn listen(shared: Shared, client: Client, stop: CancellationToken) {
    let name = super::client_name(&shared.inner.settings, "pubsub");
    while !stop.is_cancelled() {
        let (pushed, mut pushes) = mpsc::unbounded_channel();
        match subscribe(&client, &name, pushed).await {
            Ok(_connection) => {
                // `_connection` stays alive while notices come in.
                loop {
                    let push = tokio::select! {
                        push = pushes.recv() => push,
                        () = stop.cancelled() => return,
                    };
                    match push {
                        Some(push) if push.kind == PushKind::Disconnection => break,
                        Some(push) => on_push(&shared, push),
                        None => break,
                    }
                }
                debug!("lost the notices' subscription; subscribing again");
            }
            Err(why) => debug!("cannot subscribe to notices yet ({why})"),
        }
        tokio::select! {
            () = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// A RESP3 connection, named, subscribed to [`CHANNEL`], whose pushes go
/// to `pushed`.
async fn subscribe(
    client: &Client,
    name: &str,
    pushed: mpsc::UnboundedSender<PushInfo>,
) -> Result<MultiplexedConnection, String> {
    let info = client.get_connection_info().clone();
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = Client::open(info.set_redis_settings(resp3)).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(super::link::CONNECT_TIMEOUT))
        .set_response_timeout(Some(super::link::RESPONSE_TIMEOUT))
        .set_push_sender(pushed);
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .query_async::<()>(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    connection
        .subscribe(CHANNEL)
        .await
        .map_err(|e| e.to_string())?;
    Ok(connection)
}

/// One pushed message: a notice for this node's members, or a session of
/// theirs taken over elsewhere.
fn on_push(shared: &Shared, push: PushInfo) {
    if push.kind != PushKind::Message {
        return;
    }
    // A message push is [channel, payload].
    let Some(payload) = push
        .data
        .get(1)
        .and_then(|value| redis::from_redis_value_ref::<String>(value).ok())
    else {
        return;
    };
    let Ok(notice) = serde_json::from_str::<Notice>(&payload) else {
        debug!("ignoring a notice this server did not write: {payload:?}");
        return;
    };
    let me = shared.node();
    if notice.kind == "taken_over" {
        if notice.node == me {
            taken_over(shared, &notice.session);
        }
        return;
    }
    if notice.skip == me {
        return;
    }
    let rooms = &shared.inner.rooms;
    let (nickname, room) = (notice.nickname, notice.room.clone());
    let (event, must_arrive) = match notice.kind.as_str() {
        "joined" => (ServerEvent::Joined { nickname, room }, true),
        "left" => (ServerEvent::Left { nickname, room }, true),
        "typing" => {
            let typing = notice.typing;
            (ServerEvent::Typing { nickname, typing }, false)
        }
        _ => return,
    };
    rooms.notice_from_elsewhere(&notice.room, event.to_json().into(), must_arrive);
}

/// A connection on another node took back the session `secret`: the one
/// here leaves its room without a second `left` (the other node's script
/// told the room) and closes with 4001.
fn taken_over(shared: &Shared, secret: &str) {
    let sessions = &shared.inner.sessions;
    // Out of the room first, then told: its membership, dropped as it
    // closes, must find it gone already.
    if let Some(seat) = sessions.seat_of(secret) {
        shared.inner.rooms.leave_quietly(seat);
        sessions.taken_over_elsewhere(secret);
    }
}
