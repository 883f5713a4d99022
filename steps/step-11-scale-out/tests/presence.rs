//! Step 09 checkpoint: who's online is one consistent story. A client that
//! starts from its join answer's `users` and applies every later `joined`
//! and `left` always has exactly the room's true membership — even when
//! fifty clients join and leave at the same moment as it joins.
//!
//! Run with `cargo test -p step-11-scale-out --test presence`.

mod common;

use std::collections::BTreeSet;

use common::{join, spawn_app_with, wait_for_live_connections};
use futures::future::join_all;
use serde_json::Value;
use step_11_scale_out::AppState;
use testkit::{Client, DEADLINE, connect, next_event};
use tokio::time::{Instant, timeout};

/// A client's picture of the room: its join answer's users, then every
/// notice applied in order.
struct Picture {
    members: BTreeSet<String>,
}

impl Picture {
    fn from_answer(answer: &Value) -> Picture {
        let users = answer["users"].as_array().expect("users is a list");
        Picture {
            members: users
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Applies a `joined` or `left` notice (other frames change nothing).
    fn apply(&mut self, event: &Value) {
        let nickname = event["data"]["nickname"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match event["event"].as_str() {
            Some("joined") => assert!(self.members.insert(nickname), "joined twice: {event}"),
            Some("left") => assert!(self.members.remove(&nickname), "left unseen: {event}"),
            _ => {}
        }
    }
}

/// One churning client: joins, then leaves by disconnecting.
async fn come_and_go(addr: std::net::SocketAddr, index: usize) {
    let (mut client, _) = connect(addr).await;
    join(&mut client, &format!("churn-{index}"), "general").await;
}

/// Applies notices to `picture` until it equals `truth`, or fails after the
/// deadline with both.
async fn catch_up(client: &mut Client, picture: &mut Picture, truth: &BTreeSet<String>) {
    let deadline = Instant::now() + DEADLINE;
    while picture.members != *truth {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) = timeout(left, next_event(client)).await else {
            panic!("picture {:?} never became {truth:?}", picture.members);
        };
        picture.apply(&event);
    }
}

/// Ten observers join while fifty others join and leave at once; when the
/// churn is over, every observer's picture is exactly the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_answer_and_the_notices_after_it_tell_one_story() {
    // Arrange
    let state = AppState::default();
    let addr = spawn_app_with(state.clone()).await;
    let mut observers = Vec::new();
    for _ in 0..10 {
        observers.push(connect(addr).await.0);
    }

    // Act: the observers join in the middle of the churn.
    let churn = join_all((0..50).map(|index| come_and_go(addr, index)));
    let watchers = join_all(
        observers
            .iter_mut()
            .enumerate()
            .map(|(index, client)| async move {
                let answer = join(client, &format!("observer-{index}"), "general").await;
                Picture::from_answer(&answer)
            }),
    );
    let (_, mut pictures) = tokio::join!(churn, watchers);

    // Assert: once the churn is over, only the observers are left.
    let truth: BTreeSet<String> = (0..10).map(|index| format!("observer-{index}")).collect();
    // A connection leaves its room before it stops counting as live.
    wait_for_live_connections(&state, 10).await;
    let members: BTreeSet<String> = state.rooms.members("general").into_iter().collect();
    assert_eq!(members, truth);
    for (client, picture) in observers.iter_mut().zip(pictures.iter_mut()) {
        catch_up(client, picture, &truth).await;
    }
}
