//! "This node is alive", said to Redis three times per `NODE_LIVENESS_MS`,
//! and the sweep that takes the users of a node that stopped saying it out
//! of every list.
//!
//! A node that dies (a crash, `kill -9`, a pulled cable) cannot say that
//! its users left. So every node refreshes a key that expires on its own
//! (`chat:node:<id>`), and every node, on the same beat, runs the sweep
//! script: the users of any node whose key has expired leave their rooms,
//! with one `left` each, and their nicknames are free again. Within about
//! `NODE_LIVENESS_MS` and a third, a dead node's users are gone from every
//! online list — and no entry stays forever.
//!
//! A node that stops cleanly does not wait for that: it removes its key and
//! sweeps itself as it shuts down.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    Shared,
    link::{Health, LinkError},
    recovery_ms, scripts,
};

/// Says "alive" and sweeps, every third of the liveness period, until
/// `stop`; then takes this node out.
pub async fn keep_alive(shared: Shared, stop: CancellationToken) {
    let period = shared.inner.settings.node_liveness;
    let beat = (period / 3).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(beat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut health = shared.health();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => break,
        }
        match beat_once(&shared).await {
            Ok(()) => {}
            Err(LinkError::Refused(why)) => warn!("Redis refused this node's liveness ({why})"),
            Err(LinkError::Unavailable(_)) => {
                // Beat again the moment Redis is back, not a beat later: a
                // node whose key is missing counts as dead to the others.
                tokio::select! {
                    changed = health.wait_for(|h| *h == Health::Up) => if changed.is_err() { break },
                    () = stop.cancelled() => break,
                }
                ticks.reset_immediately();
            }
        }
    }
    leave_cleanly(&shared).await;
}

/// One beat: "alive" for another period, then the sweep (once this node
/// has been connected for a whole period).
async fn beat_once(shared: &Shared) -> Result<(), LinkError> {
    let mut connection = shared.connection()?;
    let was_alive: i64 = scripts::ALIVE
        .arg(shared.node())
        .arg(super::liveness_ms(&shared.inner.settings))
        .invoke_async(&mut connection)
        .await
        .map_err(|error| shared.inner.link.failed(&error))?;
    if was_alive == 0 {
        // New, or Redis went without this node for longer than the
        // liveness period (an outage, a Redis restart): the others may have
        // swept its users, who are still connected here.
        claim_everyone_again(shared, &mut connection).await?;
    }
    // Just back from an outage, the other nodes may be back a moment later
    // than this one, their keys expired meanwhile: give them one period to
    // say they are alive before taking their users out (a sweep now would
    // make every list flicker, and a `joined` missed then leaves it wrong).
    if shared.inner.link.up_for() < shared.inner.settings.node_liveness {
        return Ok(());
    }
    let swept: i64 = scripts::SWEEP
        .arg(recovery_ms(&shared.inner.delivery))
        .invoke_async(&mut connection)
        .await
        .map_err(|error| shared.inner.link.failed(&error))?;
    if swept > 0 {
        info!("{swept} users of nodes that stopped answering left their rooms");
    }
    Ok(())
}

/// Puts every user of this node back into Redis's lists, unless someone on
/// a live node has taken their nickname meanwhile (then they keep it here
/// until they join again, and the log says so).
async fn claim_everyone_again(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
) -> Result<(), LinkError> {
    let mut lost = 0;
    for (nickname, seat, room) in shared.inner.rooms.everyone() {
        let session = shared.inner.sessions.secret_of(seat).unwrap_or_default();
        let claimed: i64 = scripts::RECLAIM
            .arg(shared.node())
            .arg(seat)
            .arg(nickname.as_str())
            .arg(nickname.key())
            .arg(room.as_str())
            .arg(session)
            .invoke_async(connection)
            .await
            .map_err(|error| shared.inner.link.failed(&error))?;
        if claimed == 0 {
            lost += 1;
        }
    }
    if lost > 0 {
        warn!("{lost} users of this node lost their nicknames to others while Redis was away");
    }
    Ok(())
}

/// Shutting down: this node's key goes, and the sweep takes its users out
/// now rather than when the key would have expired.
async fn leave_cleanly(shared: &Shared) {
    let Ok(mut connection) = shared.connection() else {
        return;
    };
    let removed = redis::cmd("DEL")
        .arg(format!("chat:node:{}", shared.node()))
        .query_async::<()>(&mut connection)
        .await;
    let swept = scripts::SWEEP
        .arg(recovery_ms(&shared.inner.delivery))
        .invoke_async::<i64>(&mut connection)
        .await;
    if let Err(error) = removed.and(swept) {
        warn!(
            "could not take this node out of Redis as it stopped ({error}); its users leave when its liveness expires"
        );
    }
}
